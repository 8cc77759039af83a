/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "network-worker.h"
#include "log.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef enum NetworkJobKind {
        NETWORK_JOB_VM_UP,
        NETWORK_JOB_VM_DOWN,
} NetworkJobKind;

/* Owned by the worker from its queueing until its answer is delivered; the fields below
 * the inputs are written by the worker thread only, read on the event loop only after
 * the job came back through the done queue (whose lock orders them). */
struct NetworkJob {
        NetworkJobKind kind;
        uid_t owner;
        char *tap, *ip, *mac;
        MvmEgress egress;
        FirewallVm *running;          /* their strings owned in running_strings */
        size_t n_running;
        GPtrArray *running_strings;
        bool release;
        /* The event loop's side: NULL once cancelled. */
        NetworkJobDone done;
        void *userdata;
        /* The result. */
        int r;
        sd_bus_error error;
};

struct NetworkWorker {
        Network *network;            /* the worker thread's while it runs */
        GThreadPool *pool;           /* one thread: the jobs in their order */
        GAsyncQueue *finished;       /* NetworkJob*, back from the thread */
        int wake_fd;                 /* eventfd: something is in finished */
        sd_event_source *wake_source;
};

static void job_free(NetworkJob *job) {
        if (!job)
                return;
        g_free(job->tap);
        g_free(job->ip);
        g_free(job->mac);
        g_free(job->running);
        if (job->running_strings)
                g_ptr_array_unref(job->running_strings);
        sd_bus_error_free(&job->error);
        g_free(job);
}

static void vm_up(Network *n, NetworkJob *job) {
        FirewallVm vm = { .tap = job->tap, .ip = job->ip, .mac = job->mac, .egress = job->egress };
        int r;

        r = network_ensure(n, &job->error);
        if (r < 0)
                goto fail;
        /* The tables were (re)built: the VMs that still run get their rules back. Until
         * then their taps are shut, never open. */
        for (size_t i = 0; r > 0 && i < job->n_running; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                if (network_vm_add(n, &job->running[i], &error) < 0)
                        log_error("Cannot restore the firewall rules of the VM on %s: %s", job->running[i].tap,
                                  error.message);
        }
        r = network_tap_add(n, job->tap, job->owner, &job->error);
        if (r < 0)
                goto fail;
        r = network_vm_add(n, &vm, &job->error);
        if (r < 0) {
                network_vm_remove(n, job->tap, job->ip);
                network_tap_remove(n, job->tap);
                goto fail;
        }
        /* A tap joining a bridge without a MAC of its own may have flushed the neighbour
         * entries of the VMs already running. */
        for (size_t i = 0; i < job->n_running; i++)
                if (network_vm_pin(n, job->running[i].ip, job->running[i].mac) < 0)
                        log_warning("Cannot pin the neighbour entry of the VM on %s.", job->running[i].tap);
        job->r = 0;
        return;
fail:
        job->r = r;
        if (!sd_bus_error_is_set(&job->error))
                sd_bus_error_setf(&job->error, MVM_ERROR_FAILED, "Cannot set up the network of %s: %s", job->tap,
                                  strerror(-r));
}

static void vm_down(Network *n, const char *tap, const char *ip, bool release) {
        if (tap) {
                if (ip)
                        network_vm_remove(n, tap, ip);
                network_tap_remove(n, tap);
        }
        if (release && n->up)
                network_release(n);
}

static void run_job(gpointer data, gpointer user_data) {
        NetworkJob *job = data;
        NetworkWorker *w = user_data;
        uint64_t one = 1;

        if (job->kind == NETWORK_JOB_VM_UP)
                vm_up(w->network, job);
        else
                vm_down(w->network, job->tap, job->ip, job->release);
        g_async_queue_push(w->finished, job);
        /* An eventfd counter cannot overflow with a job count. */
        (void) !write(w->wake_fd, &one, sizeof(one));
}

/* A VM's tap that nobody will take: made by a start that went away meanwhile. */
static bool job_left_a_tap(const NetworkJob *job) {
        return job->kind == NETWORK_JOB_VM_UP && job->r >= 0;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NetworkWorker *w = userdata;
        NetworkJob *job;
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        while ((job = g_async_queue_try_pop(w->finished))) {
                if (job->done)
                        job->done(job->r, job->r < 0 ? &job->error : NULL, job->userdata);
                else if (job_left_a_tap(job))
                        network_worker_vm_down(w, job->tap, job->ip, false);
                job_free(job);
        }
        return 0;
}

