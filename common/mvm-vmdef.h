/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A VM definition as stored in /var/lib/microvm/vms/NAME.json. */
typedef struct MvmVmDef {
        char *name;
        uid_t owner;
        uint32_t vcpus;
        uint64_t memory_mib;
        char *workspace;      /* absolute path of the workspace directory */
        uint64_t created_at;  /* CLOCK_REALTIME, microseconds */

        /* Optional members (absent in older files). NULL means "the configured default". */
        char *hypervisor;        /* "auto", "cloud-hypervisor", "qemu"; NULL = auto */
        bool autostart;
        char *kernel;
        char *initramfs;
        char *kernel_cmdline;
        char *ip_address;        /* in the configured subnet, unique; NULL before networking */
        char *mac_address;       /* 02:..., unique */
        uint64_t volume_gib;     /* persistent volume, 0: none */
        char *egress;            /* "internet" or "none": stricter than the config; NULL = as configured */
        char *credentials_directory; /* the owner's directory shared as the guest user's $HOME; NULL = none */
} MvmVmDef;

/* Why path cannot be a credentials directory (NULL when it can): an absolute, normalised
 * path of at most 255 bytes from a safe alphabet (it goes on the guest's kernel command
 * line and is mounted at the same path in the guest), outside the places the guest has
 * of its own or gets from the host (/usr, /etc, /proc, ..., microvmd's own). */
const char *mvm_credentials_directory_invalid_reason(const char *path);

/* Whether s is an egress policy a VM's owner may choose ("internet" or "none"). */
bool mvm_vm_egress_is_valid(const char *s);

#define MVM_VMDEF_FORMAT_VERSION 1

#define MVM_VMDEF_ERROR (mvm_vmdef_error_quark())
GQuark mvm_vmdef_error_quark(void);

void mvm_vmdef_free(MvmVmDef *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MvmVmDef, mvm_vmdef_free)

/* Serializes to pretty JSON, newline-terminated. */
char *mvm_vmdef_to_json(const MvmVmDef *d);

/* Parses and validates (name grammar, ranges, absolute workspace path). */
MvmVmDef *mvm_vmdef_from_json(const char *data, gssize length, GError **error);
