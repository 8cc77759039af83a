/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client: the unprivileged command-line client of microvmd. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "authorized-keys.h"
#include "config.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-name.h"
#include "mvm-net.h"
#include "mvm-size.h"
#include "mvm-vmdef.h"
#include "polkit-agent.h"
#include "relay.h"

#define PROGRAM_NAME "microvm-client"

/* Exit codes, documented in --help and the man page. */
#define EXIT_USAGE          2
#define EXIT_NO_SUCH_VM     3
#define EXIT_NOT_AUTHORIZED 4

/* A call that may wait for someone to type a password gets more time than sd-bus's
 * default of 25 s. */
#define INTERACTIVE_CALL_TIMEOUT_USEC (UINT64_C(120) * 1000000)

/* Starting may wait for a password and for the hypervisor; stopping waits for the
 * guest to shut down, which microvmd gives [Hypervisor] StopTimeoutSec (150 s by
 * default, configurable) before it stops the unit itself. Be generous: the user can
 * always interrupt the wait, and the VM's state is microvmd's business anyway. */
#define START_CALL_TIMEOUT_USEC (UINT64_C(10) * 60 * 1000000)
#define STOP_CALL_TIMEOUT_USEC  (UINT64_C(30) * 60 * 1000000)

/* How often the progress spinner turns. */
#define PROGRESS_INTERVAL_USEC (UINT64_C(100) * 1000)

/* ssh: how long to wait for a booting VM by default, how often to look again, and how
 * long one look at its SSH port may take. */
#define SSH_DEFAULT_TIMEOUT_SEC 120
#define SSH_RETRY_INTERVAL_USEC (UINT64_C(500) * 1000)
/* How long one check of port 22 waits for the SSH banner: sshd in a guest under
 * software emulation can be slow to answer. */
#define SSH_PROBE_TIMEOUT_MSEC 10000

typedef struct Args {
        const char *command;
        bool ask_password;
        bool json;

        /* create */
        bool vcpus_set;
        uint32_t vcpus;
        bool memory_set;
        uint64_t memory_mib;
        const char *ip_address; /* NULL: microvmd picks the lowest free one */
        uint64_t volume_gib;    /* 0: no persistent volume */
        const char *egress;     /* NULL: as microvmd's config says */
        GPtrArray *key_files; /* NULL-terminated once parsed */

        /* delete */
        bool purge;

        /* start, stop */
        bool no_wait;
        bool force;

        /* logs */
        bool follow;
        uint64_t lines; /* 0: all of them */

        /* autostart */
        bool autostart;

        /* ssh */
        uint64_t timeout_sec;
        char **remote_command; /* after "--"; NULL-terminated, may be empty */

        const char *name;
} Args;

static void args_clear(Args *args) {
        if (args->key_files)
                g_ptr_array_unref(args->key_files);
}

/* ---------------------------------------------------------------------------------- */
/* Messages. Every failure ends with exactly one line on stderr. */

static void print_message_line(const char *prefix, const char *fmt, va_list ap) {
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);

        /* Messages may quote the daemon; keep them on one line whatever it sent. */
        for (char *p = msg; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        fflush(stdout);
        fprintf(stderr, "%s: %s%s\n", PROGRAM_NAME, prefix, g_strchomp(msg));
}

G_GNUC_PRINTF(2, 3)
static int fail(int exit_code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        print_message_line("", fmt, ap);
        va_end(ap);
        return exit_code;
}

G_GNUC_PRINTF(1, 2)
static void warn(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        print_message_line("warning: ", fmt, ap);
        va_end(ap);
}

G_GNUC_PRINTF(1, 2)
static int usage_error(const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        return fail(EXIT_USAGE, "%s (see '%s --help')", msg, PROGRAM_NAME);
}

static const char *bus_error_text(const sd_bus_error *error, int r) {
        if (sd_bus_error_is_set(error)) {
                if (error->message && error->message[0])
                        return error->message;
                return error->name;
        }
        return strerror(r < 0 ? -r : r);
}

/* Turns a failed call into the one-line message and the exit code. vm_name, when not
 * NULL, is the VM the call was about (for an object that vanished meanwhile). */
static int fail_bus_call(const Args *args, const sd_bus_error *error, int r, const char *vm_name) {
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return fail(EXIT_FAILURE, "microvmd is not installed or not running "
                            "(nobody provides %s on the system bus)", MVM_BUS_NAME);

        if (sd_bus_error_is_set(error) &&
            g_str_has_prefix(error->name, "org.freedesktop.DBus.Error.Spawn."))
                return fail(EXIT_FAILURE, "microvmd could not be started: %s",
                            bus_error_text(error, r));

        if (sd_bus_error_has_name(error, MVM_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED)) {
                if (!args->ask_password)
                        return fail(EXIT_NOT_AUTHORIZED, "authorization needs a password, "
                                    "but --no-ask-password was given");
                if (!isatty(STDIN_FILENO))
                        return fail(EXIT_NOT_AUTHORIZED, "authorization needs a password, "
                                    "but there is no terminal to ask for it on");
                return fail(EXIT_NOT_AUTHORIZED, "authorization needs a password, "
                            "but no polkit agent could ask for it (is %s installed?)",
                            MICROVM_PKTTYAGENT);
        }

        if (sd_bus_error_has_name(error, MVM_ERROR_NOT_AUTHORIZED) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
                return fail(EXIT_NOT_AUTHORIZED, "%s", bus_error_text(error, r));

        if (sd_bus_error_has_name(error, MVM_ERROR_NO_SUCH_VM))
                return fail(EXIT_NO_SUCH_VM, "%s", bus_error_text(error, r));

        if (vm_name && sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                return fail(EXIT_NO_SUCH_VM, "there is no VM named '%s'", vm_name);

        if (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD))
                return fail(EXIT_FAILURE, "this microvmd does not support '%s' "
                            "(it is older than this microvm-client)", args->command);

        /* The bus daemon's way of saying microvmd exited while working on the call. */
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY) && error->message &&
            strstr(error->message, "disconnected"))
                return fail(EXIT_FAILURE, "microvmd went away without answering (did it crash?)");

        if (sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_TIMEOUT) ||
            (!sd_bus_error_is_set(error) && r == -ETIMEDOUT))
                return fail(EXIT_FAILURE, "microvmd did not answer in time");

        return fail(EXIT_FAILURE, "%s", bus_error_text(error, r));
}

static int fail_bus_message(int r) {
        return fail(EXIT_FAILURE, "cannot handle a D-Bus message: %s", strerror(-r));
}

/* ---------------------------------------------------------------------------------- */
/* Output helpers. */

static void print_json(JsonBuilder *builder) {
        g_autoptr(JsonGenerator) generator = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(builder);
        g_autofree char *text = NULL;

        json_generator_set_root(generator, root);
        json_generator_set_pretty(generator, TRUE);
        json_generator_set_indent(generator, 2);
        text = json_generator_to_data(generator, NULL);
        printf("%s\n", text);
}

static char *format_user(uint32_t uid) {
        struct passwd *pw = getpwuid((uid_t) uid);

        if (pw && pw->pw_name)
                return g_strdup(pw->pw_name);
        return g_strdup_printf("%" PRIu32, uid);
}

static char *format_timestamp(uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        char buf[128];
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) ||
            strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return g_strdup("-");
        return g_strdup(buf);
}

/* ---------------------------------------------------------------------------------- */
/* The bus. */

