/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-net.h"
#include "vm-ready.h"
#include "vm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define PROBE_INTERVAL_USEC (1 * G_USEC_PER_SEC)
/* How long one knock may wait for the banner: sshd under software emulation is slow. */
#define PROBE_PATIENCE_USEC (15 * G_USEC_PER_SEC)
#define SSH_PORT 22

static void probe_close(Vm *vm) {
        vm->ready_io = sd_event_source_disable_unref(vm->ready_io);
        vm->ready_fd = safe_close(vm->ready_fd);
}

static void set_ready(Vm *vm, bool ready) {
        if (vm->ready == ready)
                return;
        vm->ready = ready;
        if (vm->manager->bus)
                (void) sd_bus_emit_properties_changed(vm->manager->bus, vm->object_path, MVM_VM_INTERFACE, "Ready",
                                                      NULL);
}

static int on_probe_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Vm *vm = userdata;
        char banner[8] = "";
        ssize_t n;

        /* An SSH server speaks first: "SSH-2.0-...". */
        n = recv(fd, banner, sizeof(banner) - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN && !(revents & (EPOLLERR | EPOLLHUP)))
                return 0; /* connected, banner not there yet */
        probe_close(vm);
        if (n >= 4 && strncmp(banner, "SSH-", 4) == 0) {
                if (!vm->ready)
                        log_info("VM %s is ready: its SSH server answers.", vm->def->name);
                set_ready(vm, true);
                vm->ready_timer = sd_event_source_disable_unref(vm->ready_timer);
        }
        return 0;
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(SSH_PORT) };
        uint32_t a;
        int r;

        r = sd_event_source_set_time_relative(s, PROBE_INTERVAL_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0 || !vm->def->ip_address || mvm_ipv4_parse(vm->def->ip_address, &a) < 0)
                return 0;
        /* A knock still waiting for its answer: let it, up to its patience. */
        if (vm->ready_fd >= 0 && usec < vm->ready_probe_started + PROBE_PATIENCE_USEC)
                return 0;
        probe_close(vm);
        vm->ready_probe_started = usec;
        sa.sin_addr.s_addr = htonl(a);

        vm->ready_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (vm->ready_fd < 0)
                return 0;
        if (connect(vm->ready_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                probe_close(vm);
                return 0;
        }
        if (sd_event_add_io(vm->manager->event, &vm->ready_io, vm->ready_fd, EPOLLIN, on_probe_io, vm) < 0)
                probe_close(vm);
        return 0;
}

void vm_ready_watch_start(Vm *vm) {
        if (vm->ready_timer || !vm->def->ip_address)
                return;
        if (sd_event_add_time_relative(vm->manager->event, &vm->ready_timer, CLOCK_MONOTONIC, PROBE_INTERVAL_USEC, 0,
                                       on_probe_timer, vm) < 0)
                log_warning("VM %s: cannot watch for its SSH server.", vm->def->name);
}

void vm_ready_from_guest(Vm *vm) {
        if (vm->ready)
                return;
        vm->ready_timer = sd_event_source_disable_unref(vm->ready_timer);
        probe_close(vm);
        log_info("VM %s is ready: its guest says its SSH server listens.", vm->def->name);
        set_ready(vm, true);
}

void vm_ready_watch_stop(Vm *vm) {
        vm->ready_timer = sd_event_source_disable_unref(vm->ready_timer);
        probe_close(vm);
        set_ready(vm, false);
}
