/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The asynchronous QMP client against a stand-in QEMU: a unix socket in a temporary
 * directory served from the same sd-event loop as the client. That the client's
 * requests finish at all while the server shares its loop shows the loop never blocks;
 * the silent and trickling servers show it with a ticking timer too. */
#include "qmp.h"
#include "mvm-macro.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOOP_DEADLINE_USEC (10U * G_USEC_PER_SEC)
#define TIMEOUT_USEC (5U * G_USEC_PER_SEC)
#define SHORT_TIMEOUT_USEC (500U * 1000U)
#define TICK_USEC (20U * 1000U)
#define TRICKLE_USEC (50U * 1000U)

static const char GREETING[] =
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "
        "\"capabilities\": [\"oob\"]}}\r\n";
static const char EVENT[] =
        "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": \"RTC_CHANGE\", "
        "\"data\": {\"offset\": 0}}\r\n";
static const char RETURN_EMPTY[] = "{\"return\": {}}\r\n";
static const char RETURN_STATUS[] = "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n";

typedef enum ServerMode {
        SERVE_NORMAL,     /* greeting, capabilities, the command's answer, events between */
        SERVE_SILENT,     /* accepts and never says anything */
        SERVE_TRICKLE,    /* one byte every 50 ms, never a newline */
        SERVE_CANNED,     /* sends canned at once, then closes (if close_after) or waits */
} ServerMode;

typedef struct Server {
        sd_event *event;
        ServerMode mode;
        const char *answer;         /* SERVE_NORMAL: the command's answer line */
        const char *canned;
        size_t canned_size;
        bool close_after;
        size_t max_write;           /* bytes per write; 0: as many as fit */
        int listen_fd;
        sd_event_source *listen_source;
        int fd;
        sd_event_source *io_source;
        sd_event_source *trickle_source;
        GString *in;                /* what the client sent */
        GString *out;               /* what is still to be sent */
        GPtrArray *lines;           /* the client's lines */
        unsigned accepted;
        size_t trickled;
} Server;

typedef struct Result {
        unsigned calls;
        int r;
        char *result;               /* the "return" value, as JSON text */
        char *error_desc;
        int64_t finished_at;
} Result;

typedef struct Fixture {
        char *dir;
        char *socket_path;
        sd_event *event;
        Server server;
        sd_event_source *ticker;
        unsigned ticks;
} Fixture;

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Fixture *f = userdata;

        f->ticks++;
        g_assert_cmpint(sd_event_source_set_time_relative(s, TICK_USEC), >=, 0);
        g_assert_cmpint(sd_event_source_set_enabled(s, SD_EVENT_ONESHOT), >=, 0);
        return 0;
}

