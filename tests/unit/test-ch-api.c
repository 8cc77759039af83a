/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cloud-hypervisor API client against a fake server: a thread on a unix socket in a
 * temporary directory that records the request and answers with canned bytes. */
#include "ch-api.h"
#include "mvm-json.h"
#include "mvm-macro.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define LOOP_DEADLINE_USEC (10U * G_USEC_PER_SEC)

static const char VM_INFO_RUNNING[] =
        "HTTP/1.1 200 OK\r\n"
        "Server: Cloud Hypervisor API\r\n"
        "Connection: keep-alive\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 71\r\n"
        "\r\n"
        "{\"config\":{\"cpus\":{\"boot_vcpus\":2}},\"state\":\"Running\",\"device_tree\":{}}";

static const char NO_CONTENT[] =
        "HTTP/1.1 204 No Content\r\n"
        "Server: Cloud Hypervisor API\r\n"
        "Connection: keep-alive\r\n"
        "\r\n";

/* What cloud-hypervisor answers to a power button in the wrong state (not the documented 405). */
static const char WRONG_STATE[] =
        "HTTP/1.1 500 Internal Server Error\r\n"
        "Server: Cloud Hypervisor API\r\n"
        "Connection: keep-alive\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 50\r\n"
        "\r\n"
        "[\"Error from API\",\"The VM could not be shut down\"]";

typedef struct Server {
        char *socket_path;
        int listen_fd;
        GThread *thread;
        const char *response;    /* NULL: close without answering */
        size_t chunk;            /* bytes per write; 0: all at once */
        size_t filler;           /* bytes of 'x' sent after the response */
        bool silent;             /* never answer; wait for the client to close */
        bool keep_open;          /* after answering, wait for the client to close */
        unsigned skip;           /* connections to accept and close before the real one */
        GString *request;        /* what the client sent */
} Server;

typedef struct Fixture {
        char *dir;
        sd_event *event;
        Server server;
} Fixture;

typedef struct Result {
        unsigned calls;
        int r;
        int status;
        char *body;
        size_t body_size;
        bool has_json;
        char *error_message;
        const char *state;
        ChApiRequest *handle;
} Result;

static void fixture_set_up(Fixture *f, gconstpointer data) {
        f->dir = g_dir_make_tmp("ch-api-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        g_assert_cmpint(sd_event_new(&f->event), >=, 0);
        f->server.listen_fd = -1;
        f->server.socket_path = g_build_filename(f->dir, "api.sock", NULL);
        f->server.request = g_string_new(NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        g_assert_null(f->server.thread);
        if (f->server.listen_fd >= 0)
                close(f->server.listen_fd);
        (void) g_unlink(f->server.socket_path);
        g_assert_cmpint(g_rmdir(f->dir), ==, 0);
        g_string_free(f->server.request, TRUE);
        g_free(f->server.socket_path);
        g_free(f->dir);
        sd_event_unref(f->event);
}

static void result_clear(Result *res) {
        g_free(res->body);
        free(res->error_message);
}

static int bind_socket(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        return fd;
}

static bool request_complete(GString *s) {
        const char *end = strstr(s->str, "\r\n\r\n"), *cl;

        if (!end)
                return false;
        cl = g_strstr_len(s->str, end - s->str, "Content-Length: ");
        if (!cl)
                return true;
        return s->len - (end + 4 - s->str) >= g_ascii_strtoull(cl + 16, NULL, 10);
}

static void drain_until_eof(int fd) {
        char b[4096];

        while (read(fd, b, sizeof(b)) > 0)
                ;
}

static void write_all(int fd, const char *p, size_t n, size_t chunk) {
        while (n > 0) {
                size_t k = chunk > 0 ? MIN(chunk, n) : n;
                ssize_t w = send(fd, p, k, MSG_NOSIGNAL);

                if (w <= 0)
                        return; /* the client gave up (time-out, size cap): fine */
                p += w;
                n -= w;
                if (chunk > 0)
                        g_usleep(200);
        }
}

static gpointer server_thread(gpointer data) {
        Server *s = data;
        _cleanup_close_ int conn = -1;
        char b[4096];
        ssize_t n;

        for (unsigned i = 0; i < s->skip; i++) {
                int c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

                g_assert_cmpint(c, >=, 0);
                close(c);
        }
        conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        g_assert_cmpint(conn, >=, 0);

        while (!request_complete(s->request) && (n = read(conn, b, sizeof(b))) > 0)
                g_string_append_len(s->request, b, n);

        if (s->silent) {
                drain_until_eof(conn);
                return NULL;
        }
        if (s->response)
                write_all(conn, s->response, strlen(s->response), s->chunk);
        if (s->filler > 0) {
                g_autofree char *x = g_malloc(s->filler);

                memset(x, 'x', s->filler);
                write_all(conn, x, s->filler, 0);
        }
        if (s->keep_open)
                drain_until_eof(conn);
        return NULL;
}

static void server_start(Server *s) {
        if (s->listen_fd < 0) {
                s->listen_fd = bind_socket(s->socket_path);
                g_assert_cmpint(listen(s->listen_fd, 4), ==, 0);
        }
        s->thread = g_thread_new("fake-ch", server_thread, s);
}

static void server_join(Server *s) {
        g_thread_join(MVM_TAKE_PTR(s->thread));
}

static void on_response(int r, const ChApiResponse *response, void *userdata) {
        Result *res = userdata;

        res->calls++;
        res->r = r;
        if (r < 0) {
                g_assert_null(response);
                return;
        }
        g_assert_nonnull(response);
        res->status = response->status;
        g_assert_cmpuint(strlen(response->body), ==, response->body_size);
        res->body = g_strndup(response->body, response->body_size);
        res->body_size = response->body_size;
        res->has_json = response->json != NULL;
        res->error_message = ch_api_error_message(response);
        if (ch_api_parse_vm_state(response, &res->state) < 0)
                res->state = NULL;
        /* A cancel from within the callback is harmless. */
        ch_api_request_cancel(res->handle);
}

static void run_until_done(sd_event *event, Result *res) {
        int64_t deadline = g_get_monotonic_time() + LOOP_DEADLINE_USEC;

        while (res->calls == 0) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(event, 100 * 1000), >=, 0);
        }
}

