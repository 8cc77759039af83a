/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM lifecycle. PID 1's signals, the start's steps and the callers only record facts
 * about a VM and queue one deferred re-evaluation of it (vm_queue_update()); vm_update()
 * derives the state from the facts, acts on the transition (registration, teardown,
 * restart), answers the callers waiting for it and emits PropertiesChanged once.
 *
 * A start (VmStartOp) runs in steps, none of which waits: the units of the VM's last
 * run must be gone (check_units_gone: PID 1, asked asynchronously), what involves the
 * owner's files is prepared in a worker thread (prepare_host), then the network is set up
 * and the share units and the hypervisor's unit are sent to PID 1 in one go
 * (create_units). From PID 1's acceptance on, the unit's signals and the hypervisor's
 * control socket (inotify) drive the state. */
#include "config.h"
#include "credentials.h"
#include "guest-channel.h"
#include "hypervisor.h"
#include "log.h"
#include "machined.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-net.h"
#include "systemd-client.h"
#include "user-limits.h"
#include "vm-host.h"
#include "vm-ready.h"
#include "vm-runtime.h"
#include "vm-units.h"
#include "vm.h"
#include "volume.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <signal.h>
#include <string.h>

/* How long the units of a VM's last run may take to go before a start gives up, and how
 * often PID 1 is asked meanwhile. */
#define UNITS_GONE_TIMEOUT_USEC (10 * G_USEC_PER_SEC)
#define UNITS_GONE_RETRY_USEC (50 * 1000)

/* What a start prepares on the host before its units: the runtime directory, the VM's
 * own kernel and initramfs read as its owner, the credentials directory checked as its
 * owner, the volume. In a worker thread: paths the owner controls may lie on a file
 * system the owner mounted, whose answers may take any time. */
struct HostPrepare {
        VmStartOp *op;               /* NULL once the start went away */
        char *name, *owner_name, *kernel, *initramfs, *credentials_directory;
        uid_t owner_uid, vmm_uid;
        gid_t owner_gid;
        uint64_t volume_gib;
        Virtiofsd virtiofsd;         /* a copy: the main thread may probe again meanwhile */
        /* The results. */
        char *own_kernel, *own_initramfs, *volume;
        sd_bus_error error;
};
typedef struct HostPrepare HostPrepare;

/* A start until PID 1 accepted the hypervisor's unit. */
struct VmStartOp {
        Vm *vm;
        VmState previous_state;      /* what a start that fails before any unit exists leaves */
        char *previous_reason;
        char **units;                /* every unit name of the VM */
        char **share_services;       /* this run's virtiofsd units, started after the hypervisor's */
        uint64_t deadline;           /* CLOCK_MONOTONIC: for the last run's units to go */
        sd_bus_slot *check_slot;
        sd_event_source *retry;
        GPtrArray *create_slots;     /* sd_bus_slot* of the StartTransientUnit calls */
        unsigned pending;            /* their answers still to come */
        bool hypervisor_accepted;
        bool host_touched;           /* runtime directory, tap, guest channel may exist */
        HostPrepare *prepare;        /* in a worker thread */
        HostPrepare *prepared;       /* its results, once back */
        NetworkJob *network_job;     /* the tap and rules, in the network worker */
        bool waits_for_guest;        /* the build of the guest it boots still runs */
        sd_bus_error error;          /* the first refusal */
};

static void host_prepare_free(void *p);

static void slot_unref(gpointer slot) {
        sd_bus_slot_unref(slot);
}

static void start_op_free(VmStartOp *op) {
        if (!op)
                return;
        if (op->waits_for_guest)
                guest_build_forget(&op->vm->manager->guest_build, op);
        if (op->prepare)
                op->prepare->op = NULL; /* the worker's answer finds nobody */
        network_job_cancel(op->network_job);
        host_prepare_free(op->prepared);
        sd_bus_slot_unref(op->check_slot);
        sd_event_source_disable_unref(op->retry);
        if (op->create_slots)
                g_ptr_array_unref(op->create_slots);
        g_strfreev(op->units);
        g_strfreev(op->share_services);
        g_free(op->previous_reason);
        sd_bus_error_free(&op->error);
        g_free(op);
}

void vm_start_op_cancel(VmStartOp *op) {
        start_op_free(op);
}

void vm_emit_changed(Vm *vm) {
        Manager *m = vm->manager;

        if (!m->bus)
                return;
        (void) sd_bus_emit_properties_changed(m->bus, vm->object_path, MVM_VM_INTERFACE, "State", "MainPID",
                                              "StartedAt", "Hypervisor", "FailureReason", "Autostart", "ShareServer", NULL);
}

static void reply_all(GPtrArray *waiters, const sd_bus_error *error) {
        for (guint i = 0; i < waiters->len; i++) {
                sd_bus_message *call = waiters->pdata[i];
                if (error)
                        (void) sd_bus_reply_method_error(call, error);
                else
                        (void) sd_bus_reply_method_return(call, NULL);
        }
        g_ptr_array_set_size(waiters, 0);
}

static void vm_update(Vm *vm);

static int on_update(sd_event_source *s, void *userdata) {
        vm_update(userdata);
        return 0;
}

void vm_queue_update(Vm *vm) {
        if (vm->update_source) {
                (void) sd_event_source_set_enabled(vm->update_source, SD_EVENT_ONESHOT);
                return;
        }
        if (sd_event_add_defer(vm->manager->event, &vm->update_source, on_update, vm) < 0) {
                /* Out of memory: evaluate now rather than never. */
                vm_update(vm);
                return;
        }
        (void) sd_event_source_set_enabled(vm->update_source, SD_EVENT_ONESHOT);
}

static bool unit_state_is_down(const char *state) {
        return !state || strcmp(state, "inactive") == 0 || strcmp(state, "failed") == 0;
}

static bool unit_state_is_up(const char *state) {
        return state && (strcmp(state, "active") == 0 || strcmp(state, "reloading") == 0);
}

