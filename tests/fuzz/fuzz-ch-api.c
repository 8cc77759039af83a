/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parser of cloud-hypervisor's HTTP responses (status line, headers, body, JSON),
 * and what microvmd reads out of them. */
#include <stdint.h>
#include <stdlib.h>

#include "ch-api.h"

static void on_response(int r, const ChApiResponse *response, void *userdata) {
        const char *state = NULL;
        char *message;

        if (r < 0 || !response)
                return;
        (void) ch_api_status_ok(response->status);
        (void) ch_api_parse_vm_state(response, &state);
        message = ch_api_error_message(response);
        free(message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* The first byte chooses a HEAD request (a body is never expected). */
        bool head = size > 0 && (data[0] & 1);

        if (size > 0) {
                data++;
                size--;
        }
        ch_api_parse_response((const char *) data, size, head, on_response, NULL);
        return 0;
}
