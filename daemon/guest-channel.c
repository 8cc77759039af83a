/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest-channel.h"
#include "log.h"
#include "manager.h"
#include "mvm-guest-channel.h"
#include "mvm-macro.h"
#include "vm-ready.h"
#include "vm.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A guest writes a few short lines per boot; more than this per second is a flood, and
 * the socket is left unread for the rest of that second (the guest's writes then block). */
#define CHANNEL_BYTES_PER_SEC 4096
#define CHANNEL_WINDOW_USEC (1 * G_USEC_PER_SEC)
/* Junk is reported once, then at most once per interval, with a count. */
#define JUNK_LOG_INTERVAL_USEC (10 * G_USEC_PER_SEC)
#define PRESS_INTERVAL_USEC (G_USEC_PER_SEC / 2)
/* A guest found running says its facts again within a second or so of its hypervisor
 * reconnecting (QEMU retries every second). */
#define UNKNOWN_FACTS_GRACE_USEC (3 * G_USEC_PER_SEC)

typedef struct GuestChannel {
        Vm *vm;
        uid_t vmm_uid;
        int listen_fd;
        int fd;                       /* the hypervisor's connection, one at a time */
        sd_event_source *listen_io;
        sd_event_source *io;
        sd_event_source *throttle;    /* re-enables io after a flood */
        MvmGuestLineReader reader;
        uint64_t window_start;        /* CLOCK_MONOTONIC */
        size_t window_bytes;
        uint64_t junk;                /* lines ignored, this run */
        uint64_t junk_logged_at;
        uint64_t junk_at_last_log;
        bool armed;
        bool stopping;
        bool facts_unknown;           /* found running; nothing heard yet */
        sd_event_source *press_timer;
        uint64_t pressing_since;      /* CLOCK_MONOTONIC */
        int (*press)(Vm *vm);
        void (*give_up)(Vm *vm);
} GuestChannel;

static void connection_close(GuestChannel *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->throttle = sd_event_source_disable_unref(c->throttle);
        c->fd = safe_close(c->fd);
        /* A line cut off by a reconnection is not glued to the next one. */
        c->reader = (MvmGuestLineReader) {};
}

void guest_channel_close(Vm *vm) {
        GuestChannel *c = vm->guest_channel;

        if (!c)
                return;
        connection_close(c);
        c->listen_io = sd_event_source_disable_unref(c->listen_io);
        c->listen_fd = safe_close(c->listen_fd);
        c->press_timer = sd_event_source_disable_unref(c->press_timer);
        if (c->junk > c->junk_at_last_log)
                log_warning("VM %s: %" PRIu64 " malformed lines on the guest channel in all.", vm->def->name, c->junk);
        g_free(c);
        vm->guest_channel = NULL;
}

bool guest_channel_armed(const Vm *vm) {
        return vm->guest_channel && vm->guest_channel->armed;
}

bool guest_channel_facts_unknown(const Vm *vm) {
        return vm->guest_channel && vm->guest_channel->facts_unknown;
}

static void note_junk(GuestChannel *c) {
        uint64_t now = g_get_monotonic_time();

        c->junk++;
        if (c->junk_logged_at != 0 && now < c->junk_logged_at + JUNK_LOG_INTERVAL_USEC)
                return;
        log_warning("VM %s: ignoring malformed lines on the guest channel (%" PRIu64 " so far).", c->vm->def->name,
                    c->junk);
        c->junk_logged_at = now;
        c->junk_at_last_log = c->junk;
}

static void on_word(MvmGuestWord w, void *userdata) {
        GuestChannel *c = userdata;
        Vm *vm = c->vm;

        if (w != MVM_GUEST_WORD_JUNK)
                c->facts_unknown = false;
        switch (w) {
        case MVM_GUEST_WORD_ARMED:
                if (!c->armed)
                        log_info("VM %s: its guest listens to the power button.", vm->def->name);
                c->armed = true;
                break;
        case MVM_GUEST_WORD_READY:
                if (vm->state == VM_STATE_RUNNING)
                        vm_ready_from_guest(vm);
                break;
        case MVM_GUEST_WORD_STOPPING:
                if (!c->stopping)
                        log_info("VM %s: its guest is shutting down.", vm->def->name);
                c->stopping = true;
                c->press_timer = sd_event_source_disable_unref(c->press_timer);
                break;
        default:
                note_junk(c);
                break;
        }
}

static int on_throttle_end(sd_event_source *s, uint64_t usec, void *userdata) {
        GuestChannel *c = userdata;

        c->throttle = sd_event_source_disable_unref(c->throttle);
        if (c->io)
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_ON);
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        GuestChannel *c = userdata;
        uint64_t now = g_get_monotonic_time();
        char buf[512];
        ssize_t n;

        if (now >= c->window_start + CHANNEL_WINDOW_USEC) {
                c->window_start = now;
                c->window_bytes = 0;
        }
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                /* The hypervisor went, or reconnects (QEMU does, every second). */
                connection_close(c);
                return 0;
        }
        mvm_guest_line_reader_feed(&c->reader, buf, (size_t) n, on_word, c);
        c->window_bytes += (size_t) n;
        if (c->window_bytes >= CHANNEL_BYTES_PER_SEC && !c->throttle) {
                if (sd_event_add_time(c->vm->manager->event, &c->throttle, CLOCK_MONOTONIC,
                                      c->window_start + CHANNEL_WINDOW_USEC, 0, on_throttle_end, c) < 0) {
                        connection_close(c);
                        return 0;
                }
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        GuestChannel *c = userdata;
        _cleanup_close_ int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (conn < 0)
                return 0;
        /* Only the VM's own hypervisor (its directory lets in no one else but root). */
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || (cred.uid != c->vmm_uid && cred.uid != 0)) {
                log_warning("VM %s: refused a guest channel connection from uid %u.", c->vm->def->name,
                            (unsigned) cred.uid);
                return 0;
        }
        /* A new connection replaces the old one: the hypervisor reconnected. */
        connection_close(c);
        if (sd_event_add_io(c->vm->manager->event, &c->io, conn, EPOLLIN, on_io, c) < 0)
                return 0;
        c->fd = mvm_take_fd(&conn);
        return 0;
}

