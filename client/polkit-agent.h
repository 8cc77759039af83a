/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Runs polkit's text agent (pkttyagent) beside a method call that may need a password,
 * as systemctl does: only for a non-root caller whose stdin is a terminal, registered
 * as a fallback so a desktop agent keeps precedence. */

/* Starts the agent and waits until it has registered with polkit. Returns 0 when the
 * agent runs or is not needed, a negative errno when it could not be started (the call
 * can still go ahead; it will then fail if a password is needed). */
int polkit_agent_open(void);

/* Stops and reaps the agent, if one runs. Safe to call more than once. */
void polkit_agent_close(void);

/* Whether an agent runs now, so it may be asking for a password on the terminal. */
bool polkit_agent_is_running(void);