static void run_for(sd_event *event, uint64_t usec) {
        int64_t end = g_get_monotonic_time() + usec;

        while (g_get_monotonic_time() < end)
                g_assert_cmpint(sd_event_run(event, 10 * 1000), >=, 0);
}

/* Sends one request to the fake server and waits for the callback. */
static void request(Fixture *f, const char *method, const char *path, JsonNode *body, uint64_t timeout, Result *res) {
        g_assert_cmpint(ch_api_request(f->event, f->server.socket_path, method, path, body, timeout,
                                       on_response, res, &res->handle), ==, 0);
        g_assert_cmpuint(res->calls, ==, 0); /* never from within ch_api_request() */
        run_until_done(f->event, res);
        if (f->server.thread)
                server_join(&f->server);
        run_for(f->event, 20 * 1000);
        g_assert_cmpuint(res->calls, ==, 1);
}

static void test_vm_info(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = VM_INFO_RUNNING;
        f->server.keep_open = true; /* the client must stop at Content-Length */
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpstr(f->server.request->str, ==,
                        "GET /api/v1/vm.info HTTP/1.1\r\n"
                        "Host: localhost\r\n"
                        "Accept: application/json\r\n"
                        "Connection: close\r\n"
                        "\r\n");
        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 200);
        g_assert_true(ch_api_status_ok(res.status));
        g_assert_true(res.has_json);
        g_assert_cmpstr(res.state, ==, "Running");
        g_assert_cmpuint(res.body_size, ==, 71);
        result_clear(&res);
}

/* A hypervisor answering with JSON nested 200,000 deep (within the size cap) must not
 * crash microvmd: json-glib recurses per level; the body is not parsed at all. */
static void test_deeply_nested(Fixture *f, gconstpointer data) {
        g_autoptr(GString) body = g_string_new(NULL);
        g_autofree char *response = NULL;
        Result res = {};

        for (int i = 0; i < 200000; i++)
                g_string_append_c(body, '[');
        for (int i = 0; i < 200000; i++)
                g_string_append_c(body, ']');
        response = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\n\r\n%s", body->len, body->str);
        f->server.response = response;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 200);
        g_assert_false(res.has_json);
        g_assert_null(res.state);
        result_clear(&res);

        g_assert_true(mvm_json_depth_ok("[[\"[[[[\"]]", 12, 2));
        g_assert_false(mvm_json_depth_ok("[[[]]]", 6, 2));
        g_assert_true(mvm_json_depth_ok("{\"a\": \"\\\"[[[\"}", 13, 1));
}

typedef struct Parsed {
        int r, status;
        const char *state;
        bool has_json;
} Parsed;

