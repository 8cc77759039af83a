/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client logs and console: the VM's serial console, as a log to copy or a
 * live connection. microvmd hands out a file descriptor; relay.c moves the bytes. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "commands.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "output.h"
#include "relay.h"

/* Returns -1 and the descriptor the VM's method returned, or the exit code. */
static int call_for_fd(sd_bus *bus, const Args *args, sd_bus_message *m, int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int fd, r;

        r = bus_call_authorized(args, bus, m, args->name, &reply);
        if (r >= 0)
                return r;
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

int run_logs(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        r = bus_new_vm_call(bus, args, "GetLogs", &m);
        if (r >= 0)
                return r;
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

int run_console(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int fd = -1;
        bool interactive = isatty(STDIN_FILENO);
        int r;

        r = bus_new_vm_call(bus, args, "OpenConsole", &m);
        if (r >= 0)
                return r;
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