static int open_bus(const Args *args, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fail(EXIT_FAILURE, "cannot connect to the system bus "
                            "(is D-Bus running?): %s", strerror(-r));

        r = sd_bus_set_allow_interactive_authorization(bus, args->ask_password);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return fail(EXIT_FAILURE, "cannot set up the D-Bus connection: %s", strerror(-r));
        }
        *ret = bus;
        return 0;
}

/* Sends a call that polkit may have to authorize, with the text agent running
 * meanwhile when it may be needed. */
static int call_with_authorization(const Args *args, sd_bus *bus, sd_bus_message *m,
                                   sd_bus_error *error, sd_bus_message **ret_reply) {
        uint64_t timeout = 0;
        int r;

        if (args->ask_password) {
                /* Without the agent the call still goes ahead: a desktop agent, a rule
                 * or membership in the group microvm may authorize it. */
                (void) polkit_agent_open();
                timeout = INTERACTIVE_CALL_TIMEOUT_USEC;
        }
        r = sd_bus_call(bus, m, timeout, error, ret_reply);
        polkit_agent_close();
        return r;
}

/* ---------------------------------------------------------------------------------- */
/* create */

static int append_option_keys(sd_bus_message *m, GPtrArray *keys) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", MVM_OPTION_AUTHORIZED_KEYS);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', "as");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, (char **) keys->pdata);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int build_create_call(sd_bus *bus, const Args *args, GPtrArray *keys, sd_bus_message **ret) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, MVM_MANAGER_PATH,
                                           MVM_MANAGER_INTERFACE, "CreateWorkspace");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", args->name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && args->vcpus_set)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_VCPUS, "u", args->vcpus);
        if (r >= 0 && args->memory_set)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_MEMORY_MIB, "t", args->memory_mib);
        if (r >= 0 && args->volume_gib > 0)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_VOLUME_GIB, "t", args->volume_gib);
        if (r >= 0 && args->ip_address)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_IP_ADDRESS, "s", args->ip_address);
        if (r >= 0 && args->egress)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_EGRESS, "s", args->egress);
        if (r >= 0)
                r = append_option_keys(m, keys);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}

static void print_created(sd_bus *bus, const Args *args, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *workspace = NULL;
        char *s = NULL;

        if (args->json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "name");
                json_builder_add_string_value(b, args->name);
                json_builder_set_member_name(b, "object-path");
                json_builder_add_string_value(b, path);
                json_builder_end_object(b);
                print_json(b);
                return;
        }

        /* Only to tell where the workspace is; the VM exists whether this works or not. */
        if (sd_bus_get_property_string(bus, MVM_BUS_NAME, path, MVM_VM_INTERFACE,
                                       "Workspace", &error, &s) >= 0) {
                workspace = g_strdup(s);
                free(s);
        }
        if (workspace && workspace[0])
                printf("Created VM %s; its workspace is %s\n", args->name, workspace);
        else
                printf("Created VM %s.\n", args->name);
}

static int run_create(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        g_autoptr(GPtrArray) keys = NULL;
        g_autoptr(GError) gerror = NULL;
        const char *path;
        int r;

        keys = client_collect_authorized_keys(args->key_files ? (char **) args->key_files->pdata : NULL,
                                              &gerror);
        if (!keys)
                return fail(EXIT_FAILURE, "%s", gerror->message);
        g_ptr_array_add(keys, NULL);

        r = build_create_call(bus, args, keys, &m);
        if (r < 0)
                return fail_bus_message(r);

        r = call_with_authorization(args, bus, m, &error, &reply);
        if (r < 0)
                return fail_bus_call(args, &error, r, NULL);

        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return fail_bus_message(r);

        print_created(bus, args, path);

        /* keys is NULL-terminated, so one entry means none. */
        if (keys->len <= 1)
                warn("no SSH public keys found (%s); nobody will be able to log into %s by SSH",
                     args->key_files ? "in the --key files" : "looked for ~/.ssh/*.pub",
                     args->name);
        return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* delete */

static int run_delete(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, MVM_MANAGER_PATH,
                                           MVM_MANAGER_INTERFACE, "DeleteWorkspace");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", args->name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && args->purge)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_REMOVE_FILES, "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return fail_bus_message(r);

        r = call_with_authorization(args, bus, m, &error, NULL);
        if (r < 0)
                return fail_bus_call(args, &error, r, args->name);

        if (!args->json) {
                if (args->purge)
                        printf("Deleted VM %s and its workspace.\n", args->name);
                else
                        printf("Deleted VM %s; its workspace was kept (--purge removes it too).\n",
                               args->name);
        }
        return EXIT_SUCCESS;
}

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
                json_builder_set_member_name(b, "name");
                json_builder_add_string_value(b, e->name);
                json_builder_set_member_name(b, "state");
                json_builder_add_string_value(b, e->state);
                json_builder_set_member_name(b, "ip-address");
                json_builder_add_string_value(b, e->ip);
                json_builder_set_member_name(b, "object-path");
                json_builder_add_string_value(b, e->path);
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

static int run_list(sd_bus *bus, const Args *args) {
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
/* Looking up a VM. */

/* Returns -1 and the VM's object path (owned by *ret_reply), or the exit code. */
static int get_vm_path(sd_bus *bus, const Args *args, sd_bus_message **ret_reply, const char **ret_path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, MVM_BUS_NAME, MVM_MANAGER_PATH, MVM_MANAGER_INTERFACE,
                               "GetVM", &error, &reply, "s", args->name);
        if (r < 0)
                return fail_bus_call(args, &error, r, args->name);
        r = sd_bus_message_read(reply, "o", ret_path);
        if (r < 0) {
                sd_bus_message_unref(reply);
                return fail_bus_message(r);
        }
        *ret_reply = reply;
        return -1;
}

/* ---------------------------------------------------------------------------------- */
/* status */

typedef struct VmInfo {
        const char *name, *state, *workspace, *hypervisor, *unit, *failure_reason, *ip_address, *mac_address;
        const char *egress;
        uint64_t volume_gib, dropped_packets;
        bool has_volume_gib, has_dropped_packets;
        uint32_t owner, vcpus, main_pid;
        uint64_t memory_mib, created_at, started_at;
        int autostart, ready;
        bool has_owner, has_vcpus, has_memory_mib, has_created_at;
        bool has_main_pid, has_started_at, has_autostart, has_ready;
} VmInfo;

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

/* The strings point into the reply, which must outlive info. */
static int read_vm_properties(sd_bus_message *reply, VmInfo *info) {
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
                { "DroppedPackets", "t", &info->dropped_packets, &info->has_dropped_packets },
        };
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = read_property(reply, fields, G_N_ELEMENTS(fields));
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

/* Returns -1 and the properties (pointing into *ret_reply), or the exit code. */
static int get_vm_info(sd_bus *bus, const Args *args, const char *path,
                       sd_bus_message **ret_reply, VmInfo *ret_info) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, MVM_BUS_NAME, path, "org.freedesktop.DBus.Properties",
                               "GetAll", &error, &reply, "s", MVM_VM_INTERFACE);
        if (r < 0)
                return fail_bus_call(args, &error, r, args->name);

        *ret_info = (VmInfo) {};
        r = read_vm_properties(reply, ret_info);
        if (r < 0)
                return fail_bus_message(r);
        *ret_reply = MVM_TAKE_PTR(reply);
        return -1;
}

static void json_add_string(JsonBuilder *b, const char *key, const char *value) {
        if (!value)
                return;
        json_builder_set_member_name(b, key);
        json_builder_add_string_value(b, value);
}

