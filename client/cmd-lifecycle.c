/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client start, stop and restart: one call to microvmd each, waited for with
 * a progress line, and the VM's state told at the end. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "commands.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "output.h"
#include "polkit-agent.h"
#include "progress.h"
#include "vm-info.h"

/* Starting may wait for a password and for the hypervisor; stopping waits for the
 * guest to shut down, which microvmd gives [Hypervisor] StopTimeoutSec (150 s by
 * default, configurable) before it stops the unit itself. Be generous: the user can
 * always interrupt the wait, and the VM's state is microvmd's business anyway. */
#define START_CALL_TIMEOUT_USEC (UINT64_C(10) * 60 * 1000000)
#define STOP_CALL_TIMEOUT_USEC  (UINT64_C(30) * 60 * 1000000)

typedef struct LifecycleCall {
        const char *vm_name;
        const char *progress_verb; /* "Starting" */
        bool show_progress;        /* stderr is a terminal */
        Spinner spinner;
        /* Only once polkit has said yes may the progress line be drawn: until then an
         * agent may be asking for a password on the same terminal. microvmd changes the
         * VM's properties only once it acts, so their first change tells. */
        bool acting;
        char *state; /* the VM's latest State, once it changed */
        sd_bus_message *reply;
} LifecycleCall;

static void progress_draw(LifecycleCall *c) {
        g_autofree char *state = NULL;

        if (!c->show_progress || !c->acting)
                return;
        if (c->state)
                state = g_strdup_printf(" (%s)", c->state);
        spinner_draw(&c->spinner, "%s %s...%s", c->progress_verb, c->vm_name, state ?: "");
}

static int on_vm_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        LifecycleCall *c = userdata;
        VmInfo info = {};
        const char *interface;

        if (sd_bus_message_read(m, "s", &interface) < 0 || !g_str_equal(interface, MVM_VM_INTERFACE))
                return 0;
        c->acting = true;
        /* Shown beside the spinner; a restart goes through stopping and starting. */
        if (vm_info_read(m, &info) >= 0 && info.state) {
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
        InterruptHandlers saved;
        int r = 0;

        interrupts_catch(&saved);
        while (!c->reply) {
                if (wait_interrupted()) {
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
        interrupts_restore(&saved);
        return r;
}

static int build_lifecycle_call(sd_bus *bus, const Args *args, const char *method, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_new_manager_call(bus, method, args->name, &m);
        if (r >= 0 && g_str_equal(method, "StartVM") && args->no_wait)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_WAIT, "b", 0);
        if (r >= 0 && g_str_equal(method, "StopVM") && args->force)
                r = sd_bus_message_append(m, "{sv}", MVM_OPTION_FORCE, "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        *ret = MVM_TAKE_PTR(m);
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
            vm_info_read(reply, &info) < 0 || !info.state) {
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

/* Sends the call and waits for its reply, with the polkit agent running meanwhile.
 * Returns as wait_for_reply() does; c->reply is set when it returns 0. */
static int send_and_wait(sd_bus *bus, const Args *args, sd_bus_message *m, uint64_t timeout_usec,
                         LifecycleCall *c) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *call_slot = NULL;
        int r;

        if (args->ask_password)
                (void) polkit_agent_open();
        /* No agent on the terminal: nobody will be asked, the line may show at once. */
        c->acting = !polkit_agent_is_running();

        r = sd_bus_call_async(bus, &call_slot, m, on_lifecycle_reply, c, timeout_usec);
        if (r >= 0)
                r = wait_for_reply(bus, c);
        polkit_agent_close();
        spinner_clear(&c->spinner);
        return r;
}

static int run_lifecycle(sd_bus *bus, const Args *args, const char *method, const char *progress_verb,
                         uint64_t timeout_usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match_slot = NULL;
        LifecycleCall c = {
                .vm_name = args->name,
                .progress_verb = progress_verb,
                .show_progress = isatty(STDERR_FILENO),
        };
        const sd_bus_error *error;
        const char *path;
        int r;

        r = bus_get_vm_path(bus, args, &vm_reply, &path);
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

        r = send_and_wait(bus, args, m, timeout_usec, &c);
        reply = c.reply;
        g_clear_pointer(&c.state, g_free);
        if (r == -EINTR) {
                report_interrupted(args, progress_verb);
                return EXIT_INTERRUPTED;
        }
        if (r < 0)
                return fail(EXIT_FAILURE, "cannot talk to microvmd: %s", strerror(-r));

        error = sd_bus_message_get_error(reply);
        if (error)
                return fail_bus_call(args, error, sd_bus_message_get_errno(reply), args->name);

        if (!args->json)
                print_vm_state(bus, args, path);
        return EXIT_SUCCESS;
}

int run_start(sd_bus *bus, const Args *args) {
        return run_lifecycle(bus, args, "StartVM", "Starting", START_CALL_TIMEOUT_USEC);
}

int run_stop(sd_bus *bus, const Args *args) {
        return run_lifecycle(bus, args, "StopVM", "Stopping", STOP_CALL_TIMEOUT_USEC);
}

int run_restart(sd_bus *bus, const Args *args) {
        return run_lifecycle(bus, args, "RestartVM", "Restarting",
                             STOP_CALL_TIMEOUT_USEC + START_CALL_TIMEOUT_USEC);
}
