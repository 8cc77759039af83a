/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ch-api.h"
#include "mvm-json.h"
#include "mvm-macro.h"
#include "unix-connect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK (64U * 1024U)

typedef enum RequestState {
        STATE_CONNECTING,
        STATE_WRITING,
        STATE_READING,
} RequestState;

struct ChApiRequest {
        sd_event *event;
        int fd;
        RequestState state;
        UnixConnect *connecting;        /* until connected */
        sd_event_source *io_source;
        sd_event_source *timer_source;

        char *request;
        size_t request_size;
        size_t written;

        char *buffer;                   /* the response; always NUL-terminated */
        size_t size;
        size_t allocated;
        size_t header_size;             /* 0 until the header section is complete */
        int status;
        int64_t content_length;         /* -1: the body ends when the server closes */
        bool head;                      /* a HEAD request: no body, whatever the headers say */

        ChApiCallback callback;
        void *userdata;
        bool in_callback;
};

static void request_free(ChApiRequest *req) {
        if (!req)
                return;
        unix_connect_cancel(req->connecting);
        sd_event_source_disable_unref(req->io_source);
        sd_event_source_disable_unref(req->timer_source);
        if (req->fd >= 0)
                close(req->fd);
        sd_event_unref(req->event);
        free(req->request);
        free(req->buffer);
        free(req);
}

static void request_finish(ChApiRequest *req, int r, const ChApiResponse *response) {
        /* Stop everything first: the callback may run the loop or start new requests. */
        req->connecting = unix_connect_cancel(req->connecting);
        req->io_source = sd_event_source_disable_unref(req->io_source);
        req->timer_source = sd_event_source_disable_unref(req->timer_source);
        if (req->fd >= 0) {
                close(req->fd);
                req->fd = -1;
        }

        req->in_callback = true;
        req->callback(r, response, req->userdata);
        request_free(req);
}

static void request_fail(ChApiRequest *req, int r) {
        request_finish(req, r, NULL);
}

static bool is_token(const char *s) {
        if (!s || !*s)
                return false;
        for (; *s; s++)
                if (*s < 'A' || *s > 'Z')
                        return false;
        return true;
}

static bool is_path(const char *s) {
        /* No spaces or control characters: they would end the request line or inject
         * headers. A leading '/' is ours to add. */
        if (!s || !*s || *s == '/')
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

static int build_request(ChApiRequest *req, const char *method, const char *path, JsonNode *body) {
        _cleanup_free_ char *text = NULL;
        g_autofree char *json = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s /api/v1/%s HTTP/1.1\r\n"
                "Host: localhost\r\n"
                "Accept: application/json\r\n",
                method, path);
        if (body) {
                json = json_to_string(body, FALSE);
                fprintf(f, "Content-Type: application/json\r\n"
                        "Content-Length: %zu\r\n",
                        strlen(json));
        }
        fputs("Connection: close\r\n\r\n", f);
        if (json)
                fputs(json, f);
        if (fclose(f) != 0)
                return -ENOMEM;

        req->request = MVM_TAKE_PTR(text);
        req->request_size = size;
        return 0;
}

/* Case-insensitive "Name:" match; returns the value with surrounding blanks removed. */
static bool header_value(const char *line, size_t line_size, const char *name,
                         const char **ret_value, size_t *ret_size) {
        size_t n = strlen(name);
        const char *v, *end = line + line_size;

        if (line_size <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
                return false;
        for (v = line + n + 1; v < end && (*v == ' ' || *v == '\t'); v++)
                ;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *ret_value = v;
        *ret_size = end - v;
        return true;
}

static int parse_content_length(const char *v, size_t n, int64_t *ret) {
        uint64_t l = 0;

        if (n == 0)
                return -EPROTO;
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -EPROTO;
                l = l * 10 + (v[i] - '0');
                if (l > CH_API_RESPONSE_MAX)
                        return -EMSGSIZE;
        }
        *ret = (int64_t) l;
        return 0;
}

static int parse_status_line(const char *line, size_t n, int *ret_status) {
        /* "HTTP/1.x SSS[ reason]" */
        if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ')
                return -EPROTO;
        for (size_t i = 9; i < 12; i++)
                if (line[i] < '0' || line[i] > '9')
                        return -EPROTO;
        if (n > 12 && line[12] != ' ')
                return -EPROTO;
        *ret_status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (*ret_status < 100)
                return -EPROTO;
        return 0;
}

