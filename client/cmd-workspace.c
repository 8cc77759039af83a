/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client create, delete and autostart: the commands that change which VMs
 * exist and how they start. */

#include <errno.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authorized-keys.h"
#include "bus-util.h"
#include "commands.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "output.h"

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

/* [Manager] DefaultCredentialsDirectory=, "~/" made your home; NULL when there is none
 * or microvmd does not say. */
static char *default_credentials_directory(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *value = NULL;
        char *s = NULL;
        struct passwd *pw;

        if (sd_bus_get_property_string(bus, MVM_BUS_NAME, MVM_MANAGER_PATH, MVM_MANAGER_INTERFACE,
                                       "DefaultCredentialsDirectory", &error, &s) < 0)
                return NULL;
        value = g_strdup(s);
        free(s);
        if (!value[0])
                return NULL;
        if (!g_str_has_prefix(value, "~/"))
                return g_steal_pointer(&value);
        /* The user database's home, as microvmd's check of ownership sees you. */
        pw = getpwuid(getuid());
        if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
                return NULL;
        return g_build_filename(pw->pw_dir, value + 2, NULL);
}

/* The credentials directory a new VM gets: --credentials, or the configured default,
 * created (0700, yours) on first use. Returns -1 and *ret (NULL: none), or an exit code. */
static int pick_credentials_directory(sd_bus *bus, const Args *args, char **ret) {
        g_autofree char *dir = NULL;

        *ret = NULL;
        if (args->no_credentials)
                return -1;
        if (args->credentials) {
                *ret = g_strdup(args->credentials);
                return -1;
        }
        dir = default_credentials_directory(bus);
        if (!dir)
                return -1;
        if (!g_file_test(dir, G_FILE_TEST_EXISTS)) {
                if (g_mkdir_with_parents(dir, 0700) < 0)
                        return fail(EXIT_FAILURE, "cannot create the credentials directory %s: %s", dir,
                                    strerror(errno));
                if (!args->json)
                        printf("Created the credentials directory %s\n", dir);
        }
        *ret = g_steal_pointer(&dir);
        return -1;
}

/* CreateWorkspace with the options the command line gave (the others are left to
 * microvmd's config) and the keys, NULL-terminated. */
static int build_create_call(sd_bus *bus, const Args *args, const char *credentials, GPtrArray *keys,
                             sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_new_manager_call(bus, "CreateWorkspace", args->name, &m);
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
        if (r >= 0 && credentials)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_CREDENTIALS_DIRECTORY, "s", credentials);
        if (r >= 0)
                r = append_option_keys(m, keys);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        *ret = MVM_TAKE_PTR(m);
        return 0;
}

static void print_created(sd_bus *bus, const Args *args, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *workspace = NULL;
        char *s = NULL;

        if (args->json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_add_string(b, "name", args->name);
                json_add_string(b, "object-path", path);
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

int run_create(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        g_autoptr(GPtrArray) keys = NULL;
        g_autoptr(GError) gerror = NULL;
        g_autofree char *credentials = NULL;
        const char *path;
        int r;

        keys = client_collect_authorized_keys(args->key_files ? (char **) args->key_files->pdata : NULL,
                                              &gerror);
        if (!keys)
                return fail(EXIT_FAILURE, "%s", gerror->message);
        g_ptr_array_add(keys, NULL);

        r = pick_credentials_directory(bus, args, &credentials);
        if (r >= 0)
                return r;
        r = build_create_call(bus, args, credentials, keys, &m);
        if (r < 0)
                return fail_bus_message(r);

        r = bus_call_authorized(args, bus, m, NULL, &reply);
        if (r >= 0)
                return r;

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

int run_delete(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_new_manager_call(bus, "DeleteWorkspace", args->name, &m);
        if (r >= 0 && args->purge)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_REMOVE_FILES, "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return fail_bus_message(r);

        r = bus_call_authorized(args, bus, m, args->name, NULL);
        if (r >= 0)
                return r;

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
/* autostart */

int run_autostart(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_new_vm_call(bus, args, "SetAutostart", &m);
        if (r >= 0)
                return r;
        r = sd_bus_message_append(m, "b", (int) args->autostart);
        if (r < 0)
                return fail_bus_message(r);

        r = bus_call_authorized(args, bus, m, args->name, NULL);
        if (r >= 0)
                return r;

        if (!args->json) {
                if (args->autostart)
                        printf("%s now starts when microvmd starts.\n", args->name);
                else
                        printf("%s no longer starts when microvmd starts.\n", args->name);
        }
        return EXIT_SUCCESS;
}
