/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* For g_spawn_*()'s child_setup: microvmd blocks SIGTERM and SIGINT (sd-event takes
 * them from a signalfd), and a blocked mask survives exec: without this, a helper such
 * as a following journalctl could not be stopped by SIGTERM. Async-signal-safe. */
void child_setup_unblock_signals(void *userdata);
