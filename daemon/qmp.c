/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qmp.h"
#include "unix-connect.h"
#include "mvm-json.h"
#include "mvm-macro.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* QEMU's "desc" goes to the journal: one line, not a flood. */
#define ERROR_DESC_MAX 512U
#define COMMAND_NAME_MAX 64U

typedef enum RequestState {
        STATE_CONNECTING,
        STATE_GREETING,       /* waiting for {"QMP": ...} */
        STATE_CAPABILITIES,   /* qmp_capabilities sent, waiting for its return */
        STATE_COMMAND,        /* the command sent, waiting for its return */
} RequestState;

struct QmpRequest {
        sd_event *event;
        int fd;
        RequestState state;
        UnixConnect *connecting;        /* until connected */
        sd_event_source *io_source;
        sd_event_source *timer_source;

        char *command;                  /* the command's line, sent after the capabilities */
        const char *out;                /* what is being sent: a literal or command */
        size_t out_size;
        size_t out_written;

        char *buffer;                   /* the current line; QMP_LINE_MAX + 1 bytes and a NUL */
        size_t size;

        JsonNode *result;               /* the command's "return" */
        char *error_desc;               /* an "error" answer's desc */

        QmpCallback callback;
        void *userdata;
        bool in_callback;
};

static void request_free(QmpRequest *req) {
        if (!req)
                return;
        unix_connect_cancel(req->connecting);
        sd_event_source_disable_unref(req->io_source);
        sd_event_source_disable_unref(req->timer_source);
        safe_close(req->fd);
        sd_event_unref(req->event);
        g_free(req->command);
        g_free(req->buffer);
        if (req->result)
                json_node_unref(req->result);
        g_free(req->error_desc);
        g_free(req);
}

static void request_finish(QmpRequest *req, int r) {
        /* Stop everything first: the callback may start new requests or cancel others. */
        req->connecting = unix_connect_cancel(req->connecting);
        req->io_source = sd_event_source_disable_unref(req->io_source);
        req->timer_source = sd_event_source_disable_unref(req->timer_source);
        req->fd = safe_close(req->fd);

        req->in_callback = true;
        req->callback(r, r >= 0 ? req->result : NULL, r == -EIO ? req->error_desc : NULL, req->userdata);
        request_free(req);
}

/* The error's desc as one printable line, cut at a character boundary. */
static char *error_desc(JsonObject *error) {
        JsonNode *n = json_object_get_member(error, "desc");
        const char *s;
        size_t l;
        char *d;

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return NULL;
        s = json_node_get_string(n);
        l = strlen(s);
        if (l > ERROR_DESC_MAX) {
                l = ERROR_DESC_MAX;
                while (l > 0 && ((unsigned char) s[l] & 0xc0) == 0x80)
                        l--;
        }
        d = g_strndup(s, l);
        mvm_text_sanitize(d);
        return d;
}

int qmp_parse_reply(const char *line, JsonNode **ret, char **ret_error_desc) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonNode *root, *n;
        JsonObject *o;

        if (!mvm_json_depth_ok(line, strlen(line), MVM_JSON_MAX_DEPTH) ||
            !json_parser_load_from_data(parser, line, -1, NULL))
                return -EBADMSG;
        /* An empty line parses, to no root at all. */
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return -EBADMSG;
        o = json_node_get_object(root);
        if (json_object_has_member(o, "return")) {
                if (ret)
                        *ret = json_node_copy(json_object_get_member(o, "return"));
                return QMP_REPLY_RETURN;
        }
        n = json_object_get_member(o, "error");
        if (n) {
                if (ret_error_desc)
                        *ret_error_desc = JSON_NODE_HOLDS_OBJECT(n) ? error_desc(json_node_get_object(n)) : NULL;
                return -EIO;
        }
        if (json_object_has_member(o, "QMP"))
                return QMP_REPLY_GREETING;
        return QMP_REPLY_EVENT;
}

static int update_events(QmpRequest *req) {
        uint32_t events = EPOLLIN;

        if (req->out_written < req->out_size)
                events |= EPOLLOUT;
        return MIN(sd_event_source_set_io_events(req->io_source, events), 0);
}

static int flush(QmpRequest *req) {
        while (req->out_written < req->out_size) {
                ssize_t n = send(req->fd, req->out + req->out_written, req->out_size - req->out_written,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return errno == EPIPE ? -ECONNRESET : -errno;
                }
                req->out_written += n;
        }
        return update_events(req);
}

