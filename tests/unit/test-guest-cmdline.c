/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-init's reading of the kernel command line (guest/cmdline.c). */

#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include "cmdline.h"

static char *ipv4(struct in_addr a) {
        char buf[INET_ADDRSTRLEN];

        g_assert_nonnull(inet_ntop(AF_INET, &a, buf, sizeof(buf)));
        return g_strdup(buf);
}

/* Parses cmdline into *c (initialised here) and returns the problem count. */
static unsigned parse(const char *cmdline, GuestConfig *c) {
        guest_config_init(c);
        return guest_cmdline_parse(cmdline, c);
}

#define FULL                                                                                                   \
        "BOOT_IMAGE=/vmlinuz console=ttyS0 panic=-1 microvm.name=myvm "                                        \
        "microvm.workspace=/var/lib/microvm/workspaces/myvm microvm.software=/usr microvm.user=alice:1000:1001 " \
        "microvm.ip=192.168.83.2/24 microvm.gateway=192.168.83.1 microvm.mac=02:00:00:00:00:02 "               \
        "microvm.dns=192.168.83.1,9.9.9.9"

static void test_full(void) {
        GuestConfig c;
        g_autofree char *ip = NULL, *gw = NULL;

        g_assert_cmpuint(parse(FULL "\n", &c), ==, 0);
        g_assert_cmpstr(c.name, ==, "myvm");
        g_assert_cmpstr(c.workspace, ==, "/var/lib/microvm/workspaces/myvm");
        g_assert_cmpstr(c.software, ==, "/usr");
        g_assert_true(c.has_user);
        g_assert_cmpstr(c.user_name, ==, "alice");
        g_assert_cmpuint(c.uid, ==, 1000);
        g_assert_cmpuint(c.gid, ==, 1001);
        g_assert_true(c.has_ip);
        ip = ipv4(c.ip);
        g_assert_cmpstr(ip, ==, "192.168.83.2");
        g_assert_cmpuint(c.prefix, ==, 24);
        g_assert_true(c.has_gateway);
        gw = ipv4(c.gateway);
        g_assert_cmpstr(gw, ==, "192.168.83.1");
        g_assert_cmpstr(c.mac, ==, "02:00:00:00:00:02");
        g_assert_cmpuint(c.n_dns, ==, 2);
        g_assert_cmpstr(c.dns[0], ==, "192.168.83.1");
        g_assert_cmpstr(c.dns[1], ==, "9.9.9.9");
        g_assert_null(c.volume);
        guest_config_done(&c);

        /* A volume on /var, above the workspace in /var/lib: the workspace goes on it. */
        g_assert_cmpuint(parse(FULL " microvm.volume=/var", &c), ==, 0);
        g_assert_cmpstr(c.volume, ==, "/var");
        g_assert_cmpstr(c.workspace, ==, "/var/lib/microvm/workspaces/myvm");
        guest_config_done(&c);
}

static void test_missing(void) {
        GuestConfig c;

        /* name, workspace and user missing: three problems; no network is no problem */
        g_assert_cmpuint(parse("console=ttyS0 panic=-1", &c), ==, 3);
        g_assert_cmpstr(c.name, ==, GUEST_DEFAULT_NAME);
        g_assert_null(c.workspace);
        g_assert_cmpstr(c.software, ==, "/usr");
        g_assert_false(c.has_user);
        g_assert_false(c.has_ip);
        g_assert_false(c.has_gateway);
        g_assert_null(c.mac);
        g_assert_cmpuint(c.n_dns, ==, 0);
        guest_config_done(&c);

        g_assert_cmpuint(parse("", &c), ==, 3);
        guest_config_done(&c);
        g_assert_cmpuint(parse(NULL, &c), ==, 3);
        guest_config_done(&c);
        g_assert_cmpuint(parse("   \n\t ", &c), ==, 3);
        guest_config_done(&c);
}

#define BASE "microvm.name=vm microvm.workspace=/w/vm microvm.user=bob:1000:1000 "

static void check_refused(const char *extra) {
        g_autofree char *line = g_strconcat(BASE, extra, NULL);
        GuestConfig c;

        if (parse(line, &c) == 0) {
                g_test_message("accepted: %s", extra);
                g_test_fail();
        }
        guest_config_done(&c);
}

