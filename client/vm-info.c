/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading a VM's properties. */

#include "vm-info.h"

#include "bus-util.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"

typedef struct PropertyField {
        const char *property;
        const char *signature;
        void *value;
        bool *present;
} PropertyField;

/* Reads one "{sv}" entry already entered. Properties this client does not know, or
 * with a type it does not expect, are skipped, so newer daemons keep working. */
static int read_property(sd_bus_message *reply, const PropertyField *fields, size_t n_fields) {
        const char *property, *contents;
        int r;

        r = sd_bus_message_read(reply, "s", &property);
        if (r < 0)
                return r;
        r = sd_bus_message_peek_type(reply, NULL, &contents);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n_fields; i++) {
                if (!g_str_equal(fields[i].property, property) ||
                    !g_str_equal(fields[i].signature, contents))
                        continue;
                r = sd_bus_message_read(reply, "v", contents, fields[i].value);
                if (r < 0)
                        return r;
                if (fields[i].present)
                        *fields[i].present = true;
                return 0;
        }
        return sd_bus_message_skip(reply, "v");
}

int vm_info_read(sd_bus_message *m, VmInfo *info) {
        const PropertyField fields[] = {
                { "Name",          "s", &info->name,           NULL },
                { "State",         "s", &info->state,          NULL },
                { "Owner",         "u", &info->owner,          &info->has_owner },
                { "Workspace",     "s", &info->workspace,      NULL },
                { "VCPUs",         "u", &info->vcpus,          &info->has_vcpus },
                { "MemoryMiB",     "t", &info->memory_mib,     &info->has_memory_mib },
                { "CreatedAt",     "t", &info->created_at,     &info->has_created_at },
                { "Hypervisor",    "s", &info->hypervisor,     NULL },
                { "Unit",          "s", &info->unit,           NULL },
                { "MainPID",       "u", &info->main_pid,       &info->has_main_pid },
                { "StartedAt",     "t", &info->started_at,     &info->has_started_at },
                { "Autostart",     "b", &info->autostart,      &info->has_autostart },
                { "FailureReason", "s", &info->failure_reason, NULL },
                { "IPAddress",     "s", &info->ip_address,     NULL },
                { "MACAddress",    "s", &info->mac_address,    NULL },
                { "VolumeGiB",     "t", &info->volume_gib,     &info->has_volume_gib },
                { "Ready",         "b", &info->ready,          &info->has_ready },
                { "Egress",        "s", &info->egress,         NULL },
                { "CredentialsDirectory", "s", &info->credentials_directory, NULL },
                { "ShareServer",   "s", &info->share_server,   NULL },
                { "DroppedPackets", "t", &info->dropped_packets, &info->has_dropped_packets },
        };
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = read_property(m, fields, G_N_ELEMENTS(fields));
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int vm_info_get(sd_bus *bus, const Args *args, const char *path,
                sd_bus_message **ret_reply, VmInfo *ret_info) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, MVM_BUS_NAME, path, "org.freedesktop.DBus.Properties",
                               "GetAll", &error, &reply, "s", MVM_VM_INTERFACE);
        if (r < 0)
                return fail_bus_call(args, &error, r, args->name);

        *ret_info = (VmInfo) {};
        r = vm_info_read(reply, ret_info);
        if (r < 0)
                return fail_bus_message(r);
        *ret_reply = MVM_TAKE_PTR(reply);
        return -1;
}