static void on_parsed(int r, const ChApiResponse *response, void *userdata) {
        Parsed *p = userdata;

        p->r = r;
        if (response) {
                p->status = response->status;
                p->has_json = response->json != NULL;
                (void) ch_api_parse_vm_state(response, &p->state);
        }
}

/* The parser alone (the fuzzer's entry point) gives what a request gives. */
static void test_parse_response(void) {
        Parsed p = {};

        ch_api_parse_response(VM_INFO_RUNNING, strlen(VM_INFO_RUNNING), false, on_parsed, &p);
        g_assert_cmpint(p.r, ==, 0);
        g_assert_cmpint(p.status, ==, 200);
        g_assert_true(p.has_json);
        g_assert_cmpstr(p.state, ==, "Running");

        p = (Parsed) {};
        ch_api_parse_response(VM_INFO_RUNNING, strlen(VM_INFO_RUNNING) - 5, false, on_parsed, &p);
        g_assert_cmpint(p.r, ==, -EPROTO); /* the body ends before Content-Length */

        p = (Parsed) {};
        ch_api_parse_response("", 0, false, on_parsed, &p);
        g_assert_cmpint(p.r, ==, -ECONNRESET);

        p = (Parsed) {};
        ch_api_parse_response("HTTP/1.1 204 No Content\r\n\r\n", 27, false, on_parsed, &p);
        g_assert_cmpint(p.r, ==, 0);
        g_assert_cmpint(p.status, ==, 204);
        g_assert_false(p.has_json);
}

static void test_power_button(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = NO_CONTENT;
        f->server.keep_open = true;
        server_start(&f->server);
        request(f, "PUT", "vm.power-button", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpstr(f->server.request->str, ==,
                        "PUT /api/v1/vm.power-button HTTP/1.1\r\n"
                        "Host: localhost\r\n"
                        "Accept: application/json\r\n"
                        "Connection: close\r\n"
                        "\r\n");
        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 204);
        g_assert_true(ch_api_status_ok(res.status));
        g_assert_cmpstr(res.body, ==, "");
        g_assert_false(res.has_json);
        result_clear(&res);
}

static void test_json_body(Fixture *f, gconstpointer data) {
        g_autoptr(JsonNode) body = json_from_string("{\"desired_vcpus\":2}", NULL);
        Result res = {};

        f->server.response = NO_CONTENT;
        server_start(&f->server);
        request(f, "PUT", "vm.resize", body, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpstr(f->server.request->str, ==,
                        "PUT /api/v1/vm.resize HTTP/1.1\r\n"
                        "Host: localhost\r\n"
                        "Accept: application/json\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 19\r\n"
                        "Connection: close\r\n"
                        "\r\n"
                        "{\"desired_vcpus\":2}");
        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 204);
        result_clear(&res);
}

static void test_wrong_state(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = WRONG_STATE;
        server_start(&f->server);
        request(f, "PUT", "vm.power-button", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 500);
        g_assert_false(ch_api_status_ok(res.status));
        g_assert_cmpstr(res.error_message, ==, "Error from API: The VM could not be shut down");
        g_assert_null(res.state);
        result_clear(&res);
}

static void test_split_writes(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = VM_INFO_RUNNING;
        f->server.chunk = 3;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 200);
        g_assert_cmpstr(res.state, ==, "Running");
        g_assert_cmpstr(res.body, ==, strstr(VM_INFO_RUNNING, "\r\n\r\n") + 4);
        result_clear(&res);
}

static void test_close_delimited(Fixture *f, gconstpointer data) {
        Result res = {};

        /* No Content-Length: the body ends when the server closes. */
        f->server.response = "HTTP/1.0 200 OK\r\n\r\n{\"state\":\"Shutdown\"}";
        f->server.chunk = 1;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpstr(res.body, ==, "{\"state\":\"Shutdown\"}");
        g_assert_cmpstr(res.state, ==, "Shutdown");
        result_clear(&res);
}

static void test_vmm_shutdown_200(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        f->server.keep_open = true;
        server_start(&f->server);
        request(f, "PUT", "vmm.shutdown", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 200);
        g_assert_true(ch_api_status_ok(res.status));
        result_clear(&res);
}

static void test_head(Fixture *f, gconstpointer data) {
        Result res = {};

        /* A HEAD answer announces a length but carries no body. */
        f->server.response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        f->server.keep_open = true;
        server_start(&f->server);
        request(f, "HEAD", "vmm.ping", NULL, 5 * G_USEC_PER_SEC, &res);

        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpint(res.status, ==, 200);
        g_assert_cmpstr(res.body, ==, "");
        result_clear(&res);
}

