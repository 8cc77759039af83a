/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest channel's line reader: bytes a hostile guest writes, fed in chunks. */
#include <stddef.h>
#include <stdint.h>

#include "mvm-guest-channel.h"

static void on_word(MvmGuestWord w, void *userdata) {
        size_t *n = userdata;

        if (w < MVM_GUEST_WORD_JUNK || w > MVM_GUEST_WORD_STOPPING)
                __builtin_trap();
        (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MvmGuestLineReader r = {};
        size_t words = 0, chunk;

        if (size == 0)
                return 0;
        /* The first byte picks the chunk size: reads of any length. */
        chunk = (size_t) data[0] % 64 + 1;
        data++, size--;
        for (size_t off = 0; off < size; off += chunk)
                mvm_guest_line_reader_feed(&r, data + off, size - off < chunk ? size - off : chunk, on_word, &words);
        if (r.n >= sizeof(r.buf))
                __builtin_trap();
        return 0;
}