/* The VM's own choice or [Hypervisor] Default=; auto: cloud-hypervisor where it can run
 * at all (its binary and KVM), otherwise QEMU. */
const HypervisorBackend *vm_pick_backend(Vm *vm, sd_bus_error *error) {
        const MvmConfig *c = vm->manager->config;
        const char *choice = vm->def->hypervisor ?: c->default_hypervisor;
        const HypervisorBackend *b;

        if (strcmp(choice, MVM_HYPERVISOR_AUTO) == 0) {
                /* cloud-hypervisor is first choice where it can run at all. */
                if (access(c->cloud_hypervisor_path, X_OK) >= 0 && vm_host_kvm_available(c))
                        return &hypervisor_cloud_hypervisor;
                choice = MVM_HYPERVISOR_QEMU;
        }
        b = hypervisor_from_name(choice);
        if (!b) {
                sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT, "Unknown hypervisor '%s'.", choice);
                return NULL;
        }
        return b;
}

static const char *backend_binary(Manager *m, const HypervisorBackend *b) {
        return b == &hypervisor_cloud_hypervisor ? m->config->cloud_hypervisor_path : m->config->qemu_path;
}

static char *describe_exit(Vm *vm) {
        const char *result = vm->unit_result;

        if (!result || strcmp(result, "success") == 0)
                return NULL;
        if (strcmp(result, "signal") == 0 || strcmp(result, "core-dump") == 0)
                return g_strdup_printf("the hypervisor was killed by signal %s%s",
                                       sigabbrev_np(vm->exit_status) ?: "?",
                                       strcmp(result, "core-dump") == 0 ? " (core dumped)" : "");
        if (strcmp(result, "exit-code") == 0)
                return g_strdup_printf("the hypervisor exited with status %d", vm->exit_status);
        return g_strdup_printf("the hypervisor unit failed (%s)", result);
}

/* Why a run that is over failed, or NULL when it just stopped. */
static char *describe_end(Vm *vm) {
        const char *job = vm->start_job_result;

        if (vm->start_error)
                return g_strdup(vm->start_error);
        if (vm->stop_requested)
                return NULL;
        if (vm->start_timed_out || (job && strcmp(job, "timeout") == 0))
                return g_strdup_printf("the hypervisor did not come up within %" PRIu64 " s; see "
                                       "'microvm-client logs %s'", vm->manager->config->start_timeout_sec,
                                       vm->def->name);
        if (job && strcmp(job, "done") != 0)
                return g_strdup_printf("the hypervisor unit %s did not start (job %s, result %s); see "
                                       "'microvm-client logs %s'", vm->unit, job, vm->unit_result ?: "unknown",
                                       vm->def->name);
        return describe_exit(vm);
}

/* The hypervisor is up once its control socket exists. microvmd watches for it itself
 * (inotify on the runtime directory, which only root and the VM's uid can enter, under
 * a root-owned parent: nobody can swap it) instead of a polling ExecStartPost=. */
static void control_watch_stop(Vm *vm) {
        vm->control_watch = sd_event_source_disable_unref(vm->control_watch);
        vm->start_timer = sd_event_source_disable_unref(vm->start_timer);
}

static bool control_socket_exists(Vm *vm) {
        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);
        _cleanup_close_ int dir = open(runtime_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;

        return vm->backend && dir >= 0 && fstatat(dir, vm->backend->control_socket, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
               S_ISSOCK(st.st_mode);
}

static void check_hypervisor_up(Vm *vm) {
        if (vm->hypervisor_up || !control_socket_exists(vm))
                return;
        vm->hypervisor_up = true;
        control_watch_stop(vm);
        vm_queue_update(vm);
}

static int on_control_dir_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        union {
                struct inotify_event ev;
                char buf[4096];
        } buffer;

        /* Drain; whatever was created, look for the socket itself. */
        while (read(fd, &buffer, sizeof(buffer)) > 0)
                ;
        check_hypervisor_up(userdata);
        return 0;
}

static int on_start_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;

        control_watch_stop(vm);
        if (vm->hypervisor_up)
                return 0;
        vm->start_timed_out = true;
        vm_queue_update(vm);
        return 0;
}

static int control_watch_start(Vm *vm, const char *runtime_dir) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (inotify_add_watch(fd, runtime_dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW) < 0)
                return -errno;
        r = sd_event_add_io(vm->manager->event, &vm->control_watch, fd, EPOLLIN, on_control_dir_event, vm);
        if (r < 0)
                return r;
        (void) sd_event_source_set_io_fd_own(vm->control_watch, true);
        fd = -1;
        return sd_event_add_time_relative(vm->manager->event, &vm->start_timer, CLOCK_MONOTONIC,
                                          vm->manager->config->start_timeout_sec * G_USEC_PER_SEC, 0,
                                          on_start_timeout, vm);
}

/* The hypervisor's unit is down: clean up, settle the state, answer the callers, and
 * start again if that was asked. */