static void json_add_uint(JsonBuilder *b, const char *key, uint64_t value, bool present) {
        if (!present)
                return;
        json_builder_set_member_name(b, key);
        json_builder_add_int_value(b, (gint64) MIN(value, (uint64_t) G_MAXINT64));
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
        if (info->has_autostart) {
                json_builder_set_member_name(b, "autostart");
                json_builder_add_boolean_value(b, info->autostart);
        }
        json_add_string(b, "failure-reason", info->failure_reason);
        json_add_string(b, "ip-address", info->ip_address);
        json_add_uint(b, "volume-gib", info->volume_gib, info->has_volume_gib);
        json_add_string(b, "mac-address", info->mac_address);
        json_add_string(b, "egress", info->egress);
        json_add_uint(b, "dropped-packets", info->dropped_packets, info->has_dropped_packets);
        if (info->has_ready) {
                json_builder_set_member_name(b, "ready");
                json_builder_add_boolean_value(b, info->ready);
        }
        json_builder_end_object(b);
        print_json(b);
}

/* "3d 4h", "2h 5min", "5min 12s", "12s": the two largest units, as systemctl does. */
static char *format_duration(uint64_t usec) {
        uint64_t s = usec / 1000000;
        uint64_t days = s / 86400, hours = s / 3600 % 24, minutes = s / 60 % 60, seconds = s % 60;

        if (days > 0)
                return g_strdup_printf("%" PRIu64 "d %" PRIu64 "h", days, hours);
        if (hours > 0)
                return g_strdup_printf("%" PRIu64 "h %" PRIu64 "min", hours, minutes);
        if (minutes > 0)
                return g_strdup_printf("%" PRIu64 "min %" PRIu64 "s", minutes, seconds);
        return g_strdup_printf("%" PRIu64 "s", seconds);
}

static char *format_uptime(uint64_t started_at) {
        uint64_t now = (uint64_t) g_get_real_time();
        g_autofree char *duration = format_duration(now > started_at ? now - started_at : 0);
        g_autofree char *since = format_timestamp(started_at);

        return g_strdup_printf("%s (since %s)", duration, since);
}

static void print_field(const char *key, const char *value) {
        /* Keys padded to the longest one, "Hypervisor:". */
        printf("%-12s%s\n", key, value);
}

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
        if (info->has_ready && g_strcmp0(info->state, "running") == 0)
                print_field("Ready:", info->ready ? "yes (its SSH server answers)" : "no (booting)");
        if (info->failure_reason && info->failure_reason[0])
                print_field("Failure:", info->failure_reason);
        if (info->has_autostart)
                print_field("Autostart:", info->autostart ? "on" : "off");
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
        if (info->ip_address && info->ip_address[0])
                print_field("Address:", info->ip_address);
        if (info->mac_address && info->mac_address[0])
                print_field("MAC:", info->mac_address);
        if (info->egress) {
                static const struct {
                        const char *policy, *text;
                } egress_texts[] = {
                        { "internet", "internet (public addresses through NAT; not the host or private networks)" },
                        { "none", "none (nothing beyond DNS and the host ports the config opens)" },
                        { "open", "open (everything, the host included)" },
                };
                const char *text = info->egress;

                for (size_t i = 0; i < G_N_ELEMENTS(egress_texts); i++)
                        if (g_str_equal(egress_texts[i].policy, info->egress))
                                text = egress_texts[i].text;
                print_field("Egress:", text);
        }
        if (info->has_dropped_packets && info->state &&
            (g_str_equal(info->state, "running") || g_str_equal(info->state, "starting") ||
             g_str_equal(info->state, "stopping"))) {
                g_autofree char *dropped = g_strdup_printf("%" PRIu64 " packets (refused by the network policy)",
                                                           info->dropped_packets);
                print_field("Dropped:", dropped);
        }
        if (info->workspace) {
                g_autofree char *share = NULL;

                print_field("Workspace:", info->workspace);
                /* The guest mounts the workspace share at the host's path. */
                share = g_strdup_printf("%s (read-write, same path in the VM)", info->workspace);
                print_field("Shares:", share);
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
        if (info->has_created_at) {
                g_autofree char *created = format_timestamp(info->created_at);
                print_field("Created:", created);
        }
}

static int run_status(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *reply = NULL;
        VmInfo info;
        const char *path;
        int r;

        r = get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;
        r = get_vm_info(bus, args, path, &reply, &info);
        if (r >= 0)
                return r;

        if (args->json)
                print_vm_info_json(&info);
        else
                print_vm_info_text(&info);
        return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* start, stop, restart */

typedef struct LifecycleCall {
        const char *vm_name;
        const char *progress_verb; /* "Starting" */
        bool show_progress;        /* stderr is a terminal */
        bool progress_visible;
        /* Only once polkit has said yes may the progress line be drawn: until then an
         * agent may be asking for a password on the same terminal. microvmd changes the
         * VM's properties only once it acts, so their first change tells. */
        bool acting;
        char *state; /* the VM's latest State, once it changed */
        unsigned spin;
        sd_bus_message *reply;
} LifecycleCall;

static volatile sig_atomic_t wait_interrupted = 0;

static void on_wait_interrupted(int sig) {
        wait_interrupted = sig;
}

static void progress_draw(LifecycleCall *c) {
        static const char spinner[] = "|/-\\";

        if (!c->show_progress || !c->acting)
                return;
        fprintf(stderr, "\r\033[K%c %s %s...", spinner[c->spin++ % 4], c->progress_verb, c->vm_name);
        if (c->state)
                fprintf(stderr, " (%s)", c->state);
        fflush(stderr);
        c->progress_visible = true;
}

static void progress_clear(LifecycleCall *c) {
        if (!c->progress_visible)
                return;
        fputs("\r\033[K", stderr);
        fflush(stderr);
        c->progress_visible = false;
}

static int on_vm_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        LifecycleCall *c = userdata;
        VmInfo info = {};
        const char *interface;

        if (sd_bus_message_read(m, "s", &interface) < 0 || !g_str_equal(interface, MVM_VM_INTERFACE))
                return 0;
        c->acting = true;
        /* Shown beside the spinner; a restart goes through stopping and starting. */
        if (read_vm_properties(m, &info) >= 0 && info.state) {
                g_free(c->state);
                c->state = g_strdup(info.state);
        }
        return 0;
}

static int on_lifecycle_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        LifecycleCall *c = userdata;

        c->reply = sd_bus_message_ref(m);
        return 0;
}

/* Runs the bus until the reply is in, turning the spinner meanwhile. Returns 0, -EINTR
 * when the user interrupted the wait, or a negative errno. */
static int wait_for_reply(sd_bus *bus, LifecycleCall *c) {
        struct sigaction sa = { .sa_handler = on_wait_interrupted }, old_int, old_term;
        int r = 0;

        sigemptyset(&sa.sa_mask);
        wait_interrupted = 0;
        (void) sigaction(SIGINT, &sa, &old_int);
        (void) sigaction(SIGTERM, &sa, &old_term);

        while (!c->reply) {
                if (wait_interrupted) {
                        r = -EINTR;
                        break;
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                progress_draw(c);
                /* Short waits also catch a signal that came just before the wait. */
                r = sd_bus_wait(bus, PROGRESS_INTERVAL_USEC);
                if (r < 0 && r != -EINTR)
                        break;
                r = 0;
        }

        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGTERM, &old_term, NULL);
        return r;
}

