/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small asynchronous client for QEMU's QMP on its unix socket, driven by sd-event:
 * one command per connection. QEMU is a process of the VM's own uid and may hang or
 * misbehave; nothing here ever blocks the event loop, and one deadline bounds the
 * whole exchange. */

#include <json-glib/json-glib.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* A line longer than this (without its newline) fails with -EMSGSIZE. */
#define QMP_LINE_MAX (64U * 1024U)

typedef struct QmpRequest QmpRequest;

/* r is 0 with the command's "return" value in result, or a negative errno with
 * result == NULL:
 *   -EIO          QEMU answered with "error"; error_desc is its "desc", one line of
 *                 printable text, shortened (NULL when it gave none)
 *   -ENOENT, -ECONNREFUSED, -ELOOP, -ENOTSOCK   the socket cannot be connected to
 *   -ETIMEDOUT    no answer within the deadline
 *   -ECONNRESET   QEMU closed the connection between lines
 *   -EPROTO       it closed mid-line, or the exchange went out of order (no greeting)
 *   -EMSGSIZE     a line exceeds QMP_LINE_MAX
 *   -EBADMSG      a line is no JSON object
 * result and error_desc are only valid during the callback (json_node_ref() what you
 * keep). The request handle is freed once the callback returns. */
typedef void (*QmpCallback)(int r, JsonNode *result, const char *error_desc, void *userdata);

/* Connects to the QMP socket at socket_path (never through a symlink: the directory
 * belongs to the hypervisor's user), reads the greeting, negotiates capabilities,
 * executes command (a QMP command name without arguments, such as "query-status") and
 * reads its answer, skipping asynchronous events, all within timeout_usec. Returns 0
 * when under way: the callback is then called exactly once from the event loop (never
 * from within this function), unless the request is cancelled. Returns a negative
 * errno when nothing was started (-EINVAL, -ENAMETOOLONG, -ENOMEM, sd-event's errors);
 * the callback is then never called. ret, when non-NULL, receives a handle valid until
 * the callback runs or the request is cancelled. */
int qmp_execute(
                sd_event *event,
                const char *socket_path,
                const char *command,
                uint64_t timeout_usec,
                QmpCallback callback,
                void *userdata,
                QmpRequest **ret);

/* Aborts the request and closes its connection; its callback is not called. NULL is a
 * no-op, and so is a call from within the request's own callback. */
void qmp_request_cancel(QmpRequest *req);

/* What qmp_parse_reply() found on a line. */
enum {
        QMP_REPLY_RETURN = 0,       /* the answer: "return" */
        QMP_REPLY_EVENT = 1,        /* an asynchronous event, or another object that is no answer */
        QMP_REPLY_GREETING = 2,     /* {"QMP": {...}}, the first line of a session */
};

/* One line of what QEMU sends, NUL-terminated, without its newline: QMP_REPLY_RETURN
 * and the "return" value (a copy, if ret), -EIO for an "error" answer (with its "desc"
 * sanitized and shortened for logging in ret_error_desc, if given; NULL when missing),
 * another QMP_REPLY_* for other objects, -EBADMSG for anything that is not a JSON
 * object. The line is the hypervisor's: nesting is checked before json-glib parses it.
 * Exposed for the tests and the fuzzer. */
int qmp_parse_reply(const char *line, JsonNode **ret, char **ret_error_desc);
