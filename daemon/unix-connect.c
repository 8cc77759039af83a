/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unix-connect.h"
#include "fs-util.h"
#include "mvm-macro.h"

#include <errno.h>
#include <glib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A unix socket connect() fails with EAGAIN while the listener's backlog is full. */
#define CONNECT_RETRY_USEC (10U * 1000U)

struct UnixConnect {
        sd_event *event;
        int fd;
        int path_fd;                 /* O_PATH of the socket, connected through /proc/self/fd */
        struct sockaddr_un address;
        socklen_t address_size;
        int error;                   /* negative errno for the deferred failure */
        sd_event_source *io_source;  /* EINPROGRESS: until it is writable */
        sd_event_source *later;      /* the retry, or the deferred report */
        UnixConnectCallback callback;
        void *userdata;
};

UnixConnect *unix_connect_cancel(UnixConnect *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->later);
        safe_close(c->fd);
        safe_close(c->path_fd);
        sd_event_unref(c->event);
        g_free(c);
        return NULL;
}

/* Hands the result over and frees the handle. */
static void finish(UnixConnect *c, int r) {
        UnixConnectCallback callback = c->callback;
        void *userdata = c->userdata;
        int fd = -1;

        if (r >= 0) {
                fd = c->fd;
                c->fd = -1;
        }
        unix_connect_cancel(c);
        callback(r, fd, userdata);
}

static int on_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        int error = 0;
        socklen_t len = sizeof(error);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                error = errno;
        finish(userdata, -error);
        return 0;
}

static int on_report(sd_event_source *s, void *userdata) {
        UnixConnect *c = userdata;

        finish(c, c->error);
        return 0;
}

/* Reported from the loop, so the callback never runs inside unix_connect_async(). */
static int report_later(UnixConnect *c, int r) {
        c->error = r;
        c->later = sd_event_source_disable_unref(c->later);
        return sd_event_add_defer(c->event, &c->later, on_report, c);
}

static int try_connect(UnixConnect *c);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        UnixConnect *c = userdata;
        int r;

        c->later = sd_event_source_disable_unref(c->later);
        r = try_connect(c);
        if (r < 0)
                finish(c, r);
        return 0;
}

/* Fails only for sd-event's errors: how the connect went comes through the callback. */
static int try_connect(UnixConnect *c) {
        if (connect(c->fd, (struct sockaddr *) &c->address, c->address_size) == 0)
                return report_later(c, 0);
        if (errno == EINPROGRESS)
                return sd_event_add_io(c->event, &c->io_source, c->fd, EPOLLOUT, on_writable, c);
        if (errno == EAGAIN)
                return sd_event_add_time_relative(c->event, &c->later, CLOCK_MONOTONIC, CONNECT_RETRY_USEC, 1000,
                                                  on_retry, c);
        return report_later(c, -errno);
}

int unix_connect_async(sd_event *event, const char *path, UnixConnectCallback callback, void *userdata,
                       UnixConnect **ret) {
        UnixConnect *c;
        int r;

        if (!event || !path || !*path || !callback)
                return -EINVAL;
        c = g_new0(UnixConnect, 1);
        c->event = sd_event_ref(event);
        c->callback = callback;
        c->userdata = userdata;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
                r = -errno;
                c->path_fd = -1;
                unix_connect_cancel(c);
                return r;
        }
        /* Connect to the very inode opened here. */
        c->path_fd = unix_address_nofollow(path, &c->address, &c->address_size);
        if (c->path_fd < 0) {
                r = report_later(c, c->path_fd);
                c->path_fd = -1;
        } else
                r = try_connect(c);
        if (r < 0) {
                unix_connect_cancel(c);
                return r;
        }
        if (ret)
                *ret = c;
        return 0;
}