static void test_malformed(void) {
        static const char *const refused[] = {
                "microvm.name=", "microvm.name=Bad", "microvm.name=1vm", "microvm.name=a/b",
                "microvm.name=abcdefghijklmnopqrstuvwxyz0123456", "microvm.name",
                "microvm.workspace=", "microvm.workspace=relative", "microvm.workspace=/a/../b",
                "microvm.workspace=/a/./b", "microvm.workspace=/a//b", "microvm.workspace=/a/",
                "microvm.workspace=/a:b", "microvm.workspace=/a%b", "microvm.workspace=/a#b",
                "microvm.workspace=\"/a b\"", "microvm.workspace=/a\\b", "microvm.workspace=/a\x01",
                "microvm.workspace=/", "microvm.workspace=/usr", "microvm.workspace=/usr/x",
                "microvm.workspace=/proc/x", "microvm.workspace=/dev", "microvm.workspace=/etc",
                "microvm.workspace=/run/x", "microvm.workspace=/bin/x", "microvm.workspace=/tmp",
                "microvm.software=/nix/store microvm.workspace=/nix/store/x",
                "microvm.software=/", "microvm.software=relative", "microvm.software=/proc",
                "microvm.software=/etc", "microvm.software=/tmp/x",
                "microvm.user=", "microvm.user=bob", "microvm.user=bob:1000", "microvm.user=bob:1000:",
                "microvm.user=bob:x:1000", "microvm.user=bob:1000:1000:1", "microvm.user=:1000:1000",
                "microvm.user=bob:-1:1000", "microvm.user=bob:+1:1000", "microvm.user=bob:01:1000",
                "microvm.user=bob:4294967295:1000", "microvm.user=bob:1000:4294967296",
                "microvm.user=b:b:1000:1000", "microvm.user=1bob:1000:1000", "microvm.user=-bob:1:1",
                "microvm.user=bo$b:1:1", "microvm.user=bo b:1:1", "microvm.user=root:1000:1000",
                "microvm.user=alice:0:0",
                "microvm.user=sshd:100:65534", "microvm.user=nobody:65534:65534", "microvm.user=x:65534:1",
                "microvm.user=abcdefghijklmnopqrstuvwxyz0123456:1:1",
                "microvm.ip=", "microvm.ip=10.0.0.2", "microvm.ip=10.0.0.2/", "microvm.ip=10.0.0.2/33",
                "microvm.ip=10.0.0.2/0", "microvm.ip=10.0.0/24", "microvm.ip=10.0.0.256/24",
                "microvm.ip=fd00::2/64", "microvm.ip=10.0.0.2/24x", "microvm.ip=10.0.0.2/024",
                "microvm.ip=10.0.0.2/24 microvm.gateway=10.0.0", "microvm.gateway=10.0.0.1",
                "microvm.ip=10.0.0.2/24 microvm.gateway=10.0.1.1",
                "microvm.ip=10.0.0.2/24 microvm.gateway=10.0.0.2",
                "microvm.mac=", "microvm.mac=02:00:00:00:00", "microvm.mac=02-00-00-00-00-02",
                "microvm.mac=02:00:00:00:00:0g", "microvm.mac=02:00:00:00:00:002",
                "microvm.dns=", "microvm.dns=dns.example", "microvm.dns=1.1.1.1,", "microvm.dns=,1.1.1.1",
                "microvm.dns=1.1.1.1,,8.8.8.8", "microvm.dns=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4",
                "microvm.volume", "microvm.volume=", "microvm.volume=var", "microvm.volume=/var/",
                "microvm.volume=/var//lib", "microvm.volume=/var/../etc", "microvm.volume=/var/./x",
                "microvm.volume=/v:x", "microvm.volume=\"/v x\"", "microvm.volume=/v%x",
                "microvm.volume=/", "microvm.volume=/usr", "microvm.volume=/usr/local", "microvm.volume=/proc",
                "microvm.volume=/proc/x", "microvm.volume=/sys", "microvm.volume=/sys/fs/x",
                "microvm.volume=/dev", "microvm.volume=/dev/x", "microvm.volume=/run", "microvm.volume=/run/x",
                "microvm.volume=/etc", "microvm.volume=/etc/x", "microvm.volume=/bin", "microvm.volume=/sbin/x",
                "microvm.volume=/lib", "microvm.volume=/lib64/x", "microvm.volume=/init",
                "microvm.volume=/w/vm", "microvm.volume=/w/vm/data",
                "microvm.software=/nix/store microvm.volume=/nix/store",
                "microvm.software=/nix/store microvm.volume=/nix/store/x",
                "microvm.software=/nix/store microvm.volume=/nix",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(refused); i++)
                check_refused(refused[i]);
}