static int build_lifecycle_call(sd_bus *bus, const Args *args, const char *method, sd_bus_message **ret) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, MVM_MANAGER_PATH,
                                           MVM_MANAGER_INTERFACE, method);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", args->name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && g_str_equal(method, "StartVM") && args->no_wait)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_WAIT, "b", 0);
        if (r >= 0 && g_str_equal(method, "StopVM") && args->force)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_FORCE, "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}

/* "myvm is running (qemu, PID 123)", "myvm is stopped", "myvm failed: reason". */
static void print_vm_state(sd_bus *bus, const Args *args, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GString) details = g_string_new(NULL);
        VmInfo info = {};

        /* The call did what it should; this is only to tell the details. */
        if (sd_bus_call_method(bus, MVM_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", MVM_VM_INTERFACE) < 0 ||
            read_vm_properties(reply, &info) < 0 || !info.state) {
                printf("Done.\n");
                return;
        }

        if (g_str_equal(info.state, "failed")) {
                if (info.failure_reason && info.failure_reason[0])
                        printf("%s failed: %s\n", args->name, info.failure_reason);
                else
                        printf("%s failed.\n", args->name);
                return;
        }
        if (info.hypervisor && info.hypervisor[0] && !g_str_equal(info.state, "stopped"))
                g_string_append(details, info.hypervisor);
        if (info.has_main_pid && info.main_pid > 0)
                g_string_append_printf(details, "%sPID %" PRIu32, details->len > 0 ? ", " : "",
                                       info.main_pid);
        if (details->len > 0)
                printf("%s is %s (%s)\n", args->name, info.state, details->str);
        else
                printf("%s is %s\n", args->name, info.state);
}

static void report_interrupted(const Args *args, const char *progress_verb) {
        g_autofree char *verb = g_ascii_strdown(progress_verb, -1);

        fail(EXIT_FAILURE, "no longer waiting; microvmd goes on %s %s "
             "('%s status %s' shows how far it got)", verb, args->name, PROGRAM_NAME, args->name);
}

static int run_lifecycle(sd_bus *bus, const Args *args, const char *method, const char *progress_verb,
                         uint64_t timeout_usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *m = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match_slot = NULL, *call_slot = NULL;
        LifecycleCall c = {
                .vm_name = args->name,
                .progress_verb = progress_verb,
                .show_progress = isatty(STDERR_FILENO),
        };
        const sd_bus_error *error;
        const char *path;
        int r;

        r = get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;

        /* Without it there is just no progress line. */
        if (c.show_progress)
                (void) sd_bus_match_signal(bus, &match_slot, MVM_BUS_NAME, path,
                                           "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                           on_vm_properties_changed, &c);

        r = build_lifecycle_call(bus, args, method, &m);
        if (r < 0)
                return fail_bus_message(r);

        if (args->ask_password)
                (void) polkit_agent_open();
        /* No agent on the terminal: nobody will be asked, the line may show at once. */
        c.acting = !polkit_agent_is_running();

        r = sd_bus_call_async(bus, &call_slot, m, on_lifecycle_reply, &c, timeout_usec);
        if (r >= 0)
                r = wait_for_reply(bus, &c);
        polkit_agent_close();
        progress_clear(&c);
        g_clear_pointer(&c.state, g_free);

        if (r == -EINTR) {
                report_interrupted(args, progress_verb);
                sd_bus_message_unref(c.reply);
                return 130; /* 128 + SIGINT, as the shell reports an interrupted command */
        }
        if (r < 0) {
                sd_bus_message_unref(c.reply);
                return fail(EXIT_FAILURE, "cannot talk to microvmd: %s", strerror(-r));
        }

        error = sd_bus_message_get_error(c.reply);
        if (error) {
                r = fail_bus_call(args, error, sd_bus_message_get_errno(c.reply), args->name);
                sd_bus_message_unref(c.reply);
                return r;
        }
        sd_bus_message_unref(c.reply);

        if (!args->json)
                print_vm_state(bus, args, path);
        return EXIT_SUCCESS;
}

static int run_start(sd_bus *bus, const Args *args) {
        return run_lifecycle(bus, args, "StartVM", "Starting", START_CALL_TIMEOUT_USEC);
}

static int run_stop(sd_bus *bus, const Args *args) {
        return run_lifecycle(bus, args, "StopVM", "Stopping", STOP_CALL_TIMEOUT_USEC);
}

static int run_restart(sd_bus *bus, const Args *args) {
        return run_lifecycle(bus, args, "RestartVM", "Restarting",
                             STOP_CALL_TIMEOUT_USEC + START_CALL_TIMEOUT_USEC);
}

/* ---------------------------------------------------------------------------------- */
/* autostart */

static int run_autostart(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *m = NULL;
        const char *path;
        int r;

        r = get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, path, MVM_VM_INTERFACE, "SetAutostart");
        if (r >= 0)
                r = sd_bus_message_append(m, "b", (int) args->autostart);
        if (r < 0)
                return fail_bus_message(r);

        r = call_with_authorization(args, bus, m, &error, NULL);
        if (r < 0)
                return fail_bus_call(args, &error, r, args->name);

        if (!args->json) {
                if (args->autostart)
                        printf("%s now starts when microvmd starts.\n", args->name);
                else
                        printf("%s no longer starts when microvmd starts.\n", args->name);
        }
        return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* logs, console: microvmd hands out a file descriptor. */

/* Returns -1 and the descriptor the VM's method returned, or the exit code. */
static int call_for_fd(sd_bus *bus, const Args *args, sd_bus_message *m, int *ret_fd) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int fd, r;

        r = call_with_authorization(args, bus, m, &error, &reply);
        if (r < 0)
                return fail_bus_call(args, &error, r, args->name);
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return fail_bus_message(r);
        /* The message owns fd and closes it when freed. */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return fail(EXIT_FAILURE, "cannot take over the file descriptor from microvmd: %s",
                            strerror(errno));
        *ret_fd = fd;
        return -1;
}

static int run_logs(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *m = NULL;
        _cleanup_close_ int fd = -1;
        const char *path;
        int r;

        r = get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, path, MVM_VM_INTERFACE, "GetLogs");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && args->follow)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_FOLLOW, "b", 1);
        if (r >= 0 && args->lines > 0)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_LINES, "t", args->lines);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return fail_bus_message(r);

        r = call_for_fd(bus, args, m, &fd);
        if (r >= 0)
                return r;

        fflush(stdout);
        r = relay_copy_to_stdout(fd);
        if (r < 0)
                return fail(EXIT_FAILURE, "cannot copy the logs of %s: %s", args->name, strerror(-r));
        /* Interrupted or a closed output (e.g. "| head") is how one leaves --follow. */
        return EXIT_SUCCESS;
}

static int run_console(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *m = NULL;
        _cleanup_close_ int fd = -1;
        bool interactive = isatty(STDIN_FILENO);
        const char *path;
        int r;

        r = get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, path, MVM_VM_INTERFACE, "OpenConsole");
        if (r < 0)
                return fail_bus_message(r);
        r = call_for_fd(bus, args, m, &fd);
        if (r >= 0)
                return r;

        fflush(stdout);
        if (interactive)
                fprintf(stderr, "Connected to the console of %s; press Ctrl-] to leave.\n", args->name);

        r = relay_console(fd, interactive);
        if (r < 0)
                return fail(EXIT_FAILURE, "console of %s: %s", args->name, strerror(-r));
        if (interactive) {
                if (r == RELAY_END_EOF)
                        fprintf(stderr, "\nThe console of %s was closed.\n", args->name);
                else
                        fprintf(stderr, "\nLeft the console of %s.\n", args->name);
        }
        return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------- */