static void vm_finish(Vm *vm) {
        Manager *m = vm->manager;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *reason = describe_end(vm);
        VmState state = reason ? VM_STATE_FAILED : VM_STATE_STOPPED;
        bool restart = vm->restart_requested && state == VM_STATE_STOPPED;
        bool timed_out = vm->start_timed_out || g_strcmp0(vm->start_job_result, "timeout") == 0;
        bool was_stopped = vm->stop_requested;

        vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
        vm->stop_call = sd_bus_slot_unref(vm->stop_call);
        control_watch_stop(vm);
        vm->hypervisor_up = false;
        vm->start_timed_out = false;
        vm->unit_stop_sent = false;
        vm->power_off_request = hypervisor_request_cancel(vm->power_off_request);
        vm->state_request = hypervisor_request_cancel(vm->state_request);
        vm->state = state; /* before the network goes: it asks which VMs still run */
        vm_ready_watch_stop(vm);
        vm_host_teardown(vm, restart);
        machined_unregister(m->bus, vm->def->name);
        vm->backend = NULL;
        vm->main_pid = 0;
        vm->started_at = 0;
        vm->stop_requested = false;
        vm->restart_requested = false;
        g_clear_pointer(&vm->start_job_result, g_free);
        g_clear_pointer(&vm->start_error, g_free);
        g_free(vm->failure_reason);
        vm->failure_reason = g_steal_pointer(&reason);
        if (state == VM_STATE_FAILED)
                log_warning("VM %s failed: %s", vm->def->name, vm->failure_reason);
        else
                log_info("VM %s stopped.", vm->def->name);

        reply_all(vm->stop_waiters, NULL);
        if (restart) {
                if (vm_start(vm, NULL, true, &error) < 0) {
                        vm_host_network_down(vm, false); /* kept for nothing */
                        reply_all(vm->start_waiters, &error);
                }
                return;
        }
        if (vm->start_waiters->len > 0) {
                sd_bus_error_setf(&error,
                                  timed_out ? MVM_ERROR_TIMEOUT :
                                  state == VM_STATE_FAILED ? MVM_ERROR_UNIT_FAILED : MVM_ERROR_FAILED,
                                  "VM '%s' %s: %s", vm->def->name,
                                  state == VM_STATE_FAILED ? "failed to start" : "was stopped while starting",
                                  vm->failure_reason ?: (was_stopped ? "stopped" : "its guest powered off"));
                reply_all(vm->start_waiters, &error);
        }
}

static void on_stop_call_reply(int r, const sd_bus_error *error, void *userdata) {
        Vm *vm = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        vm->stop_call = sd_bus_slot_unref(vm->stop_call);
        if (r >= 0)
                return;
        if (sd_bus_error_has_name(error, "org.freedesktop.systemd1.NoSuchUnit")) {
                /* Gone already. */
                g_free(vm->unit_state);
                vm->unit_state = g_strdup("inactive");
                vm_queue_update(vm);
                return;
        }
        log_error("Cannot stop %s: %s", vm->unit, error->message);
        sd_bus_error_setf(&e, MVM_ERROR_FAILED, "systemd refused to stop VM '%s': %s", vm->def->name, error->message);
        reply_all(vm->stop_waiters, &e);
}

/* Has PID 1 stop (or kill, signo > 0) the hypervisor's unit; the unit's signals tell
 * the rest. */
static void stop_unit(Vm *vm, int signo) {
        int r;

        vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
        vm->stop_call = sd_bus_slot_unref(vm->stop_call);
        vm->unit_stop_sent = true;
        if (signo > 0)
                r = systemd_kill_unit_async(vm->manager->systemd, vm->unit, signo, on_stop_call_reply, vm,
                                            &vm->stop_call);
        else
                r = systemd_stop_unit_async(vm->manager->systemd, vm->unit, on_stop_call_reply, vm, &vm->stop_call);
        if (r < 0)
                log_error("Cannot ask PID 1 to stop %s: %s", vm->unit, strerror(-r));
}

