/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "mvm-macro.h"

#define VSOCK_CONNECT_TIMEOUT_MS 300

static bool vsock_allowed = true;

void guest_channel_init(GuestChannel *c, bool allow_vsock) {
        *c = (GuestChannel) { .fd = -1 };
        vsock_allowed = allow_vsock;
}

bool guest_channel_port_name_matches(const char *content) {
        size_t n = strlen(MVM_GUEST_CHANNEL_PORT_NAME);

        return strncmp(content, MVM_GUEST_CHANNEL_PORT_NAME, n) == 0 &&
               (content[n] == '\0' || (content[n] == '\n' && content[n + 1] == '\0'));
}

static int open_virtio_port(const char *sys_ports_dir) {
        DIR *d = opendir(sys_ports_dir);
        struct dirent *de;
        int fd = -ENOENT;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char path[512], name[64] = "";
                int nfd;
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s/name", sys_ports_dir, de->d_name);
                nfd = open(path, O_RDONLY | O_CLOEXEC);
                if (nfd < 0)
                        continue;
                n = read(nfd, name, sizeof(name) - 1);
                close(nfd);
                if (n <= 0)
                        continue;
                name[n] = '\0';
                if (!guest_channel_port_name_matches(name))
                        continue;
                snprintf(path, sizeof(path), "/dev/%s", de->d_name);
                fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        fd = -errno;
                break;
        }
        closedir(d);
        return fd;
}

/* cloud-hypervisor: to the host (CID 2); it hands the connection to microvmd's socket. */
static int open_vsock(void) {
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
                                  .svm_port = MVM_GUEST_CHANNEL_VSOCK_PORT };
        struct timeval tv = { .tv_usec = VSOCK_CONNECT_TIMEOUT_MS * 1000 };
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return mvm_take_fd(&fd);
}

int guest_channel_open(GuestChannel *c, const char *sys_ports_dir) {
        int fd;

        if (c->fd >= 0)
                return 0;
        fd = open_virtio_port(sys_ports_dir);
        c->vsock = false;
        if (fd < 0 && vsock_allowed) {
                fd = open_vsock();
                c->vsock = fd >= 0;
        }
        if (fd < 0)
                return fd;
        c->fd = fd;
        c->host_gone = false;
        memset(c->sent, 0, sizeof(c->sent));
        return 0;
}

static void lost(GuestChannel *c) {
        memset(c->sent, 0, sizeof(c->sent));
        if (c->vsock)
                c->fd = safe_close(c->fd);   /* reconnect later */
        else
                c->host_gone = true;         /* the port stays; the host comes back */
}

bool guest_channel_flush(GuestChannel *c) {
        bool done = true;

        if (c->fd < 0)
                return true;
        for (int w = MVM_GUEST_WORD_ARMED; w <= MVM_GUEST_WORD_STOPPING; w++) {
                char line[MVM_GUEST_CHANNEL_LINE_MAX];
                int n;

                if (!c->facts[w] || c->sent[w])
                        continue;
                n = snprintf(line, sizeof(line), "%s\n", mvm_guest_word_to_string((MvmGuestWord) w));
                if (write(c->fd, line, (size_t) n) == n) {
                        c->sent[w] = true;
                        continue;
                }
                /* virtio-serial: EAGAIN while no one listens on the host side, which may
                 * be a new microvmd that heard nothing yet: everything again, later. */
                if (errno == EAGAIN) {
                        memset(c->sent, 0, sizeof(c->sent));
                        c->host_gone = true;
                } else
                        lost(c);
                done = false;
                break;
        }
        if (done)
                c->host_gone = false;
        return done;
}

void guest_channel_say(GuestChannel *c, MvmGuestWord w) {
        if (w <= MVM_GUEST_WORD_JUNK || w > MVM_GUEST_WORD_STOPPING)
                return;
        c->facts[w] = true;
        (void) guest_channel_flush(c);
}

int guest_channel_poll_fd(const GuestChannel *c) {
        if (c->fd < 0 || c->host_gone)
                return -1;
        for (int w = MVM_GUEST_WORD_ARMED; w <= MVM_GUEST_WORD_STOPPING; w++)
                if (c->facts[w] && !c->sent[w])
                        return -1;
        return c->fd;
}

void guest_channel_on_revents(GuestChannel *c, short revents) {
        if (revents & (POLLHUP | POLLERR | POLLNVAL))
                lost(c);
}

bool guest_tcp_table_listens(const char *table, unsigned port) {
        const char *line = table;

        /* "  sl  local_address rem_address   st ...": the first line is the header. */
        while (line && (line = strchr(line, '\n'))) {
                char addr[64];
                unsigned local_port, state;

                line++;
                if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*63[0-9A-Fa-f]:%*x %x", addr, &local_port, &state) == 3 &&
                    local_port == port && state == 0x0A /* TCP_LISTEN */)
                        return true;
        }
        return false;
}