/* ssh */

/* Waits until fd has one of events, or deadline (monotonic, usec) passes, or the user
 * interrupts. */
static bool wait_for_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int64_t left = deadline - g_get_monotonic_time();
                int r;

                if (left <= 0 || wait_interrupted)
                        return false;
                r = poll(&p, 1, (int) ((left + 999) / 1000));
                if (r > 0)
                        return true;
                if (r == 0 || errno != EINTR)
                        return false;
        }
}

/* Whether sshd answers on ip port 22: the connection is accepted and the server's
 * identification ("SSH-2.0-...") arrives. A port that is open before sshd really
 * runs, or a VM still booting (no answer at all), is "not yet". */
static bool ssh_port_answers(const char *ip) {
        const struct addrinfo hints = {
                .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                .ai_socktype = SOCK_STREAM,
        };
        int64_t deadline = g_get_monotonic_time() + SSH_PROBE_TIMEOUT_MSEC * 1000;
        struct addrinfo *ai = NULL;
        _cleanup_close_ int fd = -1;
        socklen_t len = sizeof(int);
        char banner[4];
        size_t have = 0;
        int error = 0;

        if (getaddrinfo(ip, "22", &hints, &ai) != 0 || !ai)
                return false;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
                fd = safe_close(fd);
        freeaddrinfo(ai);
        if (fd < 0)
                return false;

        if (!wait_for_fd(fd, POLLOUT, deadline) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error != 0)
                return false;
        while (have < sizeof(banner)) {
                ssize_t n;

                if (!wait_for_fd(fd, POLLIN, deadline))
                        return false;
                n = recv(fd, banner + have, sizeof(banner) - have, 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        return false;
                have += (size_t) n;
        }
        return memcmp(banner, "SSH-", sizeof(banner)) == 0;
}

static bool is_key_type(const char *s) {
        if (!s[0])
                return false;
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && !strchr("-.@", *s))
                        return false;
        return true;
}

static bool is_base64(const char *s) {
        if (!s[0])
                return false;
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && !strchr("+/=", *s))
                        return false;
        return true;
}

/* The VM's host public key, as "TYPE BASE64", from WORKSPACE/ssh-host-keys: a file of
 * the caller's own workspace, read with the caller's rights. */
static int read_host_key(const Args *args, const char *workspace, char **ret_key) {
        g_autofree char *path = g_build_filename(workspace, "ssh-host-keys", "ssh_host_ed25519_key.pub", NULL);
        g_autofree char *contents = NULL;
        g_auto(GStrv) fields = NULL;
        g_autoptr(GError) error = NULL;

        if (!g_file_get_contents(path, &contents, NULL, &error))
                return fail(EXIT_FAILURE, "cannot read the SSH host key of %s: %s", args->name, error->message);
        fields = g_strsplit_set(g_strstrip(contents), " \t\n", 3);
        if (g_strv_length(fields) < 2 || !is_key_type(fields[0]) || !is_base64(fields[1]))
                return fail(EXIT_FAILURE, "%s is not an SSH public key", path);
        *ret_key = g_strdup_printf("%s %s", fields[0], fields[1]);
        return -1;
}

/* Where the private known_hosts file goes: $XDG_RUNTIME_DIR (the user's own), else the
 * temporary directory. ssh splits UserKnownHostsFile= at spaces and expands % and ~,
 * so only plain paths will do. */
static const char *known_hosts_dir(void) {
        const char *dirs[] = { g_getenv("XDG_RUNTIME_DIR"), g_get_tmp_dir() };

        for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
                const char *d = dirs[i];

                if (d && g_path_is_absolute(d) && d[strspn(d, "abcdefghijklmnopqrstuvwxyz"
                                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789/._-")] == '\0' &&
                    g_file_test(d, G_FILE_TEST_IS_DIR))
                        return d;
        }
        return "/tmp";
}

/* Writes "IP TYPE KEY" to a new file of mode 0600, for ssh to pin the VM's host key
 * without touching ~/.ssh/known_hosts. Returns -1 and its path, or the exit code. */
static int write_known_hosts(const char *ip, const char *key, char **ret_path) {
        g_autofree char *path = g_build_filename(known_hosts_dir(), "microvm-known-hosts-XXXXXX", NULL);
        g_autofree char *line = g_strdup_printf("%s %s\n", ip, key);
        _cleanup_close_ int fd = -1;
        size_t done = 0, size = strlen(line);

        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return fail(EXIT_FAILURE, "cannot create a known_hosts file in %s: %s",
                            known_hosts_dir(), strerror(errno));
        while (done < size) {
                ssize_t n = write(fd, line + done, size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int saved = errno;
                        (void) unlink(path);
                        return fail(EXIT_FAILURE, "cannot write %s: %s", path, strerror(saved));
                }
                done += (size_t) n;
        }
        *ret_path = g_steal_pointer(&path);
        return -1;
}

/* Returns -1 while the VM runs or starts and has an address, otherwise the exit code
 * after saying why there is no point waiting. */
static int ssh_check_vm(const Args *args, const VmInfo *info) {
        const char *state = info->state ?: "unknown";

        if (!g_str_equal(state, "running") && !g_str_equal(state, "starting")) {
                if (g_str_equal(state, "failed") && info->failure_reason && info->failure_reason[0])
                        return fail(EXIT_FAILURE, "%s is not running, it failed: %s", args->name,
                                    info->failure_reason);
                return fail(EXIT_FAILURE, "%s is not running (it is %s); start it with '%s start %s'",
                            args->name, state, PROGRAM_NAME, args->name);
        }
        if (!info->ip_address || !info->ip_address[0])
                return fail(EXIT_FAILURE, "%s has no IP address (it was created before microvmd had "
                            "networking: delete it and create it again)", args->name);
        return -1;
}

/* Whether sshd in the VM takes connections now. */
static bool ssh_vm_ready(const VmInfo *info) {
        if (!g_str_equal(info->state, "running"))
                return false;
        /* microvmd watches for sshd (property Ready, in newer versions). Until it says
         * so, knock ourselves: it may have lost track, e.g. across a restart of microvmd. */
        if (info->has_ready && info->ready)
                return true;
        return ssh_port_answers(info->ip_address);
}

static void ssh_progress_draw(const Args *args, int64_t started, unsigned *spin) {
        static const char spinner[] = "|/-\\";
        int64_t seconds = (g_get_monotonic_time() - started) / G_USEC_PER_SEC;

        fprintf(stderr, "\r\033[K%c Waiting for %s to accept SSH connections (%" PRId64 " s)...",
                spinner[(*spin)++ % 4], args->name, seconds);
        fflush(stderr);
}

/* Waits until sshd in the VM answers, up to --timeout. Returns -1 with *info (pointing
 * into *reply) fresh, or the exit code. */
static int wait_for_ssh(sd_bus *bus, const Args *args, const char *path, sd_bus_message **reply,
                        VmInfo *info) {
        struct sigaction sa = { .sa_handler = on_wait_interrupted }, old_int, old_term;
        int64_t started = g_get_monotonic_time();
        int64_t deadline = started + (int64_t) args->timeout_sec * G_USEC_PER_SEC;
        bool show_progress = isatty(STDERR_FILENO), progress_visible = false;
        unsigned spin = 0;
        int r;

        sigemptyset(&sa.sa_mask);
        wait_interrupted = 0;
        (void) sigaction(SIGINT, &sa, &old_int);
        (void) sigaction(SIGTERM, &sa, &old_term);

        for (;;) {
                r = ssh_check_vm(args, info);
                if (r >= 0 || ssh_vm_ready(info))
                        break;
                if (wait_interrupted) {
                        r = 130; /* 128 + SIGINT */
                        break;
                }
                if (g_get_monotonic_time() >= deadline) {
                        r = -2;
                        break;
                }
                if (show_progress) {
                        ssh_progress_draw(args, started, &spin);
                        progress_visible = true;
                }
                /* A signal cuts the pause short. */
                (void) poll(NULL, 0, (int) (SSH_RETRY_INTERVAL_USEC / 1000));

                *reply = sd_bus_message_unref(*reply);
                r = get_vm_info(bus, args, path, reply, info);
                if (r >= 0)
                        break;
        }

        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGTERM, &old_term, NULL);
        if (progress_visible) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
        }

        if (r == 130)
                return fail(130, "no longer waiting for %s to accept SSH connections", args->name);
        if (r == -2)
                return fail(EXIT_FAILURE, "%s does not accept SSH connections after %" PRIu64 " s "
                            "(is it still booting? '%s logs %s' shows its console)",
                            args->name, args->timeout_sec, PROGRAM_NAME, args->name);
        return r;
}

