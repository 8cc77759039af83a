/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-guest-channel.h"

#include <string.h>

static const char *const words[] = {
        [MVM_GUEST_WORD_JUNK] = NULL,
        [MVM_GUEST_WORD_ARMED] = "armed",
        [MVM_GUEST_WORD_READY] = "ready",
        [MVM_GUEST_WORD_STOPPING] = "stopping",
};

MvmGuestWord mvm_guest_word_parse(const char *line, size_t size) {
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (words[i] && strlen(words[i]) == size && memcmp(words[i], line, size) == 0)
                        return (MvmGuestWord) i;
        return MVM_GUEST_WORD_JUNK;
}

const char *mvm_guest_word_to_string(MvmGuestWord w) {
        if ((size_t) w >= sizeof(words) / sizeof(words[0]) || !words[w])
                return "junk";
        return words[w];
}

void mvm_guest_line_reader_feed(MvmGuestLineReader *r, const void *data, size_t size, MvmGuestWordHandler handler,
                                void *userdata) {
        const char *p = data;

        for (size_t i = 0; i < size; i++) {
                if (p[i] == '\n') {
                        handler(r->overlong ? MVM_GUEST_WORD_JUNK : mvm_guest_word_parse(r->buf, r->n), userdata);
                        r->n = 0;
                        r->overlong = false;
                        continue;
                }
                if (r->overlong)
                        continue;
                /* The '\n' counts: a line holds at most LINE_MAX - 1 other bytes. */
                if (r->n + 1 >= sizeof(r->buf)) {
                        r->overlong = true;
                        r->n = 0;
                        continue;
                }
                r->buf[r->n++] = p[i];
        }
}