static void start_op_failf(VmStartOp *op, const char *name, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void vm_update(Vm *vm) {
        VmState old = vm->state, state;

        if (vm->start_op && vm->start_op->waits_for_guest && vm->stop_requested) {
                /* Nothing exists yet, and the build may take minutes: the stop need not wait. */
                start_op_failf(vm->start_op, MVM_ERROR_FAILED, "VM '%s' was stopped while starting.", vm->def->name);
                return;
        }
        if (vm->start_op || old == VM_STATE_STOPPED || old == VM_STATE_FAILED)
                return; /* nothing of ours runs, or the start's steps settle it */

        if (vm->start_job_pending)
                state = vm->stop_requested ? VM_STATE_STOPPING : VM_STATE_STARTING;
        else if (unit_state_is_down(vm->unit_state) &&
                 (vm->unit_state || g_strcmp0(vm->start_job_result, "done") != 0)) {
                vm_finish(vm);
                vm_emit_changed(vm);
                return;
        } else if (vm->stop_requested || g_strcmp0(vm->unit_state, "deactivating") == 0)
                state = VM_STATE_STOPPING;
        else if (vm->start_timed_out || (vm->start_job_result && strcmp(vm->start_job_result, "done") != 0)) {
                /* The start failed, but the hypervisor may still run: it must be down
                 * before its runtime directory and tap go. */
                if (!vm->stop_call)
                        stop_unit(vm, 0);
                state = VM_STATE_STARTING;
        } else if ((unit_state_is_up(vm->unit_state) || g_strcmp0(vm->start_job_result, "done") == 0) &&
                   vm->hypervisor_up)
                state = VM_STATE_RUNNING;
        else
                state = VM_STATE_STARTING; /* its control socket is not there yet */

        vm->state = state;
        if (state == VM_STATE_RUNNING && old != VM_STATE_RUNNING) {
                if (vm->started_at == 0)
                        vm->started_at = (uint64_t) g_get_real_time();
                log_info("VM %s is running (%s, PID %u).", vm->def->name, vm->backend ? vm->backend->name : "?",
                         vm->main_pid);
                /* machinectl lists the VMs that run (vm_finish() takes them off). */
                machined_register(vm->manager->bus, vm->def->name, vm->main_pid, vm->tap);
                vm_ready_watch_start(vm);
                reply_all(vm->start_waiters, NULL);
        } else if (state != VM_STATE_RUNNING)
                vm_ready_watch_stop(vm);
        if (state != old || vm->properties_changed)
                vm_emit_changed(vm);
        vm->properties_changed = false;
}

void vm_runtime_on_unit_changed(const char *unit, const UnitStatus *changes, void *userdata) {
        Manager *m = userdata;
        Vm *vm = g_hash_table_lookup(m->units, unit);

        if (!vm)
                return; /* not a VM's hypervisor (a share's unit, or no VM of ours) */
        if (changes->result) {
                g_free(vm->unit_result);
                vm->unit_result = g_strdup(changes->result);
        }
        if (changes->has_exec_main) {
                vm->exit_code = changes->exec_main_code;
                vm->exit_status = changes->exec_main_status;
        }
        if (changes->has_main_pid && changes->main_pid != 0 && changes->main_pid != vm->main_pid) {
                vm->main_pid = changes->main_pid;
                vm->properties_changed = true;
        }
        if (changes->removed) {
                g_free(vm->unit_state);
                vm->unit_state = g_strdup("inactive");
        } else if (changes->active_state) {
                g_free(vm->unit_state);
                vm->unit_state = g_strdup(changes->active_state);
        }
        vm_queue_update(vm);
}

static void on_start_job(const char *unit, const char *result, void *userdata) {
        Vm *vm = userdata;

        vm->start_job_pending = false;
        g_free(vm->start_job_result);
        vm->start_job_result = g_strdup(result);
        /* PID 1 sends the unit's pending changes before a job's end: unit_state is current. */
        check_hypervisor_up(vm);
        vm_queue_update(vm);
}

/* A start that failed before PID 1 accepted the hypervisor's unit: nothing ran, so the
 * VM is as it was (stopped, unless a stop came meanwhile) and the callers get error. */
static void start_op_fail(VmStartOp *op, const sd_bus_error *error) {
        Vm *vm = op->vm;
        _cleanup_(sd_bus_error_free) sd_bus_error wrapped = SD_BUS_ERROR_NULL;

        vm->start_op = NULL;
        if (!g_str_has_prefix(error->name, "org.microvm.Error.")) {
                /* PID 1 refused a unit: say which VM, keep its reason. */
                sd_bus_error_setf(&wrapped, MVM_ERROR_UNIT_FAILED, "systemd refused to start VM '%s': %s",
                                  vm->def->name, error->message);
                error = &wrapped;
        }
        log_warning("VM %s: the start failed: %s", vm->def->name, error->message);
        vm->state = vm->stop_requested ? VM_STATE_STOPPED : op->previous_state;
        g_free(vm->failure_reason);
        vm->failure_reason = vm->stop_requested ? NULL : g_steal_pointer(&op->previous_reason);
        control_watch_stop(vm);
        if (op->host_touched)
                vm_host_teardown(vm, false);
        vm->backend = NULL;
        vm->stop_requested = false;
        vm->restart_requested = false;
        reply_all(vm->start_waiters, error);
        reply_all(vm->launch_waiters, error);
        reply_all(vm->stop_waiters, NULL);
        vm_emit_changed(vm);
        start_op_free(op);
}

static void start_op_failf(VmStartOp *op, const char *name, const char *format, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *message = NULL;
        va_list ap;

        va_start(ap, format);
        message = g_strdup_vprintf(format, ap);
        va_end(ap);
        sd_bus_error_set(&error, name, message);
        start_op_fail(op, &error);
}

static void on_unit_created(int r, const sd_bus_error *error, void *userdata) {
        VmStartOp *op = userdata;
        Vm *vm = op->vm;

        if (r < 0 && !sd_bus_error_is_set(&op->error))
                (void) sd_bus_error_copy(&op->error, error);
        if (--op->pending > 0)
                return;
        /* Every answer is in. */
        if (!op->hypervisor_accepted) {
                vm->start_job_pending = false;
                start_op_fail(op, &op->error);
                return;
        }
        vm->start_op = NULL;
        if (sd_bus_error_is_set(&op->error)) {
                /* A share was refused, the hypervisor's unit was not: it cannot work
                 * (it binds to the share's socket); it goes down and the VM fails. */
                vm->start_error = g_strdup_printf("systemd refused a unit of VM '%s': %s", vm->def->name,
                                                  op->error.message);
                stop_unit(vm, 0);
        } else if (vm->stop_requested)
                stop_unit(vm, 0); /* stopped while starting: nothing can hear a button yet */
        reply_all(vm->launch_waiters, NULL);
        start_op_free(op);
        vm_queue_update(vm);
}

/* virtiofsd now, not when the hypervisor first connects: QEMU waits for its handshake
 * while it starts, so it comes up that much sooner. Only once PID 1 has the hypervisor's
 * job: PID 1 runs queued jobs by unit name, not by arrival, and would otherwise fork both
 * virtiofsd ("microvm-NAME-fs_*") before the hypervisor ("microvm-NAME.service") and
 * only then begin setting up the hypervisor's sandbox. The services get their sockets
 * from PID 1 all the same. */
static void start_share_services(VmStartOp *op) {
        for (char **unit = op->share_services; unit && *unit; unit++)
                if (systemd_start_unit_async(op->vm->manager->systemd, *unit, NULL, NULL, NULL) < 0)
                        log_warning("VM %s: cannot start %s before the hypervisor connects.", op->vm->def->name,
                                    *unit);
}

static void on_hypervisor_unit_created(int r, const sd_bus_error *error, void *userdata) {
        VmStartOp *op = userdata;

        op->hypervisor_accepted = r >= 0;
        if (r >= 0 && !op->vm->stop_requested)
                start_share_services(op);
        on_unit_created(r, error, userdata);
}

/* Sends one StartTransientUnit: its answer goes to the op, the end of its start job
 * (only the hypervisor's is followed) to the VM: the job outlives the op. */
static int send_unit(VmStartOp *op, const TransientUnit *u, SystemdReplyCallback reply, JobCallback job_done) {
        sd_bus_slot *slot = NULL;
        int r;

        r = systemd_start_transient_unit_async(op->vm->manager->systemd, u, reply, op, job_done, op->vm, &slot);
        if (r < 0)
                return r;
        g_ptr_array_add(op->create_slots, slot);
        op->pending++;
        return 0;
}


static void host_prepare_free(void *p) {
        HostPrepare *h = p;

        if (!h)
                return;
        g_free(h->name);
        g_free(h->owner_name);
        g_free(h->kernel);
        g_free(h->initramfs);
        g_free(h->credentials_directory);
        virtiofsd_done(&h->virtiofsd);
        g_free(h->own_kernel);
        g_free(h->own_initramfs);
        g_free(h->volume);
        sd_bus_error_free(&h->error);
        g_free(h);
}

static int host_prepare(HostPrepare *h) {
        g_autofree char *runtime_dir = vm_runtime_dir(h->name);
        VmOwner owner = { .name = h->owner_name, .uid = h->owner_uid, .gid = h->owner_gid };
        int r;

        /* Again at every start: the owner may have replaced it since. */
        if (h->credentials_directory) {
                r = credentials_directory_check(&h->virtiofsd, h->credentials_directory, h->owner_uid,
                                                h->owner_gid, &h->error);
                if (r < 0)
                        return r;
        }
        r = vm_host_runtime_dir_create(h->name, h->vmm_uid, &h->error);
        if (r < 0)
                return r;
        /* A VM's own kernel and initramfs are read as its owner once the runtime directory
         * exists (no existence oracle for root's view of the file system). */
        r = vm_host_copy_boot_override(&owner, h->vmm_uid, runtime_dir, h->kernel, "kernel", "vmlinuz",
                                       &h->own_kernel, &h->error);
        if (r < 0)
                return r;
        r = vm_host_copy_boot_override(&owner, h->vmm_uid, runtime_dir, h->initramfs, "initramfs", "initrd.img",
                                       &h->own_initramfs, &h->error);
        if (r < 0)
                return r;
        if (h->volume_gib > 0) {
                h->volume = volume_path(h->name);
                r = volume_ensure(h->name, h->volume_gib, h->vmm_uid, h->vmm_uid);
                if (r < 0)
                        return sd_bus_error_setf(&h->error, MVM_ERROR_FAILED, "Cannot create the volume %s: %s",
                                                 h->volume, strerror(-r));
        }
        return 0;
}

static void host_prepare_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable) {
        HostPrepare *h = data;
        int r = host_prepare(h);

        if (r < 0 && !sd_bus_error_is_set(&h->error))
                sd_bus_error_setf(&h->error, MVM_ERROR_FAILED, "Cannot start VM '%s': %s", h->name, strerror(-r));
        g_task_return_int(task, r);
}

