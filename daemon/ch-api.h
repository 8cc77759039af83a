/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small asynchronous HTTP/1.1 client for cloud-hypervisor's REST API on its unix
 * API socket (routes under /api/v1/, see platform-facts.md section 7). One request per
 * connection ("Connection: close"), driven by sd-event. */

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* Responses larger than this (status line, headers and body) fail with -EMSGSIZE. */
#define CH_API_RESPONSE_MAX (1024U * 1024U)

/* Pass as timeout_usec for no time-out. */
#define CH_API_NO_TIMEOUT UINT64_MAX

typedef struct ChApiResponse {
        int status;        /* HTTP status */
        char *body;        /* NUL-terminated; "" when there is no body */
        size_t body_size;  /* without the NUL */
        JsonNode *json;    /* the parsed body, or NULL when empty or not JSON */
} ChApiResponse;

/* r is 0 when a complete HTTP response arrived, whatever its status (check it with
 * ch_api_status_ok()), or a negative errno with response == NULL:
 *   -ENOENT       the socket does not exist
 *   -ECONNREFUSED nobody listens on it
 *   -ETIMEDOUT    no complete response within the time-out
 *   -EPROTO       malformed HTTP, or the connection closed mid-response
 *   -ECONNRESET   the connection closed before any response byte
 *   -EMSGSIZE     the response exceeds CH_API_RESPONSE_MAX
 * The response and everything in it are only valid during the callback (json_node_ref()
 * or copy what you keep). The request handle is freed once the callback returns. */
typedef void (*ChApiCallback)(int r, const ChApiResponse *response, void *userdata);

typedef struct ChApiRequest ChApiRequest;

/* Sends METHOD /api/v1/PATH to the API socket at socket_path. body (not consumed) is sent
 * as JSON when non-NULL. Returns 0 when the request is under way: the callback is then
 * called exactly once from the event loop (never from within this function), unless the
 * request is cancelled. Returns a negative errno (invalid arguments, socket path too
 * long, out of resources) when nothing was started; the callback is then never called.
 * ret, when non-NULL, receives a handle valid until the callback runs or the request is
 * cancelled. */
int ch_api_request(
                sd_event *event,
                const char *socket_path,
                const char *method,
                const char *path,
                JsonNode *body,
                uint64_t timeout_usec,
                ChApiCallback callback,
                void *userdata,
                ChApiRequest **ret);

/* Aborts the request and closes its connection; its callback is not called. NULL is a
 * no-op, and so is a call from within the request's own callback. */
void ch_api_request_cancel(ChApiRequest *req);

/* Any 2xx: actions answer 204, "PUT vmm.shutdown" answers 200. */
bool ch_api_status_ok(int status);

/* The response parser alone, as one call: data is a whole response after which the
 * server closed the connection; callback gets what a request would (synchronously).
 * For the tests and the fuzzer. */
void ch_api_parse_response(const char *data, size_t size, bool head, ChApiCallback callback, void *userdata);

/* A readable error for a failed response: cloud-hypervisor's JSON array of strings joined
 * with ": ", else the body text, else "HTTP <status>". Free with free(); NULL only when
 * out of memory. */
char *ch_api_error_message(const ChApiResponse *response);

/* The "state" of a vm.info response: one of "Created", "Running", "Shutdown", "Paused",
 * "BreakPoint" (a static string). -EBADMSG when the body is not a vm.info object with
 * one of those states, -ENODATA when there is no JSON body. */
int ch_api_parse_vm_state(const ChApiResponse *response, const char **ret_state);