static volatile pid_t ssh_pid = 0;

static void forward_signal(int sig) {
        if (ssh_pid > 0)
                (void) kill(ssh_pid, sig);
}

/* Runs argv (ssh) and returns its exit status, 128+N if signal N ended it. Meanwhile
 * Ctrl-C and Ctrl-\ are ssh's business (they reach it through the terminal), and
 * SIGTERM and SIGHUP are passed on, so this process can remove the known_hosts file. */
static int run_and_wait(char **argv) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, forward = { .sa_handler = forward_signal };
        struct sigaction old_int, old_quit, old_term, old_hup;
        int status = 0, r;
        pid_t pid;

        sigemptyset(&ignore.sa_mask);
        sigemptyset(&forward.sa_mask);
        fflush(stdout);
        fflush(stderr);

        (void) sigaction(SIGINT, &ignore, &old_int);
        (void) sigaction(SIGQUIT, &ignore, &old_quit);
        (void) sigaction(SIGTERM, &forward, &old_term);
        (void) sigaction(SIGHUP, &forward, &old_hup);

        pid = fork();
        if (pid == 0) {
                /* Ignored signals stay ignored across exec: undo that. */
                (void) signal(SIGINT, SIG_DFL);
                (void) signal(SIGQUIT, SIG_DFL);
                execvp(argv[0], argv);
                r = errno;
                fprintf(stderr, "%s: cannot run %s: %s%s\n", PROGRAM_NAME, argv[0], strerror(r),
                        r == ENOENT ? " (is the OpenSSH client installed?)" : "");
                _exit(r == ENOENT ? 127 : 126);
        }
        if (pid > 0) {
                ssh_pid = pid;
                while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                        ;
                ssh_pid = 0;
        } else
                r = -1;
        if (r < 0)
                r = -errno;

        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGQUIT, &old_quit, NULL);
        (void) sigaction(SIGTERM, &old_term, NULL);
        (void) sigaction(SIGHUP, &old_hup, NULL);

        if (r < 0)
                return fail(EXIT_FAILURE, "cannot run %s: %s", argv[0], strerror(-r));
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

/* The guest has one user: the VM's owner, with the same name as on the host. */
static int owner_name(const Args *args, const VmInfo *info, char **ret) {
        uid_t uid = info->has_owner ? (uid_t) info->owner : getuid();
        struct passwd *pw = getpwuid(uid);

        if (!pw || !pw->pw_name)
                return fail(EXIT_FAILURE, "the owner of %s (uid %u) has no user name on this host",
                            args->name, (unsigned) uid);
        *ret = g_strdup(pw->pw_name);
        return -1;
}

static GPtrArray *build_ssh_argv(const Args *args, const char *known_hosts, const char *user, const char *ip) {
        GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

        g_ptr_array_add(argv, g_strdup("ssh"));
        /* Only the VM's own key is trusted: no prompt, nothing added to ~/.ssh. */
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup_printf("UserKnownHostsFile=%s", known_hosts));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("GlobalKnownHostsFile=/dev/null"));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("StrictHostKeyChecking=yes"));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("UpdateHostKeys=no"));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("CheckHostIP=no"));
        g_ptr_array_add(argv, g_strdup("-o"));
        /* Ready says that sshd listens, not that it answers yet: under emulation its first
         * greeting takes many seconds. The wait's own budget bounds it. */
        g_ptr_array_add(argv, g_strdup_printf("ConnectTimeout=%" PRIu64, MAX(args->timeout_sec, (uint64_t) 5)));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("LogLevel=ERROR"));
        g_ptr_array_add(argv, g_strdup("-p"));
        g_ptr_array_add(argv, g_strdup("22"));
        g_ptr_array_add(argv, g_strdup("-l"));
        g_ptr_array_add(argv, g_strdup(user));
        g_ptr_array_add(argv, g_strdup(ip));
        /* After "--" nothing is taken for an option of ssh. */
        if (args->remote_command && args->remote_command[0]) {
                g_ptr_array_add(argv, g_strdup("--"));
                for (char **c = args->remote_command; *c; c++)
                        g_ptr_array_add(argv, g_strdup(*c));
        }
        g_ptr_array_add(argv, NULL);
        return argv;
}

static int run_ssh(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *reply = NULL;
        g_autofree char *key = NULL, *user = NULL, *known_hosts = NULL;
        g_autoptr(GPtrArray) argv = NULL;
        VmInfo info;
        const char *path;
        int r;

        r = get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;
        r = get_vm_info(bus, args, path, &reply, &info);
        if (r >= 0)
                return r;
        /* The guest has one account, its owner's: nobody else can log in. */
        if (info.has_owner && (uid_t) info.owner != getuid()) {
                g_autofree char *owner = format_user(info.owner);
                return fail(EXIT_NOT_AUTHORIZED, "%s belongs to %s; only its owner can log into it", args->name, owner);
        }
        /* Not running at all: say so at once rather than wait. */
        r = ssh_check_vm(args, &info);
        if (r >= 0)
                return r;
        if (!info.workspace || !info.workspace[0])
                return fail(EXIT_FAILURE, "microvmd did not say where the workspace of %s is", args->name);
        r = read_host_key(args, info.workspace, &key);
        if (r >= 0)
                return r;
        r = owner_name(args, &info, &user);
        if (r >= 0)
                return r;

        r = wait_for_ssh(bus, args, path, &reply, &info);
        if (r >= 0)
                return r;

        r = write_known_hosts(info.ip_address, key, &known_hosts);
        if (r >= 0)
                return r;
        argv = build_ssh_argv(args, known_hosts, user, info.ip_address);
        r = run_and_wait((char **) argv->pdata);
        (void) unlink(known_hosts);
        return r;
}

/* ---------------------------------------------------------------------------------- */
/* Command line. */

