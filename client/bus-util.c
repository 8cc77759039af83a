/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client's bus connection, authorized calls and the messages of failed calls. */

#include "bus-util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "output.h"
#include "polkit-agent.h"

/* A call that may wait for someone to type a password gets more time than sd-bus's
 * default of 25 s. */
#define INTERACTIVE_CALL_TIMEOUT_USEC (UINT64_C(120) * 1000000)

int bus_open(const Args *args, sd_bus **ret) {
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

int bus_call_authorized(const Args *args, sd_bus *bus, sd_bus_message *m, const char *vm_name,
                        sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t timeout = 0;
        int r;

        if (args->ask_password) {
                /* Without the agent the call still goes ahead: a desktop agent, a rule
                 * or membership in the group microvm may authorize it. */
                (void) polkit_agent_open();
                timeout = INTERACTIVE_CALL_TIMEOUT_USEC;
        }
        r = sd_bus_call(bus, m, timeout, &error, ret_reply);
        polkit_agent_close();
        if (r < 0)
                return fail_bus_call(args, &error, r, vm_name);
        return -1;
}

int bus_new_manager_call(sd_bus *bus, const char *method, const char *name, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, MVM_BUS_NAME, MVM_MANAGER_PATH,
                                           MVM_MANAGER_INTERFACE, method);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        *ret = MVM_TAKE_PTR(m);
        return 0;
}

int bus_get_vm_path(sd_bus *bus, const Args *args, sd_bus_message **ret_reply, const char **ret_path) {
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

int bus_new_vm_call(sd_bus *bus, const Args *args, const char *method, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL;
        const char *path;
        int r;

        r = bus_get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;
        /* The call holds its own copy of the path. */
        r = sd_bus_message_new_method_call(bus, ret, MVM_BUS_NAME, path, MVM_VM_INTERFACE, method);
        if (r < 0)
                return fail_bus_message(r);
        return -1;
}

static const char *bus_error_text(const sd_bus_error *error, int r) {
        if (sd_bus_error_is_set(error)) {
                if (error->message && error->message[0])
                        return error->message;
                return error->name;
        }
        return strerror(r < 0 ? -r : r);
}

/* When polkit wanted a password that nobody could type: say which of the ways to
 * type it was missing. */
static int fail_password_needed(const Args *args) {
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

int fail_bus_call(const Args *args, const sd_bus_error *error, int r, const char *vm_name) {
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return fail(EXIT_FAILURE, "microvmd is not installed or not running "
                            "(nobody provides %s on the system bus)", MVM_BUS_NAME);

        if (sd_bus_error_is_set(error) &&
            g_str_has_prefix(error->name, "org.freedesktop.DBus.Error.Spawn."))
                return fail(EXIT_FAILURE, "microvmd could not be started: %s",
                            bus_error_text(error, r));

        if (sd_bus_error_has_name(error, MVM_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                return fail_password_needed(args);

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

int fail_bus_message(int r) {
        return fail(EXIT_FAILURE, "cannot handle a D-Bus message: %s", strerror(-r));
}