int guest_channel_open(Vm *vm, const char *runtime_dir, const char *socket_name, uid_t vmm_uid, bool reconnecting) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        GuestChannel *c;
        mode_t old_umask;
        int r;

        guest_channel_close(vm);
        if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", runtime_dir, socket_name) >=
            sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Left by an earlier microvmd: the hypervisor reconnects to the new one. bind()
         * never follows a symlink the hypervisor's user may have put there. */
        (void) unlink(sa.sun_path);
        /* The hypervisor's uid must be able to connect; the 0700 directory it owns keeps
         * everyone else out. */
        old_umask = umask(0);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old_umask);
        if (r < 0 || listen(fd, 4) < 0)
                return -errno;

        c = g_new0(GuestChannel, 1);
        c->vm = vm;
        c->vmm_uid = vmm_uid;
        c->facts_unknown = reconnecting;
        c->fd = -1;
        c->listen_fd = mvm_take_fd(&fd);
        vm->guest_channel = c;
        r = sd_event_add_io(vm->manager->event, &c->listen_io, c->listen_fd, EPOLLIN, on_accept, c);
        if (r < 0) {
                guest_channel_close(vm);
                return r;
        }
        return 0;
}

static int on_press_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        GuestChannel *c = userdata;

        if (c->stopping) {
                c->press_timer = sd_event_source_disable_unref(c->press_timer);
                return 0;
        }
        if (!c->armed && usec >= c->pressing_since + UNKNOWN_FACTS_GRACE_USEC) {
                c->press_timer = sd_event_source_disable_unref(c->press_timer);
                log_info("VM %s: its guest did not say it listens to the power button.", c->vm->def->name);
                c->give_up(c->vm);
                return 0;
        }
        (void) c->press(c->vm);
        if (sd_event_source_set_time_relative(s, PRESS_INTERVAL_USEC) < 0 ||
            sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                c->press_timer = sd_event_source_disable_unref(c->press_timer);
        return 0;
}

int guest_channel_press_until_heard(Vm *vm, int (*press)(Vm *vm), void (*give_up)(Vm *vm)) {
        GuestChannel *c = vm->guest_channel;

        if (!c || c->stopping || c->press_timer)
                return 0;
        c->press = press;
        c->give_up = give_up;
        c->pressing_since = g_get_monotonic_time();
        return sd_event_add_time_relative(vm->manager->event, &c->press_timer, CLOCK_MONOTONIC, PRESS_INTERVAL_USEC, 0,
                                          on_press_timer, c);
}
