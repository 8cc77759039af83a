/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Waiting in front of the user (start, stop, restart, ssh while the VM boots): a
 * spinner line on stderr, and SIGINT and SIGTERM that end the wait, not the program,
 * so it can say what goes on without it. */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/* How often a spinner turns. */
#define PROGRESS_INTERVAL_USEC (UINT64_C(100) * 1000)

typedef struct Spinner {
        unsigned turn;
        bool visible;
} Spinner;

/* Replaces the line on stderr with the next turn of the spinner and the text. */
G_GNUC_PRINTF(2, 3)
void spinner_draw(Spinner *spinner, const char *fmt, ...);

/* Erases the line, if it was drawn. */
void spinner_clear(Spinner *spinner);

typedef struct InterruptHandlers {
        struct sigaction old_int, old_term;
} InterruptHandlers;

/* From now until interrupts_restore(), SIGINT and SIGTERM only make
 * wait_interrupted() true (and cut a poll() or sd_bus_wait() short). */
void interrupts_catch(InterruptHandlers *saved);
void interrupts_restore(const InterruptHandlers *saved);
bool wait_interrupted(void);
