/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* microvm-client's side of the system bus: connecting, calls that polkit may have to
 * authorize (with the text agent beside them), finding a VM's object, and turning a
 * failed call into its one-line message and exit code. */

#include <systemd/sd-bus.h>

#include "client.h"

/* Connects to the system bus, allowing interactive authorization unless
 * --no-ask-password. Returns 0, or the exit code after saying why not. */
int bus_open(const Args *args, sd_bus **ret);

/* Sends a call that polkit may have to authorize, with the text agent running
 * meanwhile when it may be needed. vm_name as for fail_bus_call(). Returns -1 and the
 * reply (when ret_reply is not NULL), or the exit code after saying why not. */
int bus_call_authorized(const Args *args, sd_bus *bus, sd_bus_message *m, const char *vm_name,
                        sd_bus_message **ret_reply);

/* Starts a call of the Manager's method(NAME, a{sv} options), the options' array left
 * open for the caller to fill and close. Returns 0 or a negative errno. */
int bus_new_manager_call(sd_bus *bus, const char *method, const char *name, sd_bus_message **ret);

/* Looks up the VM args->name. Returns -1 and its object path (owned by *ret_reply),
 * or the exit code. */
int bus_get_vm_path(sd_bus *bus, const Args *args, sd_bus_message **ret_reply, const char **ret_path);

/* Looks up the VM args->name and starts a call of its method, for the caller to
 * append the arguments. Returns -1 and the call, or the exit code. */
int bus_new_vm_call(sd_bus *bus, const Args *args, const char *method, sd_bus_message **ret);

/* Turns a failed call into the one-line message and returns the exit code. vm_name,
 * when not NULL, is the VM the call was about (for an object that vanished
 * meanwhile). */
int fail_bus_call(const Args *args, const sd_bus_error *error, int r, const char *vm_name);

/* For a message that could not be built or read. Returns the exit code. */
int fail_bus_message(int r);
