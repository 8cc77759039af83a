/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-event.h>

/* One virtiofs share of a VM. */
typedef struct VmShare {
        const char *tag;
        char *source;       /* host directory */
        bool read_only;     /* enforced on the host, in virtiofsd's unit */
        char *socket;       /* vhost-user socket in the runtime dir */
} VmShare;

/* Everything a backend needs to build its command line. */
typedef struct VmLaunch {
        const char *name;
        const char *binary;
        uint32_t vcpus;
        uint64_t memory_mib;
        const char *kernel;
        const char *initramfs;
        const char *cmdline;
        const char *runtime_dir;   /* /run/microvm/NAME */
        const VmShare *shares;
        size_t n_shares;
        bool kvm;                  /* /dev/kvm is there */
        const char *tap;           /* persistent tap owned by the hypervisor's user, or NULL */
        const char *mac;
        const char *volume;        /* raw image of the persistent volume, or NULL */
} VmLaunch;

/* A question to a hypervisor under way: the backend's connection, with the caller's
 * callback. */
typedef struct HypervisorRequest HypervisorRequest;

/* Called exactly once per request, always from the event loop (never from within
 * power_off() or query_state()), unless the request was cancelled. r < 0 when it failed,
 * and detail then says why, as one line to log. On success detail is, for query_state,
 * the hypervisor's own word for the VM's state ("Running" from cloud-hypervisor's
 * vm.info, "running" from QEMU's query-status), and NULL for power_off. detail is valid
 * during the callback only. The request's handle is gone once the callback is called:
 * forget it first thing there. */
typedef void (*HypervisorCallback)(int r, const char *detail, void *userdata);

/* A press of the power button that the hypervisor has not taken within this is given up
 * (power_off() fails with -ETIMEDOUT) and the VM's unit is stopped instead: a live
 * hypervisor takes it in milliseconds, and a stop returns within 2 s in every state,
 * including with a hypervisor that hangs. */
#define HYPERVISOR_POWER_BUTTON_TIMEOUT_USEC (1 * G_USEC_PER_SEC)

/* After such a press, a hypervisor that has not ended this long after its unit's
 * SIGTERM is killed (SIGKILL) instead of getting the unit's TimeoutStopSec=: its main
 * loop, which would handle SIGTERM, is the one that hangs. This loses nothing a later
 * SIGKILL would not: a volume is a raw image that QEMU and cloud-hypervisor write
 * through to the kernel, with no cache of their own. */
#define HYPERVISOR_HUNG_TERM_TIMEOUT_USEC (500 * 1000)

/* A hypervisor backend: build the command line, ask the guest to power off, ask the
 * hypervisor how the VM is. The backends know no VM and no manager: only the event loop
 * to run on and the VM's runtime directory, where the control socket is. */
typedef struct HypervisorBackend {
        const char *name;             /* "cloud-hypervisor", "qemu": the Hypervisor property */
        bool needs_kvm;
        const char *control_socket;   /* file in the runtime dir; present = the hypervisor is up */
        const char *guest_channel_socket; /* in the runtime dir: microvmd listens, the hypervisor connects */
        char **(*build_argv)(const VmLaunch *launch);
        /* Both return 0 when the request is under way (*ret, if given, is its handle until
         * the callback runs), or a negative errno when nothing was started and the callback
         * will not be called. */
        /* Presses the guest's power button; r = 0 once the hypervisor took the press. */
        int (*power_off)(sd_event *event, const char *runtime_dir, HypervisorCallback callback, void *userdata,
                         HypervisorRequest **ret);
        /* Asks the hypervisor how the VM is. */
        int (*query_state)(sd_event *event, const char *runtime_dir, HypervisorCallback callback, void *userdata,
                           HypervisorRequest **ret);
} HypervisorBackend;

/* Aborts a request: its callback is not called. NULL is a no-op, and so is a call from
 * within its own callback. Returns NULL, for "req = hypervisor_request_cancel(req);". */
HypervisorRequest *hypervisor_request_cancel(HypervisorRequest *req);

/* For the backends: a request wraps the backend's own handle and its cancel function. */
HypervisorRequest *hypervisor_request_new(HypervisorCallback callback, void *userdata);
void hypervisor_request_attach(HypervisorRequest *req, void *backend, void (*cancel)(void *backend));
/* Calls the callback and frees the request (the backend's handle is its own to free). */
void hypervisor_request_complete(HypervisorRequest *req, int r, const char *detail);
/* Frees a request whose backend request never started. */
void hypervisor_request_free(HypervisorRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HypervisorRequest, hypervisor_request_free)

extern const HypervisorBackend hypervisor_qemu;
extern const HypervisorBackend hypervisor_cloud_hypervisor;

const HypervisorBackend *hypervisor_from_name(const char *name);

/* Building an argv in a GPtrArray of owned strings. */
void argv_add(GPtrArray *argv, const char *arg);
void argv_add_many(GPtrArray *argv, ...) G_GNUC_NULL_TERMINATED;
void argv_addf(GPtrArray *argv, const char *format, ...) G_GNUC_PRINTF(2, 3);
char **argv_end(GPtrArray *argv);
