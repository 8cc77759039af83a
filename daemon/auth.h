/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* Called once the decision is in: r > 0 allowed; r == 0 refused with error set; r < 0
 * the check itself failed (error set). The method call stays referenced until then. */
typedef void (*AuthCallback)(Manager *m, sd_bus_message *call, int r, sd_bus_error *error,
                             void *userdata);

/* Asks polkit whether the sender of call may do action, asynchronously (the daemon
 * never blocks on a password prompt). details: key, value, ..., NULL. root is always
 * allowed, as systemd's daemons do. Returns < 0 only if the check could not start. */
int auth_check_async(Manager *m, sd_bus_message *call, const char *action,
                     const char *const *details, AuthCallback callback, void *userdata);

/* Cancels checks in flight and frees their state (at exit). */
void auth_cancel_all(Manager *m);
