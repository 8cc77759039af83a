/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "mvm-config.h"

/* The a{sv} options of the API's methods. Unknown keys, wrong types and values out of
 * range are refused with org.microvm.Error.InvalidArgument, never ignored. */

typedef struct CreateOptions {
        uint32_t vcpus;
        uint64_t memory_mib;
        char **authorized_keys; /* NULL-terminated, g_strfreev */
        char *hypervisor;       /* NULL: the configured default */
        char *kernel;
        char *initramfs;
        char *kernel_cmdline;
        char *ip_address;       /* NULL: the lowest free one */
        uint64_t volume_gib;    /* 0: no persistent volume */
        char *egress;           /* "internet" or "none"; NULL: as configured */
        char *credentials_directory; /* NULL: none */
} CreateOptions;

typedef struct DeleteOptions {
        bool remove_files;
} DeleteOptions;

void create_options_clear(CreateOptions *o);

/* Reads the a{sv} at the current position of m. */
int create_options_parse(sd_bus_message *m, const MvmConfig *config, CreateOptions *ret,
                         sd_bus_error *error);
int delete_options_parse(sd_bus_message *m, DeleteOptions *ret, sd_bus_error *error);

/* Options that take at most one boolean, key (NULL: none at all); value keeps its
 * default when the key is absent. */
int bool_option_parse(sd_bus_message *m, const char *key, bool *value, sd_bus_error *error);

/* GetLogs: b follow, t lines (0 = all). */
int logs_options_parse(sd_bus_message *m, bool *follow, uint64_t *lines, sd_bus_error *error);