static void test_refused_values_are_left_out(void) {
        GuestConfig c;

        /* A bad later value keeps the earlier good one; a bad only value leaves the field unset. */
        g_assert_cmpuint(parse(BASE "microvm.name=Bad microvm.ip=10.0.0.2/24 microvm.ip=bad "
                                    "microvm.mac=zz microvm.dns=nope microvm.user=:::",
                               &c),
                         ==, 5);
        g_assert_cmpstr(c.name, ==, "vm");
        g_assert_true(c.has_ip);
        g_assert_cmpuint(c.prefix, ==, 24);
        g_assert_null(c.mac);
        g_assert_cmpuint(c.n_dns, ==, 0);
        g_assert_cmpstr(c.user_name, ==, "bob");
        guest_config_done(&c);

        /* A workspace in the software share is dropped (the share is read-only). */
        g_assert_cmpuint(parse(BASE "microvm.workspace=/usr/w", &c), ==, 1);
        g_assert_null(c.workspace);
        guest_config_done(&c);

        /* A bad software path falls back to /usr. */
        g_assert_cmpuint(parse(BASE "microvm.software=/proc/x", &c), ==, 1);
        g_assert_cmpstr(c.software, ==, "/usr");
        guest_config_done(&c);

        /* The gateway needs an address, in its subnet. */
        g_assert_cmpuint(parse(BASE "microvm.gateway=10.0.0.1", &c), ==, 1);
        g_assert_false(c.has_gateway);
        guest_config_done(&c);

        /* Partly bad DNS lists keep the good servers, at most three. */
        g_assert_cmpuint(parse(BASE "microvm.dns=1.1.1.1,bad,2.2.2.2,3.3.3.3,4.4.4.4", &c), ==, 1);
        g_assert_cmpuint(c.n_dns, ==, 3);
        g_assert_cmpstr(c.dns[0], ==, "1.1.1.1");
        g_assert_cmpstr(c.dns[1], ==, "2.2.2.2");
        g_assert_cmpstr(c.dns[2], ==, "3.3.3.3");
        guest_config_done(&c);
}

static void test_credentials(void) {
        static const char *const refused[] = {
                "relative", "/home/a/", "/home//a", "/home/../etc", "/usr/x", "/etc", "/proc/x", "/",
                /* on, in or above the workspace (/w/vm), on or above the volume (/var) */
                "/w/vm", "/w/vm/x", "/w", "/var", "/",
        };
        GuestConfig c;

        g_assert_cmpuint(parse(BASE "microvm.volume=/var microvm.credentials=/home/alice/creds", &c), ==, 0);
        g_assert_cmpstr(c.credentials, ==, "/home/alice/creds");
        guest_config_done(&c);
        /* In the volume: mounted after it. */
        g_assert_cmpuint(parse(BASE "microvm.volume=/var microvm.credentials=/var/lib/creds", &c), ==, 0);
        g_assert_cmpstr(c.credentials, ==, "/var/lib/creds");
        guest_config_done(&c);
        g_assert_cmpuint(parse(BASE, &c), ==, 0);
        g_assert_null(c.credentials);
        guest_config_done(&c);

        for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
                g_autofree char *line = g_strconcat(BASE "microvm.volume=/var microvm.credentials=", refused[i], NULL);

                g_assert_cmpuint(parse(line, &c), ==, 1);
                g_assert_null(c.credentials);
                g_assert_cmpstr(c.workspace, ==, "/w/vm");
                g_assert_cmpstr(c.volume, ==, "/var");
                guest_config_done(&c);
        }
}

