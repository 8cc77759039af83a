/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-init's kernel command-line parser: what a guest reads at boot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *line = malloc(size + 1);
        GuestConfig c;
        char **words;

        if (!line)
                return 0;
        memcpy(line, data, size);
        line[size] = '\0';
        guest_config_init(&c);
        (void) guest_cmdline_parse(line, &c);
        guest_config_done(&c);
        words = guest_cmdline_split(line);
        guest_strv_free(words);
        free(line);
        return 0;
}
