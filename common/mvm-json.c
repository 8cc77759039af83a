/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Where a scan of JSON text is: inside a string literal or not. */
typedef struct JsonStringState {
        bool in_string, escaped;
} JsonStringState;

/* Feeds one character; true when it belongs to a string literal, quotes included, so
 * the scans below look only at what lies outside strings. */
static bool json_string_step(JsonStringState *st, char c) {
        if (st->in_string) {
                if (st->escaped)
                        st->escaped = false;
                else if (c == '\\')
                        st->escaped = true;
                else if (c == '"')
                        st->in_string = false;
                return true;
        }
        if (c == '"') {
                st->in_string = true;
                return true;
        }
        return false;
}

bool mvm_json_depth_ok(const char *text, size_t size, unsigned max_depth) {
        JsonStringState st = {};
        unsigned depth = 0;

        for (size_t i = 0; i < size && text[i]; i++) {
                char c = text[i];

                if (json_string_step(&st, c))
                        continue;
                if (c == '[' || c == '{') {
                        if (++depth > max_depth)
                                return false;
                } else if ((c == ']' || c == '}') && depth > 0)
                        depth--;
        }
        return true;
}

bool mvm_json_integers_fit(const char *text, size_t size) {
        JsonStringState st = {};
        size_t i = 0;

        while (i < size && text[i]) {
                char c = text[i];

                if (json_string_step(&st, c) || (c != '-' && !g_ascii_isdigit(c))) {
                        i++;
                        continue;
                }
                /* A number token: [-]digits[.digits][(e|E)[+-]digits]. */
                size_t start = i, end;
                bool integer = true;
                if (text[i] == '-')
                        i++;
                while (i < size && g_ascii_isdigit(text[i]))
                        i++;
                end = i;
                while (i < size && (g_ascii_isdigit(text[i]) || text[i] == '.' || text[i] == 'e' ||
                                    text[i] == 'E' || text[i] == '+' || text[i] == '-')) {
                        integer = false;
                        i++;
                }
                if (!integer)
                        continue;
                /* Copied: the text need not be NUL-terminated after the token. */
                char buf[32];
                if (end - start >= sizeof(buf))
                        return false;
                memcpy(buf, text + start, end - start);
                buf[end - start] = '\0';
                errno = 0;
                (void) strtoll(buf, NULL, 10);
                if (errno == ERANGE)
                        return false;
        }
        return true;
}

void mvm_text_sanitize(char *text) {
        for (char *c = text; c && *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        *c = ' ';
}