static void network_up(VmStartOp *op);

static void on_host_prepared(GObject *source, GAsyncResult *result, gpointer userdata) {
        HostPrepare *h = g_task_get_task_data(G_TASK(result));
        VmStartOp *op = h->op;

        if (!op)
                return; /* the VM went away (microvmd exits) */
        op->prepare = NULL;
        if (g_task_propagate_int(G_TASK(result), NULL) < 0)
                start_op_fail(op, &h->error);
        else if (op->vm->stop_requested)
                start_op_failf(op, MVM_ERROR_FAILED, "VM '%s' was stopped while starting.", op->vm->def->name);
        else {
                /* The results move to the op (the task's copy is freed empty). */
                op->prepared = g_new(HostPrepare, 1);
                *op->prepared = *h;
                *h = (HostPrepare) { .error = SD_BUS_ERROR_NULL };
                network_up(op);
        }
}

static void prepare_host(VmStartOp *op) {
        Vm *vm = op->vm;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const Virtiofsd *virtiofsd;
        struct passwd *owner = getpwuid(vm->def->owner);
        g_autoptr(GTask) task = NULL;
        HostPrepare *h;

        if (!owner) {
                start_op_failf(op, MVM_ERROR_FAILED, "The owner of VM '%s' (uid %u) has no user database entry.",
                               vm->def->name, (unsigned) vm->def->owner);
                return;
        }
        if (manager_get_virtiofsd(vm->manager, &virtiofsd, &error) < 0) {
                start_op_fail(op, &error);
                return;
        }
        h = g_new0(HostPrepare, 1);
        *h = (HostPrepare) {
                .op = op,
                .name = g_strdup(vm->def->name),
                .owner_name = g_strdup(owner->pw_name),
                .owner_uid = owner->pw_uid,
                .owner_gid = owner->pw_gid,
                .kernel = g_strdup(vm->def->kernel),
                .initramfs = g_strdup(vm->def->initramfs),
                .credentials_directory = g_strdup(vm->def->credentials_directory),
                .volume_gib = vm->def->volume_gib,
                .virtiofsd = { .path = g_strdup(virtiofsd->path), .kind = virtiofsd->kind },
        };
        if (vm_hypervisor_uid(vm, &h->vmm_uid) < 0)
                g_assert_not_reached(); /* vm_start() checked it */
        op->host_touched = true;
        op->prepare = h;
        task = g_task_new(NULL, NULL, on_host_prepared, NULL);
        g_task_set_task_data(task, h, host_prepare_free);
        g_task_run_in_thread(task, host_prepare_in_thread);
}

static void create_units(VmStartOp *op);

static void on_network_up(int r, const sd_bus_error *error, void *userdata) {
        VmStartOp *op = userdata;

        op->network_job = NULL;
        if (r < 0) {
                /* The worker removed what it made: the teardown must not remove a tap of
                 * that name again (a later start may have made it meanwhile). */
                g_clear_pointer(&op->vm->tap, g_free);
                start_op_fail(op, error);
        } else if (op->vm->stop_requested)
                start_op_failf(op, MVM_ERROR_FAILED, "VM '%s' was stopped while starting.", op->vm->def->name);
        else
                create_units(op);
}

/* The host is prepared: the network, in the network worker. */
static void network_up(VmStartOp *op) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Vm *vm = op->vm;
        g_autofree char *tap = NULL;

        if (vm_host_network_up(vm, op->prepared->vmm_uid, on_network_up, op, &tap, &op->network_job, &error) < 0) {
                start_op_fail(op, &error);
                return;
        }
        /* From here on the teardown knows the tap (and asks the worker to remove it after
         * this job). */
        vm->tap = g_steal_pointer(&tap);
        vm->dropped_packets = 0; /* the counters come new with the rules */
        vm->dropped_read_at = 0;
}