int network_worker_new(Network *network, sd_event *event, NetworkWorker **ret) {
        g_autoptr(GError) error = NULL;
        NetworkWorker *w = g_new0(NetworkWorker, 1);
        int r;

        w->network = network;
        w->finished = g_async_queue_new();
        w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->wake_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &w->wake_source, w->wake_fd, EPOLLIN, on_finished, w);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(w->wake_source, "network-worker");
        w->pool = g_thread_pool_new(run_job, w, 1, FALSE, &error);
        if (!w->pool) {
                log_error("Cannot start the network's thread: %s", error->message);
                r = -ENOMEM;
                goto fail;
        }
        *ret = w;
        return 0;
fail:
        network_worker_free(w);
        return r;
}

void network_worker_drain(NetworkWorker *w) {
        /* Every job queued runs to its end: a stop's teardown is not cut short. */
        if (w && w->pool)
                g_thread_pool_free(g_steal_pointer(&w->pool), FALSE, TRUE);
}

NetworkWorker *network_worker_free(NetworkWorker *w) {
        NetworkJob *job;

        if (!w)
                return NULL;
        network_worker_drain(w);
        /* Nobody takes these answers any more. */
        while ((job = g_async_queue_try_pop(w->finished))) {
                if (job_left_a_tap(job))
                        vm_down(w->network, job->tap, job->ip, false);
                job_free(job);
        }
        g_async_queue_unref(w->finished);
        w->wake_source = sd_event_source_disable_unref(w->wake_source);
        if (w->wake_fd >= 0)
                close(w->wake_fd);
        g_free(w);
        return NULL;
}

static void queue(NetworkWorker *w, NetworkJob *job) {
        if (!w->pool) {
                /* Drained: microvmd exits, nothing waits on the loop any more. */
                run_job(job, w);
                return;
        }
        /* Only fails for an exclusive pool whose thread cannot be made; this one is not. */
        (void) g_thread_pool_push(w->pool, job, NULL);
}

NetworkJob *network_worker_vm_up(NetworkWorker *w, uid_t owner, const FirewallVm *vm, const FirewallVm *running,
                                 size_t n_running, NetworkJobDone done, void *userdata) {
        NetworkJob *job = g_new0(NetworkJob, 1);

        *job = (NetworkJob) {
                .kind = NETWORK_JOB_VM_UP,
                .owner = owner,
                .tap = g_strdup(vm->tap),
                .ip = g_strdup(vm->ip),
                .mac = g_strdup(vm->mac),
                .egress = vm->egress,
                .running = g_new0(FirewallVm, n_running),
                .n_running = n_running,
                .running_strings = g_ptr_array_new_with_free_func(g_free),
                .done = done,
                .userdata = userdata,
                .error = SD_BUS_ERROR_NULL,
        };
        for (size_t i = 0; i < n_running; i++) {
                char *tap = g_strdup(running[i].tap), *ip = g_strdup(running[i].ip), *mac = g_strdup(running[i].mac);

                g_ptr_array_add(job->running_strings, tap);
                g_ptr_array_add(job->running_strings, ip);
                g_ptr_array_add(job->running_strings, mac);
                job->running[i] = (FirewallVm) { .tap = tap, .ip = ip, .mac = mac, .egress = running[i].egress };
        }
        queue(w, job);
        return job;
}

void network_worker_vm_down(NetworkWorker *w, const char *tap, const char *ip, bool release) {
        NetworkJob *job;

        if (!tap && !release)
                return; /* nothing to remove: no trip through the thread */
        job = g_new0(NetworkJob, 1);
        *job = (NetworkJob) {
                .kind = NETWORK_JOB_VM_DOWN,
                .tap = g_strdup(tap),
                .ip = g_strdup(ip),
                .release = release,
                .error = SD_BUS_ERROR_NULL,
        };
        queue(w, job);
}

void network_job_cancel(NetworkJob *job) {
        if (!job)
                return;
        job->done = NULL;
        job->userdata = NULL;
}
