/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

/* Connecting to a hypervisor's unix socket without ever waiting: for the asynchronous
 * clients of its control socket (qmp.c, ch-api.c). The socket's directory belongs to the
 * hypervisor's uid, so no symlink is followed (fs-util.c's unix_address_nofollow()). */

typedef struct UnixConnect UnixConnect;

/* r < 0 when the connect failed (-ENOENT, -ELOOP, -ENOTSOCK, -ECONNREFUSED, ...);
 * otherwise fd is the connected socket (non-blocking, close-on-exec), now the callee's. */
typedef void (*UnixConnectCallback)(int r, int fd, void *userdata);

/* Starts connecting to the socket at path. The callback runs exactly once, from the
 * event loop (never from within this call), unless the connect is cancelled; the handle
 * is gone once it ran. A listener whose backlog is full is tried again every 10 ms, for
 * as long as the caller lets it (its own deadline cancels). < 0 when nothing started. */
int unix_connect_async(sd_event *event, const char *path, UnixConnectCallback callback, void *userdata,
                       UnixConnect **ret);

/* Stops connecting; the callback is not called. NULL is fine. Returns NULL. */
UnixConnect *unix_connect_cancel(UnixConnect *c);