static void print_help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Create and manage microVM workspaces through microvmd.\n"
               "\n"
               "Commands:\n"
               "  create NAME [--vcpus N] [--memory SIZE] [--ip ADDRESS] [--volume SIZE]\n"
               "              [--egress internet|none] [--key FILE]...\n"
               "                         Create a VM and its workspace; the keys in\n"
               "                         ~/.ssh/*.pub (or the --key files) may log in\n"
               "  delete NAME [--purge]  Delete a VM (--purge also removes its workspace)\n"
               "  list                   List the VMs\n"
               "  status NAME            Show the state and properties of a VM\n"
               "  start NAME [--no-wait] Start a VM and wait until it runs\n"
               "  stop NAME [--force]    Shut a VM down and wait until it is stopped\n"
               "  restart NAME           Stop a VM and start it again, with a fresh guest\n"
               "  autostart NAME on|off  Start a VM or not when microvmd starts at boot\n"
               "  logs NAME [-f] [-n N]  Show the log of a VM (its serial console)\n"
               "  console NAME           Connect to the console of a running VM\n"
               "                         (Ctrl-] leaves)\n"
               "  ssh NAME [--timeout SECS] [-- COMMAND...]\n"
               "                         Log into a running VM with ssh as its owner, or\n"
               "                         run COMMAND there; waits while it boots\n"
               "  help                   Show this help\n"
               "\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --no-ask-password   Do not ask for a password to authorize an action\n"
               "     --json              Print JSON instead of tables\n"
               "     --vcpus N           Number of virtual CPUs of a new VM\n"
               "     --memory SIZE       Memory of a new VM: MiB, or with a suffix M, G or T\n"
               "                         (binary units, e.g. 8G)\n"
               "     --ip ADDRESS        Address of a new VM in the VM subnet (default: the\n"
               "                         lowest free one)\n"
               "     --volume SIZE       A persistent volume of SIZE (whole GiB, e.g. 8G) for a\n"
               "                         new VM, mounted on /var in the guest\n"
               "     --egress POLICY     What a new VM may reach: internet (public addresses)\n"
               "                         or none (only DNS); never more than the config allows\n"
               "     --key FILE          Send the public keys in FILE instead of\n"
               "                         ~/.ssh/*.pub; may be given more than once\n"
               "     --purge             Also remove the workspace directory on delete\n"
               "     --no-wait           Do not wait until a started VM runs\n"
               "     --force             Kill the VM instead of shutting the guest down\n"
               "  -f --follow            Keep showing new log lines until interrupted\n"
               "  -n --lines N           Show only the last N lines of the log\n"
               "     --timeout SECS      How long ssh waits for a booting VM to accept\n"
               "                         SSH connections (default: %d)\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 bad command line, 3 no such VM,\n"
               "4 not authorized, 130 interrupted while waiting for start or stop;\n"
               "ssh: the exit status of ssh (255 when ssh itself failed).\n"
               "\n"
               "See the %s(1) man page for details.\n",
               PROGRAM_NAME, SSH_DEFAULT_TIMEOUT_SEC, PROGRAM_NAME);
}

enum {
        ARG_VERSION = 0x100,
        ARG_NO_ASK_PASSWORD,
        ARG_JSON,
        ARG_VCPUS,
        ARG_IP,
        ARG_VOLUME,
        ARG_EGRESS,
        ARG_MEMORY,
        ARG_KEY,
        ARG_PURGE,
        ARG_NO_WAIT,
        ARG_FORCE,
        ARG_TIMEOUT,
};

/* Accepted both before and after the command. */
#define GLOBAL_OPTIONS                                                          \
        { "help",            no_argument,       NULL, 'h'                 }, \
        { "version",         no_argument,       NULL, ARG_VERSION         }, \
        { "no-ask-password", no_argument,       NULL, ARG_NO_ASK_PASSWORD }, \
        { "json",            no_argument,       NULL, ARG_JSON            }

static const struct option global_options[] = {
        GLOBAL_OPTIONS,
        {}
};

static const struct option create_options[] = {
        GLOBAL_OPTIONS,
        { "vcpus",  required_argument, NULL, ARG_VCPUS  },
        { "memory", required_argument, NULL, ARG_MEMORY },
        { "ip",     required_argument, NULL, ARG_IP     },
        { "volume", required_argument, NULL, ARG_VOLUME },
        { "egress", required_argument, NULL, ARG_EGRESS },
        { "key",    required_argument, NULL, ARG_KEY    },
        {}
};

static const struct option delete_options[] = {
        GLOBAL_OPTIONS,
        { "purge", no_argument, NULL, ARG_PURGE },
        {}
};

static const struct option start_options[] = {
        GLOBAL_OPTIONS,
        { "no-wait", no_argument, NULL, ARG_NO_WAIT },
        {}
};

static const struct option stop_options[] = {
        GLOBAL_OPTIONS,
        { "force", no_argument, NULL, ARG_FORCE },
        {}
};

static const struct option ssh_options[] = {
        GLOBAL_OPTIONS,
        { "timeout", required_argument, NULL, ARG_TIMEOUT },
        {}
};

static const struct option logs_options[] = {
        GLOBAL_OPTIONS,
        { "follow", no_argument,       NULL, 'f' },
        { "lines",  required_argument, NULL, 'n' },
        {}
};

typedef enum Positional {
        POSITIONAL_NONE,
        POSITIONAL_NAME,
        POSITIONAL_NAME_ON_OFF, /* NAME on|off */
} Positional;

typedef struct Command {
        const char *name;
        Positional positional;
        const struct option *options;
        const char *optstring; /* the short options */
        int (*run)(sd_bus *bus, const Args *args);
        bool remote_command; /* takes "-- COMMAND..." after its arguments */
} Command;

static const Command commands[] = {
        { "create",    POSITIONAL_NAME,        create_options, ":h",    run_create    },
        { "delete",    POSITIONAL_NAME,        delete_options, ":h",    run_delete    },
        { "list",      POSITIONAL_NONE,        global_options, ":h",    run_list      },
        { "status",    POSITIONAL_NAME,        global_options, ":h",    run_status    },
        { "start",     POSITIONAL_NAME,        start_options,  ":h",    run_start     },
        { "stop",      POSITIONAL_NAME,        stop_options,   ":h",    run_stop      },
        { "restart",   POSITIONAL_NAME,        global_options, ":h",    run_restart   },
        { "autostart", POSITIONAL_NAME_ON_OFF, global_options, ":h",    run_autostart },
        { "logs",      POSITIONAL_NAME,        logs_options,   ":hfn:", run_logs      },
        { "console",   POSITIONAL_NAME,        global_options, ":h",    run_console   },
        { "ssh",       POSITIONAL_NAME,        ssh_options,    ":h",    run_ssh,      true },
        { "help",      POSITIONAL_NONE,        global_options, ":h",    NULL          }, /* prints the help */
};

static int parse_vcpus(const char *value, Args *args) {
        uint64_t v;

        if (mvm_parse_uint64(value, &v) < 0)
                return fail(EXIT_USAGE, "--vcpus needs a positive whole number, not '%s'", value);
        if (v == 0 || v > UINT32_MAX)
                return fail(EXIT_USAGE, "--vcpus %s is out of range (1 to %" PRIu32 ")",
                            value, UINT32_MAX);
        args->vcpus = (uint32_t) v;
        args->vcpus_set = true;
        return -1;
}

static int parse_memory(const char *value, Args *args) {
        uint64_t mib;
        int r;

        r = mvm_parse_size_mib(value, &mib);
        if (r == -ERANGE)
                return fail(EXIT_USAGE, "--memory %s is too large", value);
        if (r < 0)
                return fail(EXIT_USAGE, "--memory needs a size in MiB or with a suffix M, G or T "
                            "(e.g. 4096 or 4G), not '%s'", value);
        if (mib == 0)
                return fail(EXIT_USAGE, "--memory must be more than 0");
        args->memory_mib = mib;
        args->memory_set = true;
        return -1;
}

