/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* Whether the sender of call may do action, the way systemd's daemons ask
 * (bus_verify_polkit_async()): the daemon never blocks on polkit or a password prompt.
 *
 * The first time, a polkit check starts and 0 is returned: the method handler returns 1
 * without a reply and changes nothing. When polkit answers, the answer is kept with the
 * call and the same message is dispatched again, so the handler runs from the top: it
 * reads its arguments and finds its objects again, calls auth_verify() again with what
 * it now sees, and gets the answer at once. An answer is used only for the same action
 * and the same details; anything else (the VM was replaced meanwhile, or a second action
 * of the same call) starts a check of its own. Answers live until that second dispatch
 * is over: they are never reused by another call.
 *
 * details: key, value, ..., NULL. root is always allowed. The caller may allow
 * interactive authorization (a polkit agent asks for a password) with the message flag.
 *
 * Returns 1 allowed; 0 polkit is being asked; -EACCES refused (NotAuthorized or
 * InteractiveAuthorizationRequired) or another negative errno when the check failed,
 * with error set (org.microvm.Error.Failed). */
int auth_verify(Manager *m, sd_bus_message *call, const char *action, const char *const *details,
                sd_bus_error *error);

/* At exit: cancels the checks in flight (their calls get org.microvm.Error.Failed) and
 * frees every query, also those whose call never came back. */
void auth_cancel_all(Manager *m);
