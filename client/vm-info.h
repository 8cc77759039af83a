/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A VM's properties as microvmd reports them (org.freedesktop.DBus.Properties.GetAll
 * and PropertiesChanged of its object), for status, the lifecycle commands and ssh. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "client.h"

/* The strings point into the message they were read from. A property microvmd did not
 * send is NULL, or has its has_ flag false. */
typedef struct VmInfo {
        const char *name, *state, *workspace, *hypervisor, *unit, *failure_reason, *ip_address, *mac_address;
        const char *egress, *credentials_directory, *share_server;
        uint64_t volume_gib, dropped_packets;
        bool has_volume_gib, has_dropped_packets;
        uint32_t owner, vcpus, main_pid;
        uint64_t memory_mib, created_at, started_at;
        int autostart, ready;
        bool has_owner, has_vcpus, has_memory_mib, has_created_at;
        bool has_main_pid, has_started_at, has_autostart, has_ready;
} VmInfo;

/* Reads an "a{sv}" of properties from m into *info, which must start zeroed and must
 * not outlive m. Returns 0 or a negative errno. */
int vm_info_read(sd_bus_message *m, VmInfo *info);

/* Asks microvmd for the properties of the VM at path (args->name). Returns -1 and the
 * properties (pointing into *ret_reply), or the exit code after saying why not. */
int vm_info_get(sd_bus *bus, const Args *args, const char *path,
                sd_bus_message **ret_reply, VmInfo *ret_info);