static void test_timeout(Fixture *f, gconstpointer data) {
        Result res = {};
        int64_t start = g_get_monotonic_time(), elapsed;

        f->server.silent = true;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 200 * 1000, &res);
        elapsed = g_get_monotonic_time() - start;

        g_assert_cmpint(res.r, ==, -ETIMEDOUT);
        g_assert_cmpint(elapsed, >=, 190 * 1000);
        g_assert_cmpint(elapsed, <, 5 * G_USEC_PER_SEC);
        g_assert_cmpstr(f->server.request->str, ==,
                        "GET /api/v1/vm.info HTTP/1.1\r\n"
                        "Host: localhost\r\n"
                        "Accept: application/json\r\n"
                        "Connection: close\r\n"
                        "\r\n");
        result_clear(&res);
}

static void test_refused(Fixture *f, gconstpointer data) {
        Result res = {};

        /* The socket exists, nobody listens. */
        f->server.listen_fd = bind_socket(f->server.socket_path);
        request(f, "GET", "vmm.ping", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, -ECONNREFUSED);
        result_clear(&res);
}

static void test_no_socket(Fixture *f, gconstpointer data) {
        Result res = {};

        request(f, "GET", "vmm.ping", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, -ENOENT);
        result_clear(&res);
}

/* The API socket's directory belongs to the hypervisor's user: a symlink planted there
 * must not lead the daemon's request to another socket. */
static void test_symlink_refused(Fixture *f, gconstpointer data) {
        g_autofree char *link = g_build_filename(f->dir, "link.sock", NULL);
        Result res = {};

        /* A listening socket behind the link: following it would connect. */
        f->server.listen_fd = bind_socket(f->server.socket_path);
        g_assert_cmpint(symlink(f->server.socket_path, link), ==, 0);
        g_assert_cmpint(ch_api_request(f->event, link, "GET", "vmm.ping", NULL, 5 * G_USEC_PER_SEC, on_response,
                                       &res, &res.handle), ==, 0);
        run_until_done(f->event, &res);
        g_assert_cmpint(res.r, ==, -ELOOP);
        g_assert_cmpuint(res.calls, ==, 1);
        result_clear(&res);
        (void) g_unlink(link);
}

static void test_closed_without_answer(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = NULL;
        server_start(&f->server);
        request(f, "GET", "vmm.ping", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, -ECONNRESET);
        result_clear(&res);
}

static void test_malformed(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.response = data;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, -EPROTO);
        result_clear(&res);
}

static void test_declared_too_big(Fixture *f, gconstpointer data) {
        g_autofree char *head = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
                                                2 * CH_API_RESPONSE_MAX);
        Result res = {};

        f->server.response = head;
        f->server.filler = 2 * CH_API_RESPONSE_MAX;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, -EMSGSIZE);
        result_clear(&res);
}

static void test_streamed_too_big(Fixture *f, gconstpointer data) {
        Result res = {};

        /* Close-delimited, so only the bytes themselves tell. */
        f->server.response = "HTTP/1.1 200 OK\r\n\r\n";
        f->server.filler = CH_API_RESPONSE_MAX;
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, -EMSGSIZE);
        result_clear(&res);
}

static void test_cap_exactly(Fixture *f, gconstpointer data) {
        static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
        Result res = {};

        /* Exactly at the cap is still fine. */
        f->server.response = head;
        f->server.filler = CH_API_RESPONSE_MAX - strlen(head);
        server_start(&f->server);
        request(f, "GET", "vm.info", NULL, 5 * G_USEC_PER_SEC, &res);
        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpuint(res.body_size, ==, CH_API_RESPONSE_MAX - strlen(head));
        g_assert_false(res.has_json);
        result_clear(&res);
}