static int send_line(QmpRequest *req, const char *line) {
        req->out = line;
        req->out_size = strlen(line);
        req->out_written = 0;
        return flush(req);
}

/* One complete line: < 0 to fail, 0 to read on, 1 when the command's answer is in. */
static int handle_line(QmpRequest *req, const char *line) {
        int r;

        r = qmp_parse_reply(line, req->state == STATE_COMMAND ? &req->result : NULL, &req->error_desc);
        if (r < 0)
                return r;
        if (req->state == STATE_GREETING) {
                if (r != QMP_REPLY_GREETING)
                        return -EPROTO;
                req->state = STATE_CAPABILITIES;
                return send_line(req, "{\"execute\":\"qmp_capabilities\"}\n");
        }
        if (r == QMP_REPLY_EVENT)
                return 0; /* asynchronous, not ours: read on (the deadline bounds a flood) */
        if (r == QMP_REPLY_GREETING)
                return -EPROTO;
        if (req->state == STATE_CAPABILITIES) {
                req->state = STATE_COMMAND;
                return send_line(req, req->command);
        }
        return 1;
}

/* One read per dispatch, not until EAGAIN: a QEMU that sends without pause must not keep
 * the loop in here past the deadline or away from anything else. */
static int on_readable(QmpRequest *req) {
        size_t start = 0;
        ssize_t n;
        char *nl;
        int r;

        n = read(req->fd, req->buffer + req->size, QMP_LINE_MAX + 1 - req->size);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return req->size > 0 ? -EPROTO : -ECONNRESET;
        req->size += n;

        while ((nl = memchr(req->buffer + start, '\n', req->size - start))) {
                char *line = req->buffer + start;

                *nl = '\0';
                /* A NUL inside would hide the rest of the line from the parser. */
                if (memchr(line, '\0', nl - line))
                        return -EBADMSG;
                r = handle_line(req, line);
                if (r != 0)
                        return r;
                start = nl + 1 - req->buffer;
        }
        memmove(req->buffer, req->buffer + start, req->size - start);
        req->size -= start;
        if (req->size > QMP_LINE_MAX)
                return -EMSGSIZE;
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QmpRequest *req = userdata;
        int r = 0;

        if (revents & EPOLLOUT)
                r = flush(req);
        /* EPOLLHUP and EPOLLERR come with what is left to read, or read fails. */
        if (r >= 0 && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                r = on_readable(req);
        if (r != 0)
                request_finish(req, r > 0 ? 0 : r);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        request_finish(userdata, -ETIMEDOUT);
        return 0;
}

static void on_connected(int r, int fd, void *userdata) {
        QmpRequest *req = userdata;

        req->connecting = NULL; /* its handle is gone */
        if (r >= 0) {
                req->fd = fd;
                req->state = STATE_GREETING;
                r = sd_event_add_io(req->event, &req->io_source, req->fd, EPOLLIN, on_io, req);
        }
        if (r < 0)
                request_finish(req, r);
}

static bool command_name_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > COMMAND_NAME_MAX)
                return false;
        /* It goes into a JSON string unescaped. */
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && *s != '-' && *s != '_')
                        return false;
        return true;
}

int qmp_execute(
                sd_event *event,
                const char *socket_path,
                const char *command,
                uint64_t timeout_usec,
                QmpCallback callback,
                void *userdata,
                QmpRequest **ret) {

        QmpRequest *req;
        int r;

        if (!event || !socket_path || !*socket_path || !command || !command_name_ok(command) ||
            timeout_usec == 0 || !callback)
                return -EINVAL;

        req = g_new0(QmpRequest, 1);
        req->fd = -1;
        req->event = sd_event_ref(event);
        req->callback = callback;
        req->userdata = userdata;
        req->command = g_strdup_printf("{\"execute\":\"%s\"}\n", command);
        req->buffer = g_malloc(QMP_LINE_MAX + 2);

        /* One deadline for the whole exchange, however QEMU trickles its bytes. */
        r = sd_event_add_time_relative(event, &req->timer_source, CLOCK_MONOTONIC, timeout_usec,
                                       1000 /* accuracy: 1 ms */, on_timeout, req);
        if (r < 0)
                goto fail;

        r = unix_connect_async(event, socket_path, on_connected, req, &req->connecting);
        if (r < 0)
                goto fail;

        if (ret)
                *ret = req;
        return 0;

fail:
        request_free(req);
        return r;
}

void qmp_request_cancel(QmpRequest *req) {
        /* From within its callback, the request is already on its way out. */
        if (!req || req->in_callback)
                return;
        request_free(req);
}
