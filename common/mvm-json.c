/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool mvm_json_depth_ok(const char *text, size_t size, unsigned max_depth) {
        unsigned depth = 0;
        bool in_string = false, escaped = false;

        for (size_t i = 0; i < size && text[i]; i++) {
                char c = text[i];

                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"')
                        in_string = true;
                else if (c == '[' || c == '{') {
                        if (++depth > max_depth)
                                return false;
                } else if ((c == ']' || c == '}') && depth > 0)
                        depth--;
        }
        return true;
}

bool mvm_json_integers_fit(const char *text, size_t size) {
        bool in_string = false, escaped = false;
        size_t i = 0;

        while (i < size && text[i]) {
                char c = text[i];

                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                        i++;
                        continue;
                }
                if (c == '"') {
                        in_string = true;
                        i++;
                        continue;
                }
                if (c != '-' && !g_ascii_isdigit(c)) {
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