static void fixture_set_up(Fixture *f, gconstpointer data) {
        f->dir = g_dir_make_tmp("qmp-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->socket_path = g_build_filename(f->dir, "qmp.sock", NULL);
        g_assert_cmpint(sd_event_new(&f->event), >=, 0);
        f->server.event = f->event;
        f->server.listen_fd = f->server.fd = -1;
        f->server.in = g_string_new(NULL);
        f->server.out = g_string_new(NULL);
        f->server.lines = g_ptr_array_new_with_free_func(g_free);
        f->server.answer = RETURN_STATUS;
        /* Something else in the same loop, that must keep running. */
        g_assert_cmpint(sd_event_add_time_relative(f->event, &f->ticker, CLOCK_MONOTONIC, TICK_USEC, 1000, on_tick, f),
                        >=, 0);
}

static void server_close_connection(Server *s) {
        s->io_source = sd_event_source_disable_unref(s->io_source);
        s->trickle_source = sd_event_source_disable_unref(s->trickle_source);
        s->fd = safe_close(s->fd);
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        server_close_connection(&f->server);
        sd_event_source_disable_unref(f->server.listen_source);
        safe_close(f->server.listen_fd);
        sd_event_source_disable_unref(f->ticker);
        (void) g_unlink(f->socket_path);
        g_assert_cmpint(g_rmdir(f->dir), ==, 0);
        g_string_free(f->server.in, TRUE);
        g_string_free(f->server.out, TRUE);
        g_ptr_array_unref(f->server.lines);
        g_free(f->socket_path);
        g_free(f->dir);
        sd_event_unref(f->event);
}

static void result_clear(Result *res) {
        g_free(res->result);
        g_free(res->error_desc);
}

static void on_result(int r, JsonNode *result, const char *error_desc, void *userdata) {
        Result *res = userdata;

        res->calls++;
        res->r = r;
        if (r >= 0) {
                g_assert_nonnull(result);
                res->result = json_to_string(result, FALSE);
        } else
                g_assert_null(result);
        if (r != -EIO)
                g_assert_null(error_desc);
        res->error_desc = g_strdup(error_desc);
        res->finished_at = g_get_monotonic_time();
}

static void server_update(Server *s) {
        if (s->fd < 0)
                return;
        g_assert_cmpint(sd_event_source_set_io_events(s->io_source, EPOLLIN | (s->out->len > 0 ? EPOLLOUT : 0)),
                        >=, 0);
}

static void server_send(Server *s, const char *text) {
        g_string_append(s->out, text);
        server_update(s);
}

static void server_line(Server *s, const char *line) {
        g_ptr_array_add(s->lines, g_strdup(line));
        if (s->mode != SERVE_NORMAL)
                return;
        if (strstr(line, "\"qmp_capabilities\"")) {
                server_send(s, EVENT);
                server_send(s, RETURN_EMPTY);
        } else {
                server_send(s, EVENT);
                server_send(s, EVENT);
                server_send(s, s->answer);
        }
}

static int on_server_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Server *s = userdata;

        if (revents & EPOLLOUT) {
                size_t n = s->max_write > 0 ? MIN(s->max_write, s->out->len) : s->out->len;
                ssize_t k = send(fd, s->out->str, n, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k < 0)
                        g_assert_true(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
                else
                        g_string_erase(s->out, 0, k);
                if (s->out->len == 0 && s->close_after) {
                        server_close_connection(s);
                        return 0;
                }
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                char buf[4096];
                ssize_t k = read(fd, buf, sizeof(buf));
                char *nl;

                if (k <= 0) {
                        /* The client is done with us. */
                        server_close_connection(s);
                        return 0;
                }
                g_string_append_len(s->in, buf, k);
                while ((nl = memchr(s->in->str, '\n', s->in->len))) {
                        g_autofree char *line = g_strndup(s->in->str, nl - s->in->str);

                        g_string_erase(s->in, 0, nl - s->in->str + 1);
                        server_line(s, line);
                }
        }
        server_update(s);
        return 0;
}

static int on_trickle(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;

        /* Never a newline: the line never ends. */
        g_assert_cmpint(send(s->fd, s->trickled == 0 ? "{" : " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT), ==, 1);
        s->trickled++;
        g_assert_cmpint(sd_event_source_set_time_relative(source, TRICKLE_USEC), >=, 0);
        g_assert_cmpint(sd_event_source_set_enabled(source, SD_EVENT_ONESHOT), >=, 0);
        return 0;
}

static int on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Server *s = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        g_assert_cmpint(c, >=, 0);
        s->accepted++;
        /* One client at a time: a new one replaces the last (a cancelled request's). */
        server_close_connection(s);
        g_string_truncate(s->in, 0);
        g_string_truncate(s->out, 0);
        s->fd = c;
        g_assert_cmpint(sd_event_add_io(s->event, &s->io_source, c, EPOLLIN, on_server_io, s), >=, 0);
        switch (s->mode) {
        case SERVE_NORMAL:
                server_send(s, GREETING);
                break;
        case SERVE_SILENT:
                break;
        case SERVE_TRICKLE:
                g_assert_cmpint(sd_event_add_time_relative(s->event, &s->trickle_source, CLOCK_MONOTONIC,
                                                           TRICKLE_USEC, 1000, on_trickle, s), >=, 0);
                break;
        case SERVE_CANNED:
                g_string_append_len(s->out, s->canned, s->canned_size);
                server_update(s);
                if (s->close_after && s->out->len == 0)
                        server_close_connection(s);
                break;
        }
        return 0;
}

static void server_start(Fixture *f, ServerMode mode) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Server *s = &f->server;

        s->mode = mode;
        g_assert_cmpuint(strlen(f->socket_path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, f->socket_path);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        g_assert_cmpint(s->listen_fd, >=, 0);
        g_assert_cmpint(bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(s->listen_fd, 4), ==, 0);
        g_assert_cmpint(sd_event_add_io(f->event, &s->listen_source, s->listen_fd, EPOLLIN, on_accept, s), >=, 0);
}

static void run_until_done(Fixture *f, Result *res) {
        int64_t deadline = g_get_monotonic_time() + LOOP_DEADLINE_USEC;

        while (res->calls == 0) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(f->event, 100 * 1000), >=, 0);
        }
        /* Give a second callback (there must be none) a chance. */
        for (int i = 0; i < 5; i++)
                g_assert_cmpint(sd_event_run(f->event, 10 * 1000), >=, 0);
        g_assert_cmpuint(res->calls, ==, 1);
}

