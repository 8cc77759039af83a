/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-keys.h"

#include <string.h>

static bool is_key_type(const char *word, size_t n) {
        static const char *const prefixes[] = { "ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-" };

        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
                size_t l = strlen(prefixes[i]);
                if (n > l && strncmp(word, prefixes[i], l) == 0)
                        return true;
        }
        return false;
}

static bool is_base64(const char *word, size_t n) {
        if (n < 16)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = word[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '/' || c == '='))
                        return false;
        }
        return true;
}

const char *mvm_authorized_key_invalid_reason(const char *line) {
        const char *p, *words[3];
        size_t lens[3], nwords = 0;

        if (!line || !*line)
                return "an authorized key is empty";
        if (strlen(line) > MVM_AUTHORIZED_KEY_LINE_MAX)
                return "an authorized key is longer than 16384 characters";
        for (p = line; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (c < 0x20 && c != '\t')
                        return "an authorized key contains a line break or control character";
                if (c == 0x7f)
                        return "an authorized key contains a control character";
        }
        if (line[0] == '#')
                return "an authorized key is a comment";

        /* Find "TYPE BASE64" as the first or second pair of words; the first word may be
         * an options field (which cannot contain unquoted blanks in practice). */
        for (p = line; *p && nwords < 3;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                words[nwords] = p;
                while (*p && *p != ' ' && *p != '\t')
                        p++;
                lens[nwords] = (size_t) (p - words[nwords]);
                nwords++;
        }
        if (nwords >= 2 && is_key_type(words[0], lens[0]) && is_base64(words[1], lens[1]))
                return NULL;
        if (nwords >= 3 && is_key_type(words[1], lens[1]) && is_base64(words[2], lens[2]))
                return NULL;
        return "an authorized key is not an OpenSSH public key line (TYPE BASE64 [COMMENT])";
}