/* The network is up: this run's units. */
static void create_units(VmStartOp *op) {
        Vm *vm = op->vm;
        Manager *m = vm->manager;
        const MvmConfig *c = m->config;
        const MvmVmDef *def = vm->def;
        HostPrepare *h = op->prepared;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *runtime_dir = vm_runtime_dir(def->name);
        g_autofree char *cmdline = NULL;
        const char *volume = h->volume;
        _cleanup_(share_set_clear) ShareSet shares = {};
        g_auto(GStrv) argv = NULL;
        const HypervisorBackend *backend = vm->backend;
        const Virtiofsd *virtiofsd;
        uid_t vmm_uid = h->vmm_uid;
        int r;

        r = manager_get_virtiofsd(m, &virtiofsd, &error);
        if (r < 0) {
                start_op_fail(op, &error);
                return;
        }
        g_free(vm->share_server);
        vm->share_server = virtiofsd_describe(virtiofsd, h->owner_name);

        vm_host_build_shares(m, vm, runtime_dir, &shares);
        cmdline = vm_host_kernel_cmdline(vm, &shares, volume);
        VmLaunch launch = {
                .name = def->name,
                .binary = backend_binary(m, backend),
                .vcpus = def->vcpus,
                .memory_mib = def->memory_mib,
                .kernel = h->own_kernel ?: c->kernel,
                .initramfs = h->own_initramfs ?: c->initramfs,
                .cmdline = cmdline,
                .runtime_dir = runtime_dir,
                .shares = shares.items,
                .n_shares = shares.n,
                .kvm = vm_host_kvm_available(c),
                .tap = vm->tap,
                .mac = def->mac_address,
                .volume = volume,
        };
        argv = backend->build_argv(&launch);
        if (!backend->needs_kvm && !launch.kvm)
                log_warning("No KVM: VM %s runs under %s with software emulation (TCG), slowly.", def->name,
                            backend->name);

        r = control_watch_start(vm, runtime_dir);
        if (r < 0) {
                sd_bus_error_setf(&error, MVM_ERROR_FAILED, "Cannot watch the runtime directory of VM '%s': %s",
                                  def->name, strerror(-r));
                start_op_fail(op, &error);
                return;
        }

        /* Before the hypervisor: QEMU connects at once. Without it the VM runs, but every
         * stop is systemd's (no guest can say it listens to the power button). */
        r = guest_channel_open(vm, runtime_dir, backend->guest_channel_socket, vmm_uid, false);
        if (r < 0)
                log_warning("VM %s: cannot listen on its guest channel: %s", def->name, strerror(-r));

        /* All in one go: PID 1 takes them in this order, the shares' sockets before the
         * hypervisor that binds to them. */
        op->create_slots = g_ptr_array_new_with_free_func(slot_unref);
        op->share_services = g_new0(char *, shares.n + 1);
        for (size_t i = 0; i < shares.n; i++) {
                g_autofree char *socket_unit = vm_share_unit_name(def->name, shares.items[i].tag, "socket");
                g_autofree char *service_unit = vm_share_unit_name(def->name, shares.items[i].tag, "service");
                ShareUnitData d = {
                        .def = def, .share = &shares.items[i], .hypervisor_unit = vm->unit, .vmm_uid = vmm_uid,
                        .virtiofsd = virtiofsd, .owner_name = h->owner_name,
                };
                TransientUnit u = { .name = socket_unit, .build = vm_unit_share_socket, .aux_name = service_unit,
                                    .aux_build = vm_unit_share_service, .data = &d };

                r = send_unit(op, &u, on_unit_created, NULL);
                if (r < 0)
                        break;
                op->share_services[i] = g_strdup(service_unit);
        }
        if (r >= 0) {
                HypervisorUnitData hd = {
                        .def = def, .backend = backend, .argv = argv, .runtime_dir = runtime_dir, .shares = &shares,
                        .volume = volume, .vmm_uid = vmm_uid,
                        .start_timeout_usec = c->start_timeout_sec * G_USEC_PER_SEC,
                };
                TransientUnit u = { .name = vm->unit, .build = vm_unit_hypervisor, .data = &hd };

                r = send_unit(op, &u, on_hypervisor_unit_created, on_start_job);
        }
        if (r < 0) {
                /* Nothing sent is answered: forget what was sent and stop it. */
                g_ptr_array_set_size(op->create_slots, 0);
                op->pending = 0;
                sd_bus_error_setf(&error, MVM_ERROR_FAILED, "Cannot ask PID 1 to start VM '%s': %s", def->name, strerror(-r));
                start_op_fail(op, &error);
                return;
        }
        vm->start_job_pending = true;
        log_info("Starting VM %s with %s (%s on %s).", def->name, backend->name, def->ip_address, vm->tap);
}

static void check_units_gone(VmStartOp *op);

static int on_units_gone_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        VmStartOp *op = userdata;

        op->retry = sd_event_source_disable_unref(op->retry);
        check_units_gone(op);
        return 0;
}

static void on_units_loaded(int r, GHashTable *loaded, void *userdata) {
        VmStartOp *op = userdata;
        Vm *vm = op->vm;
        GHashTableIter it;
        gpointer key, value;

        op->check_slot = sd_bus_slot_unref(op->check_slot);
        if (vm->stop_requested) {
                start_op_failf(op, MVM_ERROR_FAILED, "VM '%s' was stopped while starting.", vm->def->name);
                return;
        }
        if (r < 0) {
                start_op_failf(op, MVM_ERROR_FAILED, "Cannot ask PID 1 about the units of VM '%s': %s",
                               vm->def->name, strerror(-r));
                return;
        }
        if (g_hash_table_size(loaded) == 0) {
                prepare_host(op);
                return;
        }
        g_hash_table_iter_init(&it, loaded);
        while (g_hash_table_iter_next(&it, &key, &value))
                /* Still stopping is worth waiting for; running is not. */
                if (!unit_state_is_down(value) && strcmp(value, "deactivating") != 0) {
                        start_op_failf(op, MVM_ERROR_BUSY, "The unit %s of VM '%s' is still running; stop it first.",
                                       (char *) key, vm->def->name);
                        return;
                }
        if ((uint64_t) g_get_monotonic_time() >= op->deadline) {
                g_hash_table_iter_init(&it, loaded);
                g_hash_table_iter_next(&it, &key, NULL);
                start_op_failf(op, MVM_ERROR_BUSY, "The unit %s of VM '%s' is still shutting down; try again.",
                               (char *) key, vm->def->name);
                return;
        }
        r = sd_event_add_time_relative(vm->manager->event, &op->retry, CLOCK_MONOTONIC, UNITS_GONE_RETRY_USEC, 0,
                                       on_units_gone_retry, op);
        if (r < 0)
                start_op_failf(op, MVM_ERROR_FAILED, "Cannot wait for the units of VM '%s': %s", vm->def->name,
                               strerror(-r));
}

