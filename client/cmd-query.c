/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client list and status: the commands that only read, as a table or text, or
 * as JSON with --json. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-util.h"
#include "commands.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "output.h"
#include "vm-info.h"

/* ---------------------------------------------------------------------------------- */
/* list */

typedef struct VmEntry {
        const char *name, *state, *ip, *path;
} VmEntry;

static int compare_entries(const void *a, const void *b) {
        return strcmp(((const VmEntry *) a)->name, ((const VmEntry *) b)->name);
}

/* The strings point into the reply, which must outlive the array. */
static int read_vm_list(sd_bus_message *reply, GArray *entries) {
        VmEntry e;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(ssso)", &e.name, &e.state, &e.ip, &e.path)) > 0)
                g_array_append_val(entries, e);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        g_array_sort(entries, compare_entries);
        return 0;
}

static void print_vm_list_json(GArray *entries) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_array(b);
        for (guint i = 0; i < entries->len; i++) {
                const VmEntry *e = &g_array_index(entries, VmEntry, i);

                json_builder_begin_object(b);
                json_add_string(b, "name", e->name);
                json_add_string(b, "state", e->state);
                json_add_string(b, "ip-address", e->ip);
                json_add_string(b, "object-path", e->path);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        print_json(b);
}

static void print_vm_list_table(GArray *entries) {
        int name_width = (int) strlen("NAME"), state_width = (int) strlen("STATE");

        if (entries->len == 0) {
                printf("No VMs.\n");
                return;
        }
        for (guint i = 0; i < entries->len; i++) {
                const VmEntry *e = &g_array_index(entries, VmEntry, i);

                name_width = MAX(name_width, (int) strlen(e->name));
                state_width = MAX(state_width, (int) strlen(e->state));
        }
        printf("%-*s  %-*s  %s\n", name_width, "NAME", state_width, "STATE", "IP");
        for (guint i = 0; i < entries->len; i++) {
                const VmEntry *e = &g_array_index(entries, VmEntry, i);

                printf("%-*s  %-*s  %s\n", name_width, e->name, state_width, e->state,
                       e->ip[0] ? e->ip : "-");
        }
}

int run_list(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GArray) entries = g_array_new(FALSE, FALSE, sizeof(VmEntry));
        int r;

        r = sd_bus_call_method(bus, MVM_BUS_NAME, MVM_MANAGER_PATH, MVM_MANAGER_INTERFACE,
                               "ListVMs", &error, &reply, "");
        if (r < 0)
                return fail_bus_call(args, &error, r, NULL);

        r = read_vm_list(reply, entries);
        if (r < 0)
                return fail_bus_message(r);

        if (args->json)
                print_vm_list_json(entries);
        else
                print_vm_list_table(entries);
        return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* status */

static void json_add_bool(JsonBuilder *b, const char *key, bool value, bool present) {
        if (!present)
                return;
        json_builder_set_member_name(b, key);
        json_builder_add_boolean_value(b, value);
}

static void print_vm_info_json(const VmInfo *info) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_add_string(b, "name", info->name);
        json_add_string(b, "state", info->state);
        json_add_uint(b, "owner", info->owner, info->has_owner);
        json_add_string(b, "workspace", info->workspace);
        json_add_uint(b, "vcpus", info->vcpus, info->has_vcpus);
        json_add_uint(b, "memory-mib", info->memory_mib, info->has_memory_mib);
        json_add_uint(b, "created-at", info->created_at, info->has_created_at);
        json_add_string(b, "hypervisor", info->hypervisor);
        json_add_string(b, "unit", info->unit);
        json_add_uint(b, "main-pid", info->main_pid, info->has_main_pid);
        json_add_uint(b, "started-at", info->started_at, info->has_started_at);
        json_add_bool(b, "autostart", info->autostart, info->has_autostart);
        json_add_string(b, "failure-reason", info->failure_reason);
        json_add_string(b, "ip-address", info->ip_address);
        json_add_uint(b, "volume-gib", info->volume_gib, info->has_volume_gib);
        json_add_string(b, "mac-address", info->mac_address);
        json_add_string(b, "egress", info->egress);
        json_add_string(b, "credentials-directory", info->credentials_directory);
        json_add_string(b, "share-server", info->share_server);
        json_add_uint(b, "dropped-packets", info->dropped_packets, info->has_dropped_packets);
        json_add_bool(b, "ready", info->ready, info->has_ready);
        json_builder_end_object(b);
        print_json(b);
}

static void print_field(const char *key, const char *value) {
        /* Keys padded to "Hypervisor:" and a space; a longer one gets its own space. */
        int width = strlen(key) >= 12 ? (int) strlen(key) + 1 : 12;

        printf("%-*s%s\n", width, key, value);
}