/* Parses the status line and headers in buffer[0..header_size). */
static int parse_head(ChApiRequest *req) {
        const char *p = req->buffer, *end = req->buffer + req->header_size - 2; /* before the empty line */
        const char *eol;
        int r;

        eol = memmem(p, end - p, "\r\n", 2);
        r = parse_status_line(p, eol - p, &req->status);
        if (r < 0)
                return r;
        /* We never send "Expect:", so an interim 1xx response is not one we asked for. */
        if (req->status < 200)
                return -EPROTO;

        req->content_length = -1;
        for (p = eol + 2; p < end; p = eol + 2) {
                const char *v;
                size_t n;

                eol = memmem(p, end - p, "\r\n", 2);
                if (!eol || eol == p)
                        return -EPROTO;
                if (memchr(p, ':', eol - p) == NULL)
                        return -EPROTO;
                if (header_value(p, eol - p, "Content-Length", &v, &n)) {
                        int64_t l;

                        r = parse_content_length(v, n, &l);
                        if (r < 0)
                                return r;
                        if (req->content_length >= 0 && req->content_length != l)
                                return -EPROTO;
                        req->content_length = l;
                } else if (header_value(p, eol - p, "Transfer-Encoding", &v, &n)) {
                        /* cloud-hypervisor does not use chunked encoding; refuse rather
                         * than hand back the chunk framing as the body. */
                        if (n != 8 || strncasecmp(v, "identity", 8) != 0)
                                return -EPROTO;
                }
        }

        /* These statuses never carry a body, whatever the headers say. */
        if (req->head || req->status == 204 || req->status == 304)
                req->content_length = 0;
        return 0;
}

static void request_complete(ChApiRequest *req, size_t body_size) {
        ChApiResponse response = {
                .status = req->status,
                .body = req->buffer + req->header_size,
                .body_size = body_size,
        };

        /* Terminate the body; anything the server sent after it is ignored. */
        response.body[body_size] = '\0';
        /* json-glib recurses per level: a hypervisor must not crash microvmd with nesting. */
        if (body_size > 0 && mvm_json_depth_ok(response.body, body_size, MVM_JSON_MAX_DEPTH))
                response.json = json_from_string(response.body, NULL);

        request_finish(req, 0, &response);
        if (response.json)
                json_node_unref(response.json);
}

/* Returns true when the request finished (req is freed). */
static bool process_buffer(ChApiRequest *req, bool eof) {
        int r;

        if (req->header_size == 0) {
                const char *end = memmem(req->buffer, req->size, "\r\n\r\n", 4);

                if (!end) {
                        if (eof) {
                                request_fail(req, req->size == 0 ? -ECONNRESET : -EPROTO);
                                return true;
                        }
                        return false;
                }
                req->header_size = end - req->buffer + 4;
                r = parse_head(req);
                if (r < 0) {
                        request_fail(req, r);
                        return true;
                }
        }

        if (req->content_length >= 0) {
                if (req->size - req->header_size >= (size_t) req->content_length) {
                        request_complete(req, req->content_length);
                        return true;
                }
                if (eof) {
                        request_fail(req, -EPROTO); /* truncated body */
                        return true;
                }
                return false;
        }

        if (eof) {
                request_complete(req, req->size - req->header_size);
                return true;
        }
        return false;
}

static void on_readable(ChApiRequest *req) {
        for (;;) {
                size_t room;
                ssize_t n;

                if (req->allocated - req->size < READ_CHUNK + 1) {
                        size_t a = req->size + READ_CHUNK + 1;
                        char *b = realloc(req->buffer, a);

                        if (!b) {
                                request_fail(req, -ENOMEM);
                                return;
                        }
                        req->buffer = b;
                        req->allocated = a;
                }
                /* Read at most one byte past the cap, to know it was exceeded. */
                room = MIN(req->allocated - req->size - 1, CH_API_RESPONSE_MAX + 1 - req->size);
                n = read(req->fd, req->buffer + req->size, room);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                request_fail(req, -errno);
                        return;
                }
                req->size += n;
                req->buffer[req->size] = '\0';
                if (req->size > CH_API_RESPONSE_MAX) {
                        request_fail(req, -EMSGSIZE);
                        return;
                }
                if (process_buffer(req, n == 0) || n == 0)
                        return;
        }
}

static void on_writable(ChApiRequest *req) {
        int r;

        while (req->written < req->request_size) {
                ssize_t n = send(req->fd, req->request + req->written, req->request_size - req->written,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                request_fail(req, -errno);
                        return;
                }
                req->written += n;
        }

        r = sd_event_source_set_io_events(req->io_source, EPOLLIN);
        if (r < 0) {
                request_fail(req, r);
                return;
        }
        req->state = STATE_READING;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ChApiRequest *req = userdata;

        switch (req->state) {
        case STATE_CONNECTING: /* no io source yet */
        case STATE_WRITING:
                on_writable(req);
                break;
        case STATE_READING:
                on_readable(req);
                break;
        }
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        request_fail(userdata, -ETIMEDOUT);
        return 0;
}

static void on_connected(int r, int fd, void *userdata) {
        ChApiRequest *req = userdata;

        req->connecting = NULL; /* its handle is gone */
        if (r >= 0) {
                req->fd = fd;
                req->state = STATE_WRITING;
                r = sd_event_add_io(req->event, &req->io_source, req->fd, EPOLLOUT, on_io, req);
        }
        if (r < 0)
                request_fail(req, r);
}

