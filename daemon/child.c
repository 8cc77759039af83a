/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "child.h"

#include <signal.h>

void child_setup_unblock_signals(void *userdata) {
        sigset_t none;

        (void) userdata;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
}
