/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-glib/json-glib.h>

typedef struct Manager Manager;

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

/* Called when an asynchronous power-off request failed (message says why); the VM is
 * then stopped through systemd instead. */
typedef void (*PowerOffFailed)(Manager *m, const char *vm_name, const char *message);

/* Called with the hypervisor's own word for the VM's state ("Running" from
 * cloud-hypervisor's vm.info, "running" from QEMU's query-status), or r < 0. */
typedef void (*HypervisorStateCallback)(Manager *m, const char *vm_name, int r, const char *state);

/* A hypervisor backend: build the command line, ask the guest to power off, ask the
 * hypervisor how the VM is. */
typedef struct HypervisorBackend {
        const char *name;             /* "cloud-hypervisor", "qemu": the Hypervisor property */
        bool needs_kvm;
        const char *control_socket;   /* file in the runtime dir; present = the hypervisor is up */
        const char *guest_channel_socket; /* in the runtime dir: microvmd listens, the hypervisor connects */
        char **(*build_argv)(const VmLaunch *launch);
        /* Presses the guest's power button. < 0 if the request could not be sent. */
        int (*power_off)(Manager *m, const char *vm_name, const char *runtime_dir, PowerOffFailed failed);
        /* < 0 if the question could not be asked; otherwise callback (maybe at once). */
        int (*query_state)(Manager *m, const char *vm_name, const char *runtime_dir, HypervisorStateCallback callback);
} HypervisorBackend;

extern const HypervisorBackend hypervisor_qemu;
extern const HypervisorBackend hypervisor_cloud_hypervisor;

const HypervisorBackend *hypervisor_from_name(const char *name);

/* Building an argv in a GPtrArray of owned strings. */
#include <glib.h>
void argv_add(GPtrArray *argv, const char *arg);
void argv_add_many(GPtrArray *argv, ...) G_GNUC_NULL_TERMINATED;
void argv_addf(GPtrArray *argv, const char *format, ...) G_GNUC_PRINTF(2, 3);
char **argv_end(GPtrArray *argv);

/* QEMU's QMP: one line of what QEMU sends (see hypervisor-qemu.c); for tests and fuzzing. */
int qmp_parse_reply(const char *line, JsonNode **ret);