static void test_volume(void) {
        static const char *const accepted[] = {
                "/var", "/var/lib/data", "/srv", "/data", "/home", "/root", "/opt/x", "/mnt", "/tmp",
                "/usrx", "/etcetera", "/nix", "/w", "/w/other", "/w/vmx",
        };
        GuestConfig c;

        g_assert_null(guest_volume_invalid_reason("/var", NULL, "/usr"));
        g_assert_null(guest_volume_invalid_reason("/var", NULL, NULL));
        g_assert_nonnull(guest_volume_invalid_reason("/usr", NULL, NULL));
        g_assert_nonnull(guest_volume_invalid_reason("/nix", NULL, "/nix/store"));
        g_assert_nonnull(guest_volume_invalid_reason("/var/lib/w", "/var/lib/w", "/usr"));
        g_assert_null(guest_volume_invalid_reason("/var/lib", "/var/lib/w", "/usr"));

        for (size_t i = 0; i < G_N_ELEMENTS(accepted); i++) {
                g_autofree char *line = g_strconcat(BASE "microvm.volume=", accepted[i], NULL);

                g_assert_cmpuint(parse(line, &c), ==, 0);
                g_assert_cmpstr(c.volume, ==, accepted[i]);
                guest_config_done(&c);
        }

        /* Refused: left out, the rest of the line stands. */
        g_assert_cmpuint(parse(BASE "microvm.volume=/etc", &c), ==, 1);
        g_assert_null(c.volume);
        g_assert_cmpstr(c.workspace, ==, "/w/vm");
        guest_config_done(&c);

        /* The last good one wins; a bad later one keeps it. */
        g_assert_cmpuint(parse(BASE "microvm.volume=/var microvm.volume=/srv microvm.volume=srv", &c), ==, 1);
        g_assert_cmpstr(c.volume, ==, "/srv");
        guest_config_done(&c);

        /* Checked against the workspace and software share as they end up: a refused
         * workspace is not mounted, so it cannot conflict. */
        g_assert_cmpuint(parse(BASE "microvm.workspace=/proc/w microvm.volume=/proc/w/v", &c), ==, 2);
        g_assert_null(c.workspace);
        g_assert_null(c.volume);
        guest_config_done(&c);
        g_assert_cmpuint(parse(BASE "microvm.software=/etc/x microvm.volume=/etc/x", &c), ==, 2);
        g_assert_cmpstr(c.software, ==, "/usr");
        g_assert_null(c.volume);
        guest_config_done(&c);
        g_assert_cmpuint(parse("microvm.name=vm microvm.user=bob:1:1 microvm.workspace=/usr/w "
                               "microvm.volume=/usr/w/v",
                               &c),
                         ==, 2);
        guest_config_done(&c);
        g_assert_cmpuint(parse("microvm.name=vm microvm.user=bob:1:1 microvm.software=/nix/store "
                               "microvm.workspace=/nix/ws microvm.volume=/nix/ws/v",
                               &c),
                         ==, 1);
        g_assert_cmpstr(c.workspace, ==, "/nix/ws");
        g_assert_null(c.volume);
        guest_config_done(&c);
}

static void test_last_wins(void) {
        GuestConfig c;

        g_assert_cmpuint(parse(BASE "microvm.name=first microvm.name=second microvm.dns=1.1.1.1 "
                                    "microvm.dns=2.2.2.2 microvm.user=carol:2000:2001",
                               &c),
                         ==, 0);
        g_assert_cmpstr(c.name, ==, "second");
        g_assert_cmpuint(c.n_dns, ==, 1);
        g_assert_cmpstr(c.dns[0], ==, "2.2.2.2");
        g_assert_cmpstr(c.user_name, ==, "carol");
        g_assert_cmpuint(c.uid, ==, 2000);
        g_assert_cmpuint(c.gid, ==, 2001);
        guest_config_done(&c);
}

static void test_other_values(void) {
        GuestConfig c;

        /* /nix/store, root as the owner, upper-case MAC, IPv6 DNS, /32 without a gateway */
        g_assert_cmpuint(parse("microvm.name=n microvm.workspace=/home/ws/n microvm.software=/nix/store "
                               "microvm.user=root:0:0 microvm.mac=02:AB:cd:00:00:0F microvm.ip=10.1.2.3/32 "
                               "microvm.dns=2001:DB8::1,10.0.0.1 microvm.future=1 unrelated=microvm.name=x",
                               &c),
                         ==, 0);
        g_assert_cmpstr(c.software, ==, "/nix/store");
        g_assert_cmpstr(c.workspace, ==, "/home/ws/n");
        g_assert_cmpstr(c.user_name, ==, "root");
        g_assert_cmpuint(c.uid, ==, 0);
        g_assert_cmpstr(c.mac, ==, "02:ab:cd:00:00:0f");
        g_assert_cmpuint(c.prefix, ==, 32);
        g_assert_false(c.has_gateway);
        g_assert_cmpuint(c.n_dns, ==, 2);
        g_assert_cmpstr(c.dns[0], ==, "2001:db8::1");
        g_assert_cmpstr(c.name, ==, "n");
        guest_config_done(&c);

        /* Valid user names of other shapes, the largest ids */
        g_assert_cmpuint(parse("microvm.name=n microvm.workspace=/w microvm.user=_svc.build-1$:4294967294:0", &c),
                         ==, 0);
        g_assert_cmpstr(c.user_name, ==, "_svc.build-1$");
        g_assert_cmpuint(c.uid, ==, 4294967294u);
        g_assert_cmpuint(c.gid, ==, 0);
        guest_config_done(&c);
}

