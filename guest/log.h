/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Messages of microvm-init: one line each, "microvm-init: ..." on standard error, which
 * is /dev/console when it runs as PID 1 (the serial console: the VM's log). */

#define GUEST_LOG_PREFIX "microvm-init: "

void guest_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* The same with "error: " after the prefix: something went wrong, the guest goes on. */
void guest_log_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