int ch_api_request(
                sd_event *event,
                const char *socket_path,
                const char *method,
                const char *path,
                JsonNode *body,
                uint64_t timeout_usec,
                ChApiCallback callback,
                void *userdata,
                ChApiRequest **ret) {

        ChApiRequest *req;
        size_t l;
        int r;

        if (!event || !socket_path || !callback || !is_token(method) || !is_path(path))
                return -EINVAL;
        l = strlen(socket_path);
        if (l == 0)
                return -EINVAL;
        if (l >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return -ENAMETOOLONG;

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->fd = -1;
        req->event = sd_event_ref(event);
        req->callback = callback;
        req->userdata = userdata;
        req->content_length = -1;
        req->head = strcmp(method, "HEAD") == 0;
        r = build_request(req, method, path, body);
        if (r < 0)
                goto fail;

        if (timeout_usec != CH_API_NO_TIMEOUT) {
                r = sd_event_add_time_relative(event, &req->timer_source, CLOCK_MONOTONIC,
                                               timeout_usec, 1000 /* accuracy: 1 ms */, on_timeout, req);
                if (r < 0)
                        goto fail;
        }

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

void ch_api_request_cancel(ChApiRequest *req) {
        /* From within its callback, the request is already on its way out. */
        if (!req || req->in_callback)
                return;
        request_free(req);
}

void ch_api_parse_response(const char *data, size_t size, bool head, ChApiCallback callback, void *userdata) {
        ChApiRequest *req = calloc(1, sizeof(ChApiRequest));

        if (!req) {
                callback(-ENOMEM, NULL, userdata);
                return;
        }
        req->fd = -1;
        req->head = head;
        req->callback = callback;
        req->userdata = userdata;
        if (size > CH_API_RESPONSE_MAX) {
                request_fail(req, -EMSGSIZE);
                return;
        }
        req->buffer = malloc(size + 1);
        if (!req->buffer) {
                request_fail(req, -ENOMEM);
                return;
        }
        memcpy(req->buffer, data, size);
        req->buffer[size] = '\0';
        req->size = size;
        req->allocated = size + 1;
        (void) process_buffer(req, true); /* at end of file it always finishes the request */
}

bool ch_api_status_ok(int status) {
        return status >= 200 && status <= 299;
}

static char *join_string_array(JsonArray *array) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        guint n = json_array_get_length(array);
        FILE *f;

        if (n == 0)
                return NULL;
        for (guint i = 0; i < n; i++) {
                JsonNode *e = json_array_get_element(array, i);

                if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
                        return NULL;
        }

        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        for (guint i = 0; i < n; i++)
                fprintf(f, "%s%s", i > 0 ? ": " : "", json_array_get_string_element(array, i));
        if (fclose(f) != 0)
                return NULL;
        return MVM_TAKE_PTR(text);
}

/* The body as one line of text: trimmed, without control characters, at most 512 bytes. */
static char *body_as_text(const ChApiResponse *response) {
        const char *b = response->body;
        size_t n = response->body_size;
        char *text;

        if (!b)
                return NULL;
        while (n > 0 && (unsigned char) *b <= ' ') {
                b++;
                n--;
        }
        while (n > 0 && (unsigned char) b[n - 1] <= ' ')
                n--;
        if (n == 0)
                return NULL;
        text = strndup(b, MIN(n, (size_t) 512));
        if (!text)
                return NULL;
        for (char *c = text; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        *c = ' ';
        return text;
}

char *ch_api_error_message(const ChApiResponse *response) {
        char *m = NULL;

        if (!response)
                return strdup("no response");

        if (response->json) {
                if (JSON_NODE_HOLDS_ARRAY(response->json))
                        m = join_string_array(json_node_get_array(response->json));
                else if (JSON_NODE_HOLDS_VALUE(response->json) &&
                         json_node_get_value_type(response->json) == G_TYPE_STRING &&
                         *json_node_get_string(response->json))
                        m = strdup(json_node_get_string(response->json));
        }
        if (!m)
                m = body_as_text(response);
        if (!m && asprintf(&m, "HTTP %d", response->status) < 0)
                return NULL;
        mvm_text_sanitize(m);
        return m;
}

int ch_api_parse_vm_state(const ChApiResponse *response, const char **ret_state) {
        static const char *const states[] = { "Created", "Running", "Shutdown", "Paused", "BreakPoint" };
        JsonObject *o;
        JsonNode *n;
        const char *s;

        if (!response || !response->json)
                return -ENODATA;
        if (!JSON_NODE_HOLDS_OBJECT(response->json))
                return -EBADMSG;
        o = json_node_get_object(response->json);
        n = json_object_get_member(o, "state");
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return -EBADMSG;
        s = json_node_get_string(n);
        for (size_t i = 0; i < MVM_ELEMENTSOF(states); i++)
                if (strcmp(s, states[i]) == 0) {
                        if (ret_state)
                                *ret_state = states[i];
                        return 0;
                }
        return -EBADMSG;
}
