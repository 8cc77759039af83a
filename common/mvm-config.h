/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdint.h>

/* microvmd's configuration: compiled-in defaults, overridden by the key file
 * (/etc/microvm/microvmd.conf, group [Manager]). */
typedef struct MvmConfig {
        /* [Manager] */
        char *workspace_base_dir;
        uint32_t default_vcpus;
        uint64_t default_memory_mib;
        uint32_t max_vcpus;
        uint64_t max_memory_mib;
        char *default_credentials_directory; /* "" (none), absolute, or "~/..." (the owner's home) */

        /* [Guest] */
        char *kernel;
        char *initramfs;
        char *kernel_cmdline;

        /* [Hypervisor] */
        char *default_hypervisor;      /* "auto", "cloud-hypervisor" or "qemu" */
        char *cloud_hypervisor_path;
        char *qemu_path;
        char *virtiofsd_path;          /* "auto": /usr/libexec/virtiofsd, then /usr/lib/qemu/virtiofsd */
        char *software_share;          /* "auto" or an absolute directory */
        uint64_t start_timeout_sec;    /* start until the hypervisor's control socket exists */
        uint64_t stop_timeout_sec;     /* power button to forced stop */
        char *kvm;                     /* "auto" (where /dev/kvm exists), "yes", "no" */

        /* [Network] */
        char *bridge;
        char *subnet;                  /* "A.B.C.D/N", validated */
        char *uplink;                  /* "auto": the interface of the default route */
        char **dns;                    /* NULL: "auto", the host's upstream resolvers */
        gboolean nat;
        gboolean allow_vm_to_vm;
        int egress;                    /* MvmEgress */
        char **allowed_networks;       /* "A.B.C.D/N", normalised; never NULL */
        char **allowed_host_ports;     /* "tcp:N" or "udp:N", normalised; never NULL */

        /* [Limits], per user (root has none); 0: no limit */
        uint64_t max_vms_per_user;
        uint64_t max_running_vcpus_per_user;
        uint64_t max_running_memory_mib_per_user;
        uint64_t max_volume_gib_per_user;
        uint64_t vms_memory_max_mib;   /* microvm.slice MemoryMax=, all VMs together; 0: none */
        uint64_t vms_cpu_weight;       /* microvm.slice CPUWeight= (1-10000) */
} MvmConfig;

/* What a VM may reach beyond the anti-spoofing that always applies. Ordered from the
 * strictest: a VM's own choice may only lower the config's. */
typedef enum MvmEgress {
        MVM_EGRESS_NONE,       /* nothing forwarded; on the host only AllowedHostPorts= */
        MVM_EGRESS_INTERNET,   /* global unicast destinations through NAT, nothing private */
        MVM_EGRESS_OPEN,       /* everything, the host included */
} MvmEgress;

const char *mvm_egress_to_string(MvmEgress e);
/* -1 for anything but "none", "internet" and "open". */
int mvm_egress_from_string(const char *s);
/* Whether a kernel command line leaves microvmd's own parameters alone: no word starting
 * with "microvm." and, with allow_quotes, balanced double quotes (without, none at all),
 * so that nothing can swallow the parameters microvmd appends. */
gboolean mvm_kernel_cmdline_is_safe(const char *s, gboolean allow_quotes);

/* The stricter of the configured policy and a VM's own choice (NULL: none made). */
MvmEgress mvm_egress_effective(MvmEgress configured, const char *own);

#define MVM_HYPERVISOR_AUTO "auto"
#define MVM_HYPERVISOR_CLOUD_HYPERVISOR "cloud-hypervisor"
#define MVM_HYPERVISOR_QEMU "qemu"

/* Whether s names a hypervisor choice ("auto" included). */
gboolean mvm_hypervisor_name_is_valid(const char *s);

#define MVM_MIN_MEMORY_MIB 128u

#define MVM_CONFIG_ERROR (mvm_config_error_quark())
GQuark mvm_config_error_quark(void);

MvmConfig *mvm_config_new_default(void);
void mvm_config_free(MvmConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MvmConfig, mvm_config_free)

/* Loads path on top of the defaults. A missing file gives the defaults; an unreadable
 * or invalid one (unknown group or key, bad value) is an error naming file and key. */
MvmConfig *mvm_config_load(const char *path, GError **error);
