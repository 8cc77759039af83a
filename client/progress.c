/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client's spinner line and interruptible waits. */

#include "progress.h"

#include <stdarg.h>
#include <stdio.h>

static volatile sig_atomic_t interrupted_by = 0;

void spinner_draw(Spinner *spinner, const char *fmt, ...) {
        static const char turns[] = "|/-\\";
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        fprintf(stderr, "\r\033[K%c %s", turns[spinner->turn++ % 4], text);
        fflush(stderr);
        spinner->visible = true;
}

void spinner_clear(Spinner *spinner) {
        if (!spinner->visible)
                return;
        fputs("\r\033[K", stderr);
        fflush(stderr);
        spinner->visible = false;
}

static void on_interrupt(int sig) {
        interrupted_by = sig;
}

void interrupts_catch(InterruptHandlers *saved) {
        /* No SA_RESTART: the signal must cut the current wait short. */
        struct sigaction sa = { .sa_handler = on_interrupt };

        sigemptyset(&sa.sa_mask);
        interrupted_by = 0;
        (void) sigaction(SIGINT, &sa, &saved->old_int);
        (void) sigaction(SIGTERM, &sa, &saved->old_term);
}

void interrupts_restore(const InterruptHandlers *saved) {
        (void) sigaction(SIGINT, &saved->old_int, NULL);
        (void) sigaction(SIGTERM, &saved->old_term, NULL);
}

bool wait_interrupted(void) {
        return interrupted_by != 0;
}