/* What an egress policy lets the guest reach, in words; unknown ones as they are. */
static const char *egress_text(const char *policy) {
        static const struct {
                const char *policy, *text;
        } egress_texts[] = {
                { "internet", "internet (public addresses through NAT; not the host or private networks)" },
                { "none", "none (nothing beyond DNS and the host ports the config opens)" },
                { "open", "open (everything, the host included)" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(egress_texts); i++)
                if (g_str_equal(egress_texts[i].policy, policy))
                        return egress_texts[i].text;
        return policy;
}

/* The fields that only mean something while the VM has a hypervisor. */
static void print_vm_runtime_text(const VmInfo *info) {
        if (info->hypervisor && info->hypervisor[0])
                print_field("Hypervisor:", info->hypervisor);
        if (info->unit && info->unit[0])
                print_field("Unit:", info->unit);
        if (info->has_main_pid && info->main_pid > 0) {
                g_autofree char *pid = g_strdup_printf("%" PRIu32, info->main_pid);
                print_field("Main PID:", pid);
        }
        if (info->has_started_at && info->started_at > 0) {
                g_autofree char *uptime = format_uptime(info->started_at);
                print_field("Uptime:", uptime);
        }
        if (info->share_server && info->share_server[0])
                print_field("Served by:", info->share_server);
        if (info->has_ready && g_strcmp0(info->state, "running") == 0)
                print_field("Ready:", info->ready ? "yes (its SSH server answers)" : "no (booting)");
        if (info->failure_reason && info->failure_reason[0])
                print_field("Failure:", info->failure_reason);
        if (info->has_autostart)
                print_field("Autostart:", info->autostart ? "on" : "off");
}

static void print_vm_network_text(const VmInfo *info) {
        if (info->ip_address && info->ip_address[0])
                print_field("Address:", info->ip_address);
        if (info->mac_address && info->mac_address[0])
                print_field("MAC:", info->mac_address);
        if (info->egress)
                print_field("Egress:", egress_text(info->egress));
        if (info->has_dropped_packets && info->state &&
            (g_str_equal(info->state, "running") || g_str_equal(info->state, "starting") ||
             g_str_equal(info->state, "stopping"))) {
                g_autofree char *dropped = g_strdup_printf("%" PRIu64 " packets (refused by the network policy)",
                                                           info->dropped_packets);
                print_field("Dropped:", dropped);
        }
}

static void print_vm_resources_text(const VmInfo *info) {
        if (info->workspace) {
                g_autofree char *share = NULL;

                print_field("Workspace:", info->workspace);
                /* The guest mounts the workspace share at the host's path. */
                share = g_strdup_printf("%s (read-write, same path in the VM)", info->workspace);
                print_field("Shares:", share);
        }
        if (info->credentials_directory && info->credentials_directory[0]) {
                g_autofree char *credentials = g_strdup_printf("%s (read-write, same path in the VM, its $HOME)",
                                                               info->credentials_directory);
                print_field("Credentials:", credentials);
        }
        if (info->has_vcpus) {
                g_autofree char *vcpus = g_strdup_printf("%" PRIu32, info->vcpus);
                print_field("VCPUs:", vcpus);
        }
        if (info->has_memory_mib) {
                g_autofree char *memory = g_strdup_printf("%" PRIu64 " MiB", info->memory_mib);
                print_field("Memory:", memory);
        }
        if (info->has_volume_gib && info->volume_gib > 0) {
                g_autofree char *volume = g_strdup_printf("%" PRIu64 " GiB on /var", info->volume_gib);
                print_field("Volume:", volume);
        }
}

static void print_vm_info_text(const VmInfo *info) {
        if (info->name)
                print_field("Name:", info->name);
        if (info->state)
                print_field("State:", info->state);
        if (info->has_owner) {
                g_autofree char *owner = format_user(info->owner);
                print_field("Owner:", owner);
        }
        print_vm_runtime_text(info);
        print_vm_network_text(info);
        print_vm_resources_text(info);
        if (info->has_created_at) {
                g_autofree char *created = format_timestamp(info->created_at);
                print_field("Created:", created);
        }
}

int run_status(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *reply = NULL;
        VmInfo info;
        const char *path;
        int r;

        r = bus_get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;
        r = vm_info_get(bus, args, path, &reply, &info);
        if (r >= 0)
                return r;

        if (args->json)
                print_vm_info_json(&info);
        else
                print_vm_info_text(&info);
        return EXIT_SUCCESS;
}
