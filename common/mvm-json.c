/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-json.h"

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

void mvm_text_sanitize(char *text) {
        for (char *c = text; c && *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        *c = ' ';
}