static void test_backlog_full(Fixture *f, gconstpointer data) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fillers[8];
        unsigned n = 0;
        Result res = {};

        /* While the listener's backlog is full, connect() says EAGAIN: the client retries. */
        f->server.listen_fd = bind_socket(f->server.socket_path);
        g_assert_cmpint(listen(f->server.listen_fd, 0), ==, 0);
        strcpy(sa.sun_path, f->server.socket_path);
        for (;;) {
                g_assert_cmpuint(n, <, MVM_ELEMENTSOF(fillers));
                fillers[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                g_assert_cmpint(fillers[n], >=, 0);
                if (connect(fillers[n], (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                        g_assert_cmpint(errno, ==, EAGAIN);
                        close(fillers[n]);
                        break;
                }
                n++;
        }
        g_assert_cmpuint(n, >, 0);

        g_assert_cmpint(ch_api_request(f->event, f->server.socket_path, "GET", "vm.info", NULL,
                                       5 * G_USEC_PER_SEC, on_response, &res, &res.handle), ==, 0);
        run_for(f->event, 50 * 1000);
        g_assert_cmpuint(res.calls, ==, 0);

        f->server.skip = n;
        f->server.response = VM_INFO_RUNNING;
        server_start(&f->server);
        run_until_done(f->event, &res);
        server_join(&f->server);
        for (unsigned i = 0; i < n; i++)
                close(fillers[i]);

        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpstr(res.state, ==, "Running");
        result_clear(&res);
}

static void test_cancel(Fixture *f, gconstpointer data) {
        Result res = {};
        ChApiRequest *req = NULL;

        f->server.silent = true;
        server_start(&f->server);
        g_assert_cmpint(ch_api_request(f->event, f->server.socket_path, "PUT", "vm.power-button", NULL,
                                       200 * 1000, on_response, &res, &req), ==, 0);
        g_assert_nonnull(req);
        run_for(f->event, 50 * 1000);
        ch_api_request_cancel(req);
        server_join(&f->server); /* it sees the connection close */
        run_for(f->event, 300 * 1000); /* past the time-out */
        g_assert_cmpuint(res.calls, ==, 0);
        g_assert_true(g_str_has_prefix(f->server.request->str, "PUT /api/v1/vm.power-button HTTP/1.1\r\n"));
        ch_api_request_cancel(NULL);
}

static void test_cancel_before_loop(Fixture *f, gconstpointer data) {
        Result res = {};
        ChApiRequest *req = NULL;

        /* A refused connect is reported from the loop; cancelling before that is clean. */
        g_assert_cmpint(ch_api_request(f->event, f->server.socket_path, "GET", "vmm.ping", NULL,
                                       CH_API_NO_TIMEOUT, on_response, &res, &req), ==, 0);
        ch_api_request_cancel(req);
        run_for(f->event, 50 * 1000);
        g_assert_cmpuint(res.calls, ==, 0);
}

static void test_invalid_arguments(Fixture *f, gconstpointer data) {
        g_autofree char *long_path = g_strnfill(200, 'a');
        Result res = {};
        const char *sp = f->server.socket_path;

        g_assert_cmpint(ch_api_request(f->event, sp, "get", "vm.info", NULL, 0, on_response, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, sp, "GET X", "vm.info", NULL, 0, on_response, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, sp, "GET", "/api/v1/vm.info", NULL, 0, on_response, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, sp, "GET", "vm.info HTTP/1.1\r\nX: y", NULL, 0, on_response, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, sp, "GET", "", NULL, 0, on_response, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, "", "GET", "vm.info", NULL, 0, on_response, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, sp, "GET", "vm.info", NULL, 0, NULL, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(ch_api_request(f->event, long_path, "GET", "vm.info", NULL, 0, on_response, &res, NULL), ==, -ENAMETOOLONG);
        run_for(f->event, 20 * 1000);
        g_assert_cmpuint(res.calls, ==, 0);
}

static char *error_message_of(int status, const char *body) {
        g_autoptr(JsonNode) json = body && *body ? json_from_string(body, NULL) : NULL;
        g_autofree char *copy = g_strdup(body ? body : "");
        ChApiResponse response = {
                .status = status,
                .body = copy,
                .body_size = strlen(copy),
                .json = json,
        };
        return ch_api_error_message(&response);
}

static void test_error_message(void) {
        static const struct {
                int status;
                const char *body;
                const char *message;
        } cases[] = {
                { 500, "[\"Error from API\",\"The VM could not be shut down\"]", "Error from API: The VM could not be shut down" },
                { 500, "[\"only one\"]", "only one" },
                { 400, "\"a JSON string\"", "a JSON string" },
                { 404, "Not Found\r\n", "Not Found" },
                { 500, "[1,2]", "[1,2]" },
                { 500, "[]", "[]" },
                { 500, "", "HTTP 500" },
                { 503, "  \r\n", "HTTP 503" },
                { 500, "line one\nline two", "line one line two" },
                { 500, "[\"forged\\nlog line\"]", "forged log line" },
                { 400, "\"a\\r\\nb\"", "a  b" },
        };

        for (size_t i = 0; i < MVM_ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *m = error_message_of(cases[i].status, cases[i].body);
                g_assert_cmpstr(m, ==, cases[i].message);
        }

        _cleanup_free_ char *none = ch_api_error_message(NULL);
        g_assert_cmpstr(none, ==, "no response");
}

static int parse_state_of(const char *body, const char **ret) {
        g_autoptr(JsonNode) json = json_from_string(body, NULL);
        ChApiResponse response = { .status = 200, .body = (char *) body, .body_size = strlen(body), .json = json };

        return ch_api_parse_vm_state(&response, ret);
}

static void test_parse_vm_state(void) {
        const char *s = NULL;
        ChApiResponse empty = { .status = 200, .body = (char *) "" };

        g_assert_cmpint(parse_state_of("{\"state\":\"Created\"}", &s), ==, 0);
        g_assert_cmpstr(s, ==, "Created");
        g_assert_cmpint(parse_state_of("{\"state\":\"Paused\",\"config\":{}}", &s), ==, 0);
        g_assert_cmpstr(s, ==, "Paused");
        g_assert_cmpint(parse_state_of("{\"state\":\"BreakPoint\"}", &s), ==, 0);
        g_assert_cmpstr(s, ==, "BreakPoint");
        g_assert_cmpint(parse_state_of("{\"state\":\"running\"}", &s), ==, -EBADMSG);
        g_assert_cmpint(parse_state_of("{\"state\":1}", &s), ==, -EBADMSG);
        g_assert_cmpint(parse_state_of("{\"config\":{}}", &s), ==, -EBADMSG);
        g_assert_cmpint(parse_state_of("[\"Running\"]", &s), ==, -EBADMSG);
        g_assert_cmpint(ch_api_parse_vm_state(&empty, &s), ==, -ENODATA);
        g_assert_cmpint(ch_api_parse_vm_state(NULL, &s), ==, -ENODATA);
}

static void test_status_ok(void) {
        g_assert_true(ch_api_status_ok(200));
        g_assert_true(ch_api_status_ok(204));
        g_assert_true(ch_api_status_ok(299));
        g_assert_false(ch_api_status_ok(199));
        g_assert_false(ch_api_status_ok(300));
        g_assert_false(ch_api_status_ok(405));
        g_assert_false(ch_api_status_ok(500));
}

static const char *const malformed[] = {
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
        "garbage",
};

#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        ADD("/ch-api/vm-info", test_vm_info);
        ADD("/ch-api/deeply-nested", test_deeply_nested);
        ADD("/ch-api/power-button-204", test_power_button);
        ADD("/ch-api/json-body", test_json_body);
        ADD("/ch-api/wrong-state-500", test_wrong_state);
        ADD("/ch-api/split-writes", test_split_writes);
        ADD("/ch-api/close-delimited", test_close_delimited);
        ADD("/ch-api/vmm-shutdown-200", test_vmm_shutdown_200);
        ADD("/ch-api/head", test_head);
        ADD("/ch-api/timeout", test_timeout);
        ADD("/ch-api/refused", test_refused);
        ADD("/ch-api/no-socket", test_no_socket);
        ADD("/ch-api/symlink-refused", test_symlink_refused);
        ADD("/ch-api/closed-without-answer", test_closed_without_answer);
        ADD("/ch-api/declared-too-big", test_declared_too_big);
        ADD("/ch-api/streamed-too-big", test_streamed_too_big);
        ADD("/ch-api/cap-exactly", test_cap_exactly);
        ADD("/ch-api/backlog-full", test_backlog_full);
        ADD("/ch-api/cancel", test_cancel);
        ADD("/ch-api/cancel-before-loop", test_cancel_before_loop);
        ADD("/ch-api/invalid-arguments", test_invalid_arguments);
        for (size_t i = 0; i < MVM_ELEMENTSOF(malformed); i++) {
                g_autofree char *name = g_strdup_printf("/ch-api/malformed/%zu", i);
                g_test_add(name, Fixture, malformed[i], fixture_set_up, test_malformed, fixture_tear_down);
        }
        g_test_add_func("/ch-api/error-message", test_error_message);
        g_test_add_func("/ch-api/parse-response", test_parse_response);
        g_test_add_func("/ch-api/parse-vm-state", test_parse_vm_state);
        g_test_add_func("/ch-api/status-ok", test_status_ok);

        return g_test_run();
}
