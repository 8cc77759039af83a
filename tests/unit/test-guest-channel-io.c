/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-init's side of the guest channel: finding its port, telling the facts again
 * after the host went, and seeing sshd listen in /proc/net/tcp. */
#include "channel.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_port_name(void) {
        g_assert_true(guest_channel_port_name_matches("org.microvm.guest\n"));
        g_assert_true(guest_channel_port_name_matches("org.microvm.guest"));
        g_assert_false(guest_channel_port_name_matches("org.microvm.guest2\n"));
        g_assert_false(guest_channel_port_name_matches("org.microvm.gues"));
        g_assert_false(guest_channel_port_name_matches("org.microvm.guest\n\n"));
        g_assert_false(guest_channel_port_name_matches(""));
}

static const char tcp_header[] =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

static void test_tcp_table(void) {
        g_autofree char *listening = g_strconcat(tcp_header,
                "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n",
                NULL);
        g_autofree char *established = g_strconcat(tcp_header,
                "   0: 0100007F:0016 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n",
                NULL);
        g_autofree char *other_port = g_strconcat(tcp_header,
                "   0: 00000000:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n",
                NULL);
        g_autofree char *tcp6 = g_strconcat(tcp_header,
                "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 "
                "00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n",
                NULL);

        g_assert_true(guest_tcp_table_listens(listening, 22));
        g_assert_false(guest_tcp_table_listens(established, 22));
        g_assert_false(guest_tcp_table_listens(other_port, 22));
        g_assert_true(guest_tcp_table_listens(tcp6, 22));
        g_assert_false(guest_tcp_table_listens(tcp_header, 22));
        g_assert_false(guest_tcp_table_listens("", 22));
        g_assert_false(guest_tcp_table_listens("garbage\n: :\n0: zz:16 0A\n", 22));
}

static char *drain(int fd) {
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        buf[MAX(n, 0)] = '\0';
        return g_strdup(buf);
}

/* The facts go out once; after a hang-up all of them again, in order. */
static void test_facts_again(void) {
        GuestChannel c;
        int sv[2];
        g_autofree char *first = NULL, *second = NULL, *third = NULL;
        g_autofree char *dir = g_dir_make_tmp("test-guest-channel-XXXXXX", NULL);

        g_assert_nonnull(dir);
        guest_channel_init(&c, false);
        /* No ports, no vsock: no channel; the facts wait. */
        g_assert_cmpint(guest_channel_open(&c, dir), <, 0);
        guest_channel_say(&c, MVM_GUEST_WORD_ARMED);
        g_assert_cmpint(guest_channel_poll_fd(&c), ==, -1);

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==, 0);
        c.fd = sv[0];
        g_assert_true(guest_channel_flush(&c));
        first = drain(sv[1]);
        g_assert_cmpstr(first, ==, "armed\n");
        g_assert_cmpint(guest_channel_poll_fd(&c), ==, sv[0]);

        guest_channel_say(&c, MVM_GUEST_WORD_READY);
        second = drain(sv[1]);
        g_assert_cmpstr(second, ==, "ready\n");

        /* The host went (a virtio-serial port stays open): everything again. */
        guest_channel_on_revents(&c, POLLHUP);
        g_assert_true(c.host_gone);
        g_assert_cmpint(guest_channel_poll_fd(&c), ==, -1);
        g_assert_true(guest_channel_flush(&c));
        third = drain(sv[1]);
        g_assert_cmpstr(third, ==, "armed\nready\n");
        g_assert_false(c.host_gone);

        close(sv[0]);
        close(sv[1]);
        g_rmdir(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/guest-channel-io/port-name", test_port_name);
        g_test_add_func("/guest-channel-io/tcp-table", test_tcp_table);
        g_test_add_func("/guest-channel-io/facts-again", test_facts_again);
        return g_test_run();
}
