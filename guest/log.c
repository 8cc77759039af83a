/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One write(2) per line, so that lines of sshd or the kernel cannot land inside ours. */
static void log_line(const char *kind, const char *format, va_list ap) {
        char line[1024];
        int saved_errno = errno;
        int n = snprintf(line, sizeof(line), "%s%s", GUEST_LOG_PREFIX, kind);

        if (n < 0 || (size_t) n >= sizeof(line))
                n = 0;
        int m = vsnprintf(line + n, sizeof(line) - (size_t) n - 1, format, ap);
        if (m < 0)
                m = 0;
        n += m;
        if ((size_t) n > sizeof(line) - 2)
                n = sizeof(line) - 2;
        line[n++] = '\n';
        (void) !write(STDERR_FILENO, line, (size_t) n);
        errno = saved_errno;
}

void guest_log(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        log_line("", format, ap);
        va_end(ap);
}

void guest_log_error(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        log_line("error: ", format, ap);
        va_end(ap);
}