static void test_quoting(void) {
        GuestConfig c;

        /* microvmd's parameters come last, unquoted: a quote the user's part leaves open,
         * or a microvm.* word hidden in a quoted value, cannot replace them. */
        g_assert_cmpuint(parse("quiet x=\"a microvm.name=evil microvm.user=root:0:0 b\" y=\" " BASE, &c), ==, 0);
        g_assert_cmpstr(c.name, ==, "vm");
        g_assert_cmpstr(c.workspace, ==, "/w/vm");
        g_assert_cmpstr(c.user_name, ==, "bob");
        g_assert_cmpuint(c.uid, ==, 1000);
        guest_config_done(&c);

        /* A quoted microvm.* word is not microvmd's: ignored, the earlier value stays. */
        g_assert_cmpuint(parse(BASE "microvm.workspace=\"/w/q\"", &c), ==, 1);
        g_assert_cmpstr(c.workspace, ==, "/w/vm");
        guest_config_done(&c);
        g_assert_cmpuint(parse(BASE "\"microvm.name=qvm\"", &c), ==, 0);
        g_assert_cmpstr(c.name, ==, "vm");
        guest_config_done(&c);

        /* An unterminated quote does not run to the end of the line for microvm.* words. */
        g_assert_cmpuint(parse("x=\"open " BASE "microvm.ip=10.0.0.2/24", &c), ==, 0);
        g_assert_cmpstr(c.name, ==, "vm");
        g_assert_true(c.has_ip);
        guest_config_done(&c);
}

static void test_split(void) {
        char **w = guest_cmdline_split("  a b=\"c d\"  \"e f\"=g\th\n\"\" ");

        g_assert_nonnull(w);
        g_assert_cmpstr(w[0], ==, "a");
        g_assert_cmpstr(w[1], ==, "b=c d");
        g_assert_cmpstr(w[2], ==, "e f=g");
        g_assert_cmpstr(w[3], ==, "h");
        g_assert_cmpstr(w[4], ==, "");
        g_assert_null(w[5]);
        guest_strv_free(w);

        w = guest_cmdline_split("");
        g_assert_nonnull(w);
        g_assert_null(w[0]);
        guest_strv_free(w);

        /* Many words: the array grows. */
        g_autoptr(GString) many = g_string_new(NULL);
        for (int i = 0; i < 100; i++)
                g_string_append_printf(many, "w%d ", i);
        w = guest_cmdline_split(many->str);
        g_assert_cmpstr(w[99], ==, "w99");
        g_assert_null(w[100]);
        guest_strv_free(w);
}

static void test_path_below(void) {
        g_assert_true(guest_path_is_below("/usr", "/usr"));
        g_assert_true(guest_path_is_below("/usr/bin", "/usr"));
        g_assert_false(guest_path_is_below("/usrx", "/usr"));
        g_assert_false(guest_path_is_below("/us", "/usr"));
        g_assert_true(guest_path_is_below("/a", "/"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/guest-cmdline/full", test_full);
        g_test_add_func("/guest-cmdline/missing", test_missing);
        g_test_add_func("/guest-cmdline/malformed", test_malformed);
        g_test_add_func("/guest-cmdline/refused-values-are-left-out", test_refused_values_are_left_out);
        g_test_add_func("/guest-cmdline/volume", test_volume);
        g_test_add_func("/guest-cmdline/credentials", test_credentials);
        g_test_add_func("/guest-cmdline/last-wins", test_last_wins);
        g_test_add_func("/guest-cmdline/other-values", test_other_values);
        g_test_add_func("/guest-cmdline/quoting", test_quoting);
        g_test_add_func("/guest-cmdline/split", test_split);
        g_test_add_func("/guest-cmdline/path-below", test_path_below);
        return g_test_run();
}
