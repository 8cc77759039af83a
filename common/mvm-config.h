/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdint.h>

/* microvmd's configuration: compiled-in defaults, overridden by the key file
 * (/etc/microvm/microvmd.conf, group [Manager]). */
typedef struct MvmConfig {
        char *workspace_base_dir;
        uint32_t default_vcpus;
        uint64_t default_memory_mib;
        uint32_t max_vcpus;
        uint64_t max_memory_mib;
} MvmConfig;

#define MVM_MIN_MEMORY_MIB 128u

#define MVM_CONFIG_ERROR (mvm_config_error_quark())
GQuark mvm_config_error_quark(void);

MvmConfig *mvm_config_new_default(void);
void mvm_config_free(MvmConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MvmConfig, mvm_config_free)

/* Loads path on top of the defaults. A missing file gives the defaults; an unreadable
 * or invalid one (unknown group or key, bad value) is an error naming file and key. */
MvmConfig *mvm_config_load(const char *path, GError **error);
