/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parser of QEMU's QMP lines. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *line = g_strndup((const char *) data, size);
        g_autoptr(JsonNode) ret = NULL;
        g_autofree char *error_desc = NULL;

        (void) qmp_parse_reply(line, &ret, &error_desc);
        return 0;
}