/* The units of the VM's last run must be gone before new ones of the same names are
 * created (a VM started right after it failed or stopped): PID 1 collects them soon. */
static void check_units_gone(VmStartOp *op) {
        int r;

        r = systemd_units_loaded_async(op->vm->manager->systemd, op->units, on_units_loaded, op, &op->check_slot);
        if (r < 0)
                start_op_failf(op, MVM_ERROR_FAILED, "Cannot ask PID 1 about the units of VM '%s': %s",
                               op->vm->def->name, strerror(-r));
}

/* Whether the VM boots the kernel or initramfs of microvm-guest.service. */
static bool boots_built_guest(const MvmConfig *c, const MvmVmDef *def) {
        return (!def->kernel && guest_build_owns(c->kernel)) || (!def->initramfs && guest_build_owns(c->initramfs));
}

static int check_guest_files(const MvmConfig *c, const MvmVmDef *def, sd_bus_error *error) {
        if (!def->kernel && !vm_host_file_exists(c->kernel))
                return sd_bus_error_setf(error, MVM_ERROR_KERNEL_NOT_FOUND,
                                         "The guest kernel %s does not exist (set [Guest] Kernel= in %s%s).", c->kernel,
                                         MICROVM_CONFIG_FILE,
                                         guest_build_owns(c->kernel) ? ", or see journalctl -u " GUEST_BUILD_UNIT : "");
        if (!def->initramfs && c->initramfs && !vm_host_file_exists(c->initramfs))
                return sd_bus_error_setf(error, MVM_ERROR_KERNEL_NOT_FOUND,
                                         "The guest initramfs %s does not exist (set [Guest] Initramfs= in %s%s).",
                                         c->initramfs, MICROVM_CONFIG_FILE,
                                         guest_build_owns(c->initramfs) ? ", or see journalctl -u " GUEST_BUILD_UNIT : "");
        return 0;
}

/* microvm-guest.service is done (or has failed): the start goes on with what it left. */
static void on_guest_built(void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        VmStartOp *op = userdata;
        Vm *vm = op->vm;

        op->waits_for_guest = false;
        if (vm->stop_requested)
                start_op_failf(op, MVM_ERROR_FAILED, "VM '%s' was stopped while starting.", vm->def->name);
        else if (check_guest_files(vm->manager->config, vm->def, &error) < 0)
                start_op_fail(op, &error);
        else
                check_units_gone(op);
}

int vm_start(Vm *vm, sd_bus_message *call, bool wait, sd_bus_error *error) {
        Manager *m = vm->manager;
        const MvmConfig *c = m->config;
        const MvmVmDef *def = vm->def;
        const HypervisorBackend *backend;
        const Virtiofsd *virtiofsd;
        struct passwd *owner;
        bool waits_for_guest;
        VmStartOp *op;
        uid_t vmm_uid;
        int r;

        if (vm->state == VM_STATE_STARTING || vm->state == VM_STATE_RUNNING)
                return sd_bus_error_setf(error, MVM_ERROR_ALREADY_RUNNING, "VM '%s' is already %s.", def->name,
                                         vm_state_to_string(vm->state));
        if (vm->state == VM_STATE_STOPPING)
                return sd_bus_error_setf(error, MVM_ERROR_BUSY, "VM '%s' is stopping; try again when it has stopped.",
                                         def->name);

        /* What can be checked at once is, so a refused call changes nothing. */
        r = limits_check_start(m, vm, error);
        if (r < 0)
                return r;
        /* The address gives the VM its identity and its tap. */
        if (!def->mac_address || vm_hypervisor_uid(vm, &vmm_uid) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "VM '%s' has no address in the subnet %s (created before networking or "
                                         "before the subnet changed); delete it and create it again.",
                                         def->name, c->subnet);
        backend = vm_pick_backend(vm, error);
        if (!backend)
                return -EINVAL;
        if (access(backend_binary(m, backend), X_OK) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_HYPERVISOR_NOT_FOUND, "%s not found at %s.", backend->name,
                                         backend_binary(m, backend));
        if (access(SETPRIV, X_OK) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_HYPERVISOR_NOT_FOUND,
                                         SETPRIV " (util-linux) not found: it starts the hypervisor as the VM's uid.");
        r = manager_get_virtiofsd(m, &virtiofsd, error);
        if (r < 0)
                return r;
        owner = getpwuid(def->owner);
        if (!owner)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "The owner of VM '%s' (uid %u) has no user "
                                         "database entry.", def->name, (unsigned) def->owner);
        if (backend->needs_kvm && !vm_host_kvm_available(c))
                return sd_bus_error_setf(error, MVM_ERROR_NO_KVM, "%s needs KVM, %s; use the qemu hypervisor.",
                                         backend->name,
                                         strcmp(c->kvm, "no") == 0 ? "which [Hypervisor] KVM=no turns off" :
                                                                     "and this machine has no /dev/kvm");
        if (strcmp(c->kvm, "yes") == 0 && !vm_host_kvm_available(c))
                return sd_bus_error_setf(error, MVM_ERROR_NO_KVM,
                                         "[Hypervisor] KVM=yes, but this machine has no /dev/kvm.");
        /* The guest microvm-guest.service builds may not exist yet while it runs: then
         * the files are checked once it is done. */
        waits_for_guest = guest_build_pending(&m->guest_build) && boots_built_guest(c, def);
        if (!waits_for_guest) {
                r = check_guest_files(c, def, error);
                if (r < 0)
                        return r;
        }

        op = g_new0(VmStartOp, 1);
        op->vm = vm;
        op->previous_state = vm->state;
        op->previous_reason = g_steal_pointer(&vm->failure_reason);
        op->units = vm_host_unit_names(def->name);
        op->deadline = (uint64_t) g_get_monotonic_time() + UNITS_GONE_TIMEOUT_USEC;
        vm->start_op = op;
        vm->backend = backend;
        vm->stop_requested = false;
        vm->main_pid = 0;
        vm->started_at = 0;
        g_clear_pointer(&vm->unit_state, g_free);
        g_clear_pointer(&vm->unit_result, g_free);
        g_clear_pointer(&vm->start_job_result, g_free);
        g_clear_pointer(&vm->start_error, g_free);
        vm->hypervisor_up = false;
        vm->start_timed_out = false;
        vm->state = VM_STATE_STARTING;
        if (call)
                g_ptr_array_add(wait ? vm->start_waiters : vm->launch_waiters, sd_bus_message_ref(call));
        vm_emit_changed(vm);
        if (waits_for_guest) {
                log_info("VM %s: waiting for %s to build the guest.", def->name, GUEST_BUILD_UNIT);
                op->waits_for_guest = true;
                guest_build_wait(&m->guest_build, on_guest_built, op);
        } else
                check_units_gone(op);
        return 1;
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;

        log_warning("VM %s did not power off within %" PRIu64 " s; stopping its unit.", vm->def->name,
                    vm->manager->config->stop_timeout_sec);
        stop_unit(vm, 0);
        return 0;
}