/* At most a day: a typo should not make ssh wait for ever. */
static int parse_timeout(const char *value, Args *args) {
        uint64_t v;

        if (mvm_parse_uint64(value, &v) < 0)
                return fail(EXIT_USAGE, "--timeout needs a number of seconds, not '%s'", value);
        if (v > 86400)
                return fail(EXIT_USAGE, "--timeout %s is out of range (0 to 86400 seconds)", value);
        args->timeout_sec = v;
        return -1;
}

static int parse_lines(const char *value, Args *args) {
        uint64_t v;

        if (mvm_parse_uint64(value, &v) < 0 || v == 0)
                return fail(EXIT_USAGE, "--lines needs a positive whole number, not '%s'", value);
        args->lines = v;
        return -1;
}

/* Returns -1 to go on, otherwise the exit code (0 after --help or --version). */
static int handle_option(int c, char **argv, Args *args) {
        switch (c) {
        case 'h':
                print_help();
                return EXIT_SUCCESS;
        case ARG_VERSION:
                printf("%s %s\n", PROGRAM_NAME, PACKAGE_VERSION);
                return EXIT_SUCCESS;
        case ARG_NO_ASK_PASSWORD:
                args->ask_password = false;
                return -1;
        case ARG_JSON:
                args->json = true;
                return -1;
        case ARG_VCPUS:
                return parse_vcpus(optarg, args);
        case ARG_MEMORY:
                return parse_memory(optarg, args);
        case ARG_VOLUME: {
                uint64_t mib;
                if (mvm_parse_size_mib(optarg, &mib) < 0 || mib == 0 || mib % 1024 != 0)
                        return fail(EXIT_USAGE, "--volume needs a size in whole GiB, like 8G, not '%s'", optarg);
                args->volume_gib = mib / 1024;
                return -1;
        }
        case ARG_EGRESS:
                if (!mvm_vm_egress_is_valid(optarg))
                        return fail(EXIT_USAGE, "--egress must be internet or none, not '%s'", optarg);
                args->egress = optarg;
                return -1;
        case ARG_IP: {
                uint32_t a;
                if (mvm_ipv4_parse(optarg, &a) < 0)
                        return fail(EXIT_USAGE, "--ip needs an IPv4 address like 192.168.83.7, not '%s'", optarg);
                args->ip_address = optarg;
                return -1;
        }
        case ARG_KEY:
                if (!optarg[0])
                        return usage_error("--key needs a file name");
                if (!args->key_files)
                        args->key_files = g_ptr_array_new();
                g_ptr_array_add(args->key_files, optarg);
                return -1;
        case ARG_PURGE:
                args->purge = true;
                return -1;
        case ARG_NO_WAIT:
                args->no_wait = true;
                return -1;
        case ARG_FORCE:
                args->force = true;
                return -1;
        case 'f':
                args->follow = true;
                return -1;
        case 'n':
                return parse_lines(optarg, args);
        case ARG_TIMEOUT:
                return parse_timeout(optarg, args);
        case ':':
                if (!g_str_has_prefix(argv[optind - 1], "--"))
                        return usage_error("option '-%c' needs a value", optopt);
                return usage_error("option '%s' needs a value", argv[optind - 1]);
        case '?':
                if (!g_str_has_prefix(argv[optind - 1], "--"))
                        return usage_error("unknown option '-%c'", optopt);
                if (optopt != 0)
                        return usage_error("option '%s' takes no value", argv[optind - 1]);
                return usage_error("unknown option '%s'", argv[optind - 1]);
        default:
                return fail(EXIT_FAILURE, "unexpected option %d", c);
        }
}

/* Parses options up to the end of argv. Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, const char *optstring,
                         const struct option *options, Args *args) {
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                int r = handle_option(c, argv, args);
                if (r >= 0)
                        return r;
        }
        return -1;
}

static int parse_on_off(const Command *command, const char *value, Args *args) {
        if (!value)
                return usage_error("'%s' needs 'on' or 'off' after the name of the VM", command->name);
        if (g_str_equal(value, "on"))
                args->autostart = true;
        else if (g_str_equal(value, "off"))
                args->autostart = false;
        else
                return usage_error("'%s' needs 'on' or 'off', not '%s'", command->name, value);
        return -1;
}

static const Command *find_command(const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
                if (g_str_equal(commands[i].name, name))
                        return &commands[i];
        return NULL;
}

/* Parses the whole command line. Returns -1 and the command to run, or the exit code. */
static int parse_argv(int argc, char **argv, Args *args, const Command **ret_command) {
        const Command *command;
        char **cmd_argv;
        int cmd_argc, r, n_positional;

        /* "+": stop at the command word; its own options are parsed below. */
        r = parse_options(argc, argv, "+:h", global_options, args);
        if (r >= 0)
                return r;
        if (optind >= argc)
                return usage_error("no command given");

        command = find_command(argv[optind]);
        if (!command)
                return usage_error("unknown command '%s'", argv[optind]);

        /* Options may come before or after the NAME: parse the rest from scratch,
         * with argv[0] being the command word. */
        cmd_argv = argv + optind;
        cmd_argc = argc - optind;
        if (command->remote_command) {
                /* Everything after "--" is the command, options of its own included;
                 * argv is NULL-terminated, so that part is too. */
                for (int i = 1; i < cmd_argc; i++)
                        if (g_str_equal(cmd_argv[i], "--")) {
                                args->remote_command = cmd_argv + i + 1;
                                cmd_argc = i;
                                break;
                        }
        }
        optind = 0;
        r = parse_options(cmd_argc, cmd_argv, command->optstring, command->options, args);
        if (r >= 0)
                return r;

        args->command = command->name;
        n_positional = cmd_argc - optind;
        if (command->positional != POSITIONAL_NONE) {
                const char *reason;

                if (n_positional < 1)
                        return usage_error("'%s' needs the name of a VM", command->name);
                args->name = cmd_argv[optind];
                reason = mvm_name_invalid_reason(args->name);
                if (reason)
                        return fail(EXIT_USAGE, "invalid VM name '%s': %s", args->name, reason);
                n_positional--;
        }
        if (command->positional == POSITIONAL_NAME_ON_OFF) {
                r = parse_on_off(command, n_positional > 0 ? cmd_argv[optind + 1] : NULL, args);
                if (r >= 0)
                        return r;
                n_positional--;
        }
        if (n_positional > 0 && command->remote_command)
                return usage_error("too many arguments for '%s' (a command to run goes after '--')",
                                   command->name);
        if (n_positional > 0)
                return usage_error("too many arguments for '%s'", command->name);

        if (args->key_files)
                g_ptr_array_add(args->key_files, NULL);
        *ret_command = command;
        return -1;
}

static int finish_output(int exit_code) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                int saved = errno;
                if (exit_code == EXIT_SUCCESS)
                        return fail(EXIT_FAILURE, "cannot write the output: %s", strerror(saved));
        }
        return exit_code;
}

int main(int argc, char **argv) {
        Args args = { .ask_password = true, .timeout_sec = SSH_DEFAULT_TIMEOUT_SEC };
        const Command *command = NULL;
        sd_bus *bus = NULL;
        int r;

        r = parse_argv(argc, argv, &args, &command);
        if (r >= 0) {
                args_clear(&args);
                return finish_output(r);
        }

        if (!command->run) {
                print_help();
                args_clear(&args);
                return finish_output(EXIT_SUCCESS);
        }

        r = open_bus(&args, &bus);
        if (r == 0) {
                r = command->run(bus, &args);
                sd_bus_flush_close_unref(bus);
        }

        polkit_agent_close();
        args_clear(&args);
        return finish_output(r);
}