static void run_for(Fixture *f, uint64_t usec) {
        int64_t end = g_get_monotonic_time() + usec;

        while (g_get_monotonic_time() < end)
                g_assert_cmpint(sd_event_run(f->event, 10 * 1000), >=, 0);
}

/* Starts command against the fixture's socket: never done before the loop runs. */
static void execute(Fixture *f, const char *command, uint64_t timeout_usec, Result *res) {
        g_assert_cmpint(qmp_execute(f->event, f->socket_path, command, timeout_usec, on_result, res, NULL), ==, 0);
        g_assert_cmpuint(res->calls, ==, 0);
}

/* Greeting, capabilities, then the command; the events on the way are skipped. */
static void test_exchange(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.max_write = GPOINTER_TO_SIZE(data);
        server_start(f, SERVE_NORMAL);
        execute(f, "query-status", TIMEOUT_USEC, &res);
        run_until_done(f, &res);
        g_assert_cmpint(res.r, ==, 0);
        g_assert_cmpstr(res.result, ==, "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
        g_assert_cmpuint(f->server.lines->len, ==, 2);
        g_assert_cmpstr(f->server.lines->pdata[0], ==, "{\"execute\":\"qmp_capabilities\"}");
        g_assert_cmpstr(f->server.lines->pdata[1], ==, "{\"execute\":\"query-status\"}");
        g_assert_cmpuint(f->server.accepted, ==, 1);
        result_clear(&res);
}

/* An "error" answer: -EIO, with its desc as one printable line. */
static void test_error(Fixture *f, gconstpointer data) {
        Result res = {};

        f->server.answer = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\\nway\\u001b[2J\"}}\r\n";
        server_start(f, SERVE_NORMAL);
        execute(f, "system_powerdown", TIMEOUT_USEC, &res);
        run_until_done(f, &res);
        g_assert_cmpint(res.r, ==, -EIO);
        g_assert_null(res.result);
        g_assert_cmpstr(res.error_desc, ==, "no way [2J");
        result_clear(&res);
}

/* A QEMU that accepts and never answers: the deadline ends it, and meanwhile the rest
 * of the loop runs. */
static void test_silent(Fixture *f, gconstpointer data) {
        Result res = {};
        int64_t start = g_get_monotonic_time();

        server_start(f, SERVE_SILENT);
        execute(f, "query-status", SHORT_TIMEOUT_USEC, &res);
        run_until_done(f, &res);
        g_assert_cmpint(res.r, ==, -ETIMEDOUT);
        g_assert_cmpuint(f->server.accepted, ==, 1);
        g_assert_cmpint(res.finished_at - start, >=, (int64_t) SHORT_TIMEOUT_USEC);
        g_assert_cmpint(res.finished_at - start, <, (int64_t) (5 * SHORT_TIMEOUT_USEC));
        /* 25 ticks fit; a loop blocked in a read would have seen none. */
        g_assert_cmpuint(f->ticks, >=, 10);
        result_clear(&res);
}

/* One byte every 50 ms: each read makes progress, yet the deadline holds for the whole. */
static void test_trickle(Fixture *f, gconstpointer data) {
        Result res = {};
        int64_t start = g_get_monotonic_time();

        server_start(f, SERVE_TRICKLE);
        execute(f, "query-status", SHORT_TIMEOUT_USEC, &res);
        run_until_done(f, &res);
        g_assert_cmpint(res.r, ==, -ETIMEDOUT);
        g_assert_cmpint(res.finished_at - start, >=, (int64_t) SHORT_TIMEOUT_USEC);
        g_assert_cmpint(res.finished_at - start, <, (int64_t) (5 * SHORT_TIMEOUT_USEC));
        g_assert_cmpuint(f->server.trickled, >=, 5);
        g_assert_cmpuint(f->ticks, >=, 10);
        result_clear(&res);
}

/* A line of QMP_LINE_MAX bytes is fine; one more byte is not. */
static void test_line_limit(Fixture *f, gconstpointer data) {
        bool over = GPOINTER_TO_INT(data);
        g_autoptr(GString) line = g_string_new("{\"QMP\": {}}");
        Result res = {};

        while (line->len < QMP_LINE_MAX + (over ? 1 : 0))
                g_string_append_c(line, ' ');
        g_string_append(line, "\n{\"return\": {}}\n{\"return\": {\"status\": \"paused\"}}\n");
        f->server.canned = line->str;
        f->server.canned_size = line->len;
        server_start(f, SERVE_CANNED);
        execute(f, "query-status", TIMEOUT_USEC, &res);
        run_until_done(f, &res);
        if (over)
                g_assert_cmpint(res.r, ==, -EMSGSIZE);
        else {
                g_assert_cmpint(res.r, ==, 0);
                g_assert_cmpstr(res.result, ==, "{\"status\":\"paused\"}");
        }
        result_clear(&res);
}

/* Whatever QEMU sends that is not the exchange. */
#define N_CANNED 9
static void test_canned(Fixture *f, gconstpointer data) {
#define CANNED(text, close_after, r) { text, sizeof(text) - 1, close_after, r }
        static const struct {
                const char *canned;
                size_t size;          /* one has a NUL inside */
                bool close_after;
                int r;
        } cases[] = {
                CANNED("", true, -ECONNRESET),                                /* closes at once */
                CANNED("{\"QMP\": {}}\r\n", true, -ECONNRESET),               /* closes between lines */
                CANNED("{\"QMP", true, -EPROTO),                               /* closes mid-line */
                CANNED("{\"return\": {}}\n", false, -EPROTO),                  /* no greeting */
                CANNED("{\"QMP\": {}}\n{\"QMP\": {}}\n", false, -EPROTO),      /* a second greeting */
                CANNED("{\"QMP\": {}}\nnot json\n", false, -EBADMSG),
                CANNED("[\"QMP\"]\n", false, -EBADMSG),
                CANNED("{\"QMP\": {}}\n{\"return\": {}}\n{\"ret\0urn\": {}}\n", false, -EBADMSG),
                CANNED("{\"QMP\": {}}\n{\"error\": {\"class\": \"CommandNotFound\"}}\n", false, -EIO),
        };
#undef CANNED
        size_t i = GPOINTER_TO_SIZE(data);
        Result res = {};

        g_assert_cmpuint(G_N_ELEMENTS(cases), ==, N_CANNED);
        f->server.canned = cases[i].canned;
        f->server.canned_size = cases[i].size;
        f->server.close_after = cases[i].close_after;
        server_start(f, SERVE_CANNED);
        execute(f, "query-status", TIMEOUT_USEC, &res);
        run_until_done(f, &res);
        g_assert_cmpint(res.r, ==, cases[i].r);
        g_assert_null(res.error_desc); /* the CommandNotFound has no desc */
        result_clear(&res);
}

/* Cancelled requests are never heard from again and leave nothing behind (ASan). */
static void test_cancel(Fixture *f, gconstpointer data) {
        Result before_loop = {}, in_flight = {}, connecting = {};
        QmpRequest *a = NULL, *b = NULL, *c = NULL;
        g_autofree char *missing = g_build_filename(f->dir, "missing.sock", NULL);

        server_start(f, SERVE_SILENT);
        g_assert_cmpint(qmp_execute(f->event, f->socket_path, "query-status", SHORT_TIMEOUT_USEC, on_result,
                                    &before_loop, &a), ==, 0);
        g_assert_cmpint(qmp_execute(f->event, f->socket_path, "query-status", SHORT_TIMEOUT_USEC, on_result,
                                    &in_flight, &b), ==, 0);
        /* Its failure is already waiting in the loop. */
        g_assert_cmpint(qmp_execute(f->event, missing, "query-status", SHORT_TIMEOUT_USEC, on_result,
                                    &connecting, &c), ==, 0);
        g_assert_nonnull(a);
        g_assert_nonnull(b);
        g_assert_nonnull(c);
        qmp_request_cancel(a);
        qmp_request_cancel(c);
        run_for(f, 100 * 1000);
        qmp_request_cancel(b);
        qmp_request_cancel(NULL);
        run_for(f, 2 * SHORT_TIMEOUT_USEC);
        g_assert_cmpuint(before_loop.calls, ==, 0);
        g_assert_cmpuint(in_flight.calls, ==, 0);
        g_assert_cmpuint(connecting.calls, ==, 0);
        /* The connection was closed: the server saw its end. */
        g_assert_cmpint(f->server.fd, <, 0);
}

/* The socket's path is the hypervisor's: no symlink, nothing but a socket. Failures come
 * from the loop, not from within the call. */
static void test_connect_failures(Fixture *f, gconstpointer data) {
        g_autofree char *missing = g_build_filename(f->dir, "missing.sock", NULL);
        g_autofree char *link = g_build_filename(f->dir, "link.sock", NULL);
        g_autofree char *file = g_build_filename(f->dir, "file.sock", NULL);
        g_autofree char *stale = g_build_filename(f->dir, "stale.sock", NULL);
        struct {
                const char *path;
                int r;
        } cases[] = {
                { missing, -ENOENT },
                { link, -ELOOP },
                { file, -ENOTSOCK },
                { stale, -ECONNREFUSED },
        };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        server_start(f, SERVE_NORMAL);
        g_assert_cmpint(symlink(f->socket_path, link), ==, 0);
        g_assert_true(g_file_set_contents(file, "", 0, NULL));
        /* A socket nobody listens on any more. */
        strcpy(sa.sun_path, stale);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        close(fd);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                Result res = {};

                g_assert_cmpint(qmp_execute(f->event, cases[i].path, "query-status", TIMEOUT_USEC, on_result, &res,
                                            NULL), ==, 0);
                g_assert_cmpuint(res.calls, ==, 0);
                run_until_done(f, &res);
                g_assert_cmpint(res.r, ==, cases[i].r);
                result_clear(&res);
        }
        g_assert_cmpuint(f->server.accepted, ==, 0); /* not through the symlink */
        g_assert_cmpint(unlink(link), ==, 0);
        g_assert_cmpint(unlink(file), ==, 0);
        g_assert_cmpint(unlink(stale), ==, 0);
}

static void test_invalid(Fixture *f, gconstpointer data) {
        Result res = {};

        g_assert_cmpint(qmp_execute(f->event, f->socket_path, "x\"}", TIMEOUT_USEC, on_result, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(qmp_execute(f->event, f->socket_path, "", TIMEOUT_USEC, on_result, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(qmp_execute(f->event, f->socket_path, "query-status", 0, on_result, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(qmp_execute(f->event, "", "query-status", TIMEOUT_USEC, on_result, &res, NULL), ==, -EINVAL);
        g_assert_cmpint(qmp_execute(NULL, f->socket_path, "query-status", TIMEOUT_USEC, on_result, &res, NULL), ==, -EINVAL);
        run_for(f, 50 * 1000);
        g_assert_cmpuint(res.calls, ==, 0);
}

/* QMP lines: the answer, an error, an event, the greeting, and what is not QMP. */
static void test_parse_reply(void) {
        JsonNode *ret = NULL;
        g_autofree char *desc = NULL, *long_desc = NULL;
        g_autoptr(GString) deep = g_string_new("{\"return\": ");
        g_autoptr(GString) long_error = g_string_new("{\"error\": {\"desc\": \"");

        g_assert_cmpint(qmp_parse_reply("{\"return\": {\"status\": \"running\"}}", &ret, NULL), ==, QMP_REPLY_RETURN);
        g_assert_nonnull(ret);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(ret));
        json_node_unref(ret);
        g_assert_cmpint(qmp_parse_reply("{\"return\": {}}", NULL, NULL), ==, QMP_REPLY_RETURN);
        g_assert_cmpint(qmp_parse_reply("{\"error\": {\"class\": \"GenericError\"}}", NULL, NULL), ==, -EIO);
        g_assert_cmpint(qmp_parse_reply("{\"error\": {\"class\": \"GenericError\", \"desc\": \"a\\tb\"}}", NULL, &desc),
                        ==, -EIO);
        g_assert_cmpstr(desc, ==, "a b");
        g_assert_cmpint(qmp_parse_reply("{\"event\": \"POWERDOWN\"}", NULL, NULL), ==, QMP_REPLY_EVENT);
        g_assert_cmpint(qmp_parse_reply("{\"QMP\": {\"version\": {}}}\r", NULL, NULL), ==, QMP_REPLY_GREETING);
        g_assert_cmpint(qmp_parse_reply("[1, 2]", NULL, NULL), ==, -EBADMSG);
        g_assert_cmpint(qmp_parse_reply("not json", NULL, NULL), ==, -EBADMSG);
        g_assert_cmpint(qmp_parse_reply("", NULL, NULL), ==, -EBADMSG);
        for (int i = 0; i < 100000; i++)
                g_string_append_c(deep, '[');
        g_assert_cmpint(qmp_parse_reply(deep->str, NULL, NULL), ==, -EBADMSG);

        /* A long desc is cut, never inside a character ("é" is 2 bytes). */
        for (int i = 0; i < 1000; i++)
                g_string_append(long_error, "\xc3\xa9");
        g_string_append(long_error, "\"}}");
        g_assert_cmpint(qmp_parse_reply(long_error->str, NULL, &long_desc), ==, -EIO);
        g_assert_cmpuint(strlen(long_desc), ==, 512);
        g_assert_true(g_utf8_validate(long_desc, -1, NULL));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/qmp/parse-reply", test_parse_reply);
#define ADD(path, data, fn) \
        g_test_add("/qmp/" path, Fixture, data, fixture_set_up, fn, fixture_tear_down)
        ADD("exchange", GSIZE_TO_POINTER(0), test_exchange);
        ADD("exchange-in-pieces", GSIZE_TO_POINTER(7), test_exchange);
        ADD("error", NULL, test_error);
        ADD("silent", NULL, test_silent);
        ADD("trickle", NULL, test_trickle);
        ADD("line-limit/at", GINT_TO_POINTER(false), test_line_limit);
        ADD("line-limit/over", GINT_TO_POINTER(true), test_line_limit);
        for (size_t i = 0; i < N_CANNED; i++) {
                g_autofree char *path = g_strdup_printf("/qmp/canned/%zu", i);
                g_test_add(path, Fixture, GSIZE_TO_POINTER(i), fixture_set_up, test_canned, fixture_tear_down);
        }
        ADD("cancel", NULL, test_cancel);
        ADD("connect-failures", NULL, test_connect_failures);
        ADD("invalid", NULL, test_invalid);
        return g_test_run();
}