static int on_hung_term_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;

        log_warning("VM %s: its hypervisor hangs and did not end within %u ms of SIGTERM; killing it.",
                    vm->def->name, (unsigned) (HYPERVISOR_HUNG_TERM_TIMEOUT_USEC / 1000));
        stop_unit(vm, SIGKILL);
        return 0;
}

static void on_power_off_done(int r, const char *message, void *userdata) {
        Vm *vm = userdata;

        vm->power_off_request = NULL; /* its handle is gone */
        if (r >= 0 || vm->state != VM_STATE_STOPPING)
                return;
        log_warning("VM %s: %s; stopping its unit.", vm->def->name, message);
        stop_unit(vm, 0);
        /* A hypervisor that does not answer its control socket handles SIGTERM in the
         * same hung loop, if ever: it gets a moment, not the unit's 30 s. */
        if (r == -ETIMEDOUT &&
            sd_event_add_time_relative(vm->manager->event, &vm->stop_timer, CLOCK_MONOTONIC,
                                       HYPERVISOR_HUNG_TERM_TIMEOUT_USEC, 0, on_hung_term_timeout, vm) < 0)
                log_warning("VM %s: cannot time its hung hypervisor's stop.", vm->def->name);
}

/* A guest found running that never said it listens to the power button. */
static void stop_unit_now(Vm *vm) {
        if (vm->state == VM_STATE_STOPPING)
                stop_unit(vm, 0);
}

/* The power button again: pressed just before the guest opened it, it was lost. */
static int press_power_button_again(Vm *vm) {
        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);

        if (vm->state != VM_STATE_STOPPING || !vm->backend || vm->power_off_request || vm->unit_stop_sent)
                return 0; /* not stopping, the last press is still under way, or given up for the unit's stop */
        return vm->backend->power_off(vm->manager->event, runtime_dir, on_power_off_done, vm,
                                      &vm->power_off_request);
}

int vm_stop(Vm *vm, sd_bus_message *call, bool force, sd_bus_error *error) {
        Manager *m = vm->manager;
        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);
        int r;

        if (vm->state == VM_STATE_STOPPED || vm->state == VM_STATE_FAILED)
                return sd_bus_error_setf(error, MVM_ERROR_NOT_RUNNING, "VM '%s' is not running.", vm->def->name);

        if (vm->start_op)
                ; /* its steps see stop_requested: no unit exists yet */
        else if (force)
                stop_unit(vm, SIGKILL);
        else if (!vm->stop_requested) {
                if (vm->state == VM_STATE_STARTING || !vm->backend)
                        stop_unit(vm, 0);
                else if (!guest_channel_armed(vm) && !guest_channel_facts_unknown(vm)) {
                        /* Nothing would hear the button: the guest is still booting (its
                         * root is ephemeral and it mounts a volume only once it listens). */
                        log_info("VM %s: its guest does not listen to the power button yet; stopping its unit.",
                                 vm->def->name);
                        stop_unit(vm, 0);
                } else {
                        r = vm->backend->power_off(m->event, runtime_dir, on_power_off_done, vm,
                                                   &vm->power_off_request);
                        if (r < 0) {
                                log_warning("VM %s: cannot press the power button (%s); stopping its unit.",
                                            vm->def->name, strerror(-r));
                                stop_unit(vm, 0);
                        } else {
                                r = sd_event_add_time_relative(m->event, &vm->stop_timer, CLOCK_MONOTONIC,
                                                               m->config->stop_timeout_sec * G_USEC_PER_SEC, 0,
                                                               on_stop_timeout, vm);
                                if (r >= 0 && guest_channel_press_until_heard(vm, press_power_button_again,
                                                                              stop_unit_now) < 0)
                                        log_warning("VM %s: cannot repeat the power button.", vm->def->name);
                        }
                }
        }

        vm->stop_requested = true;
        if (call)
                g_ptr_array_add(vm->stop_waiters, sd_bus_message_ref(call));
        vm_queue_update(vm);
        return 1;
}

int vm_restart(Vm *vm, sd_bus_message *call, sd_bus_error *error) {
        int r;

        if (vm->state == VM_STATE_STOPPED || vm->state == VM_STATE_FAILED)
                return vm_start(vm, call, true, error);
        r = vm_stop(vm, NULL, false, error);
        if (r < 0)
                return r;
        vm->restart_requested = true;
        if (call)
                g_ptr_array_add(vm->start_waiters, sd_bus_message_ref(call));
        return 1;
}
