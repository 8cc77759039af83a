/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client's messages, JSON and formatting. */

#include "output.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "client.h"

static void print_message_line(const char *prefix, const char *fmt, va_list ap) {
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);

        /* Messages may quote the daemon; keep them on one line whatever it sent. */
        for (char *p = msg; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        fflush(stdout);
        fprintf(stderr, "%s: %s%s\n", PROGRAM_NAME, prefix, g_strchomp(msg));
}

int fail(int exit_code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        print_message_line("", fmt, ap);
        va_end(ap);
        return exit_code;
}

void warn(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        print_message_line("warning: ", fmt, ap);
        va_end(ap);
}

void print_json(JsonBuilder *builder) {
        g_autoptr(JsonGenerator) generator = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(builder);
        g_autofree char *text = NULL;

        json_generator_set_root(generator, root);
        json_generator_set_pretty(generator, TRUE);
        json_generator_set_indent(generator, 2);
        text = json_generator_to_data(generator, NULL);
        printf("%s\n", text);
}

void json_add_string(JsonBuilder *b, const char *key, const char *value) {
        if (!value)
                return;
        json_builder_set_member_name(b, key);
        json_builder_add_string_value(b, value);
}

void json_add_uint(JsonBuilder *b, const char *key, uint64_t value, bool present) {
        if (!present)
                return;
        json_builder_set_member_name(b, key);
        /* json-glib's integers are signed: clamp rather than wrap. */
        json_builder_add_int_value(b, (gint64) MIN(value, (uint64_t) G_MAXINT64));
}

char *format_user(uint32_t uid) {
        struct passwd *pw = getpwuid((uid_t) uid);

        if (pw && pw->pw_name)
                return g_strdup(pw->pw_name);
        return g_strdup_printf("%" PRIu32, uid);
}

char *format_timestamp(uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        char buf[128];
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) ||
            strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return g_strdup("-");
        return g_strdup(buf);
}

/* "3d 4h", "2h 5min", "5min 12s", "12s": the two largest units, as systemctl does. */
static char *format_duration(uint64_t usec) {
        uint64_t s = usec / 1000000;
        uint64_t days = s / 86400, hours = s / 3600 % 24, minutes = s / 60 % 60, seconds = s % 60;

        if (days > 0)
                return g_strdup_printf("%" PRIu64 "d %" PRIu64 "h", days, hours);
        if (hours > 0)
                return g_strdup_printf("%" PRIu64 "h %" PRIu64 "min", hours, minutes);
        if (minutes > 0)
                return g_strdup_printf("%" PRIu64 "min %" PRIu64 "s", minutes, seconds);
        return g_strdup_printf("%" PRIu64 "s", seconds);
}

char *format_uptime(uint64_t started_at) {
        uint64_t now = (uint64_t) g_get_real_time();
        g_autofree char *duration = format_duration(now > started_at ? now - started_at : 0);
        g_autofree char *since = format_timestamp(started_at);

        return g_strdup_printf("%s (since %s)", duration, since);
}
