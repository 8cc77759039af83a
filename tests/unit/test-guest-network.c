/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-init's network, module list and power button helpers (guest/network.c,
 * guest/modules.c, guest/power.c): the parts that need no PID 1. */

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "modules.h"
#include "network.h"
#include "power.h"

static void check_netmask(unsigned prefix, const char *expected) {
        struct in_addr mask = guest_prefix_to_netmask(prefix);
        char buf[INET_ADDRSTRLEN];

        g_assert_nonnull(inet_ntop(AF_INET, &mask, buf, sizeof(buf)));
        g_assert_cmpstr(buf, ==, expected);
}

static void test_netmask(void) {
        check_netmask(0, "0.0.0.0");
        check_netmask(1, "128.0.0.0");
        check_netmask(8, "255.0.0.0");
        check_netmask(20, "255.255.240.0");
        check_netmask(24, "255.255.255.0");
        check_netmask(31, "255.255.255.254");
        check_netmask(32, "255.255.255.255");
}

static void test_pick_interface(void) {
        const GuestInterface ifs[] = {
                { "eth0", "02:00:00:00:00:01" },
                { "eth1", "02:00:00:00:00:02" },
        };
        bool matched = false;

        g_assert_null(guest_pick_interface(ifs, 0, NULL, &matched));
        g_assert_true(guest_pick_interface(ifs, 2, NULL, &matched) == &ifs[0]);
        g_assert_true(matched);
        g_assert_true(guest_pick_interface(ifs, 2, "02:00:00:00:00:02", &matched) == &ifs[1]);
        g_assert_true(matched);
        g_assert_true(guest_pick_interface(ifs, 2, "02:00:00:00:00:0A", &matched) == &ifs[0]);
        g_assert_false(matched);
}

static void make_fake_interface(const char *dir, const char *name, const char *address) {
        g_autofree char *d = g_build_filename(dir, name, NULL);
        g_autofree char *f = g_build_filename(d, "address", NULL);

        g_assert_cmpint(g_mkdir_with_parents(d, 0755), ==, 0);
        if (address)
                g_assert_true(g_file_set_contents(f, address, -1, NULL));
}

static void test_list_interfaces(void) {
        g_autofree char *dir = g_dir_make_tmp("test-guest-net-XXXXXX", NULL);
        g_autofree char *cmd = NULL;
        GuestInterface ifs[8];
        int n;

        g_assert_cmpint(guest_list_interfaces(dir, ifs, 8), ==, 0);
        make_fake_interface(dir, "lo", "00:00:00:00:00:00\n");
        make_fake_interface(dir, "eth1", "02:00:00:00:00:0B\n");
        make_fake_interface(dir, "eth0", "02:00:00:00:00:0a\n");
        make_fake_interface(dir, "sit0", NULL);
        n = guest_list_interfaces(dir, ifs, 8);
        g_assert_cmpint(n, ==, 3);
        g_assert_cmpstr(ifs[0].name, ==, "eth0");
        g_assert_cmpstr(ifs[0].mac, ==, "02:00:00:00:00:0a");
        g_assert_cmpstr(ifs[1].name, ==, "eth1");
        g_assert_cmpstr(ifs[1].mac, ==, "02:00:00:00:00:0b");
        g_assert_cmpstr(ifs[2].name, ==, "sit0");
        g_assert_cmpstr(ifs[2].mac, ==, "");
        /* at most max */
        g_assert_cmpint(guest_list_interfaces(dir, ifs, 1), ==, 1);
        g_assert_cmpint(guest_list_interfaces("/nonexistent-dir", ifs, 8), ==, -ENOENT);

        cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_cmpint(system(cmd), ==, 0);
}

static void check_candidates(const char *line, int expected_n, const char *first, const char *second) {
        char *c[GUEST_MODULE_CANDIDATES_MAX];
        int n = guest_module_candidates("/lib/modules", "6.1.0-56-cloud-amd64", line, c);

        g_assert_cmpint(n, ==, expected_n);
        g_assert_cmpstr(c[0], ==, first);
        g_assert_cmpstr(c[1], ==, second);
        for (int i = 0; i < GUEST_MODULE_CANDIDATES_MAX; i++)
                free(c[i]);
}

static void test_module_candidates(void) {
        check_candidates("", 0, NULL, NULL);
        check_candidates("  \n", 0, NULL, NULL);
        check_candidates("# comment\n", 0, NULL, NULL);
        check_candidates("virtio_net\n", 2, "/lib/modules/virtio_net.ko",
                         "/lib/modules/6.1.0-56-cloud-amd64/virtio_net.ko");
        check_candidates("  virtio_net  \r\n", 2, "/lib/modules/virtio_net.ko",
                         "/lib/modules/6.1.0-56-cloud-amd64/virtio_net.ko");
        check_candidates("kernel/drivers/net/virtio_net.ko\n", 2,
                         "/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/net/virtio_net.ko",
                         "/lib/modules/kernel/drivers/net/virtio_net.ko");
        check_candidates("fuse.ko", 2, "/lib/modules/6.1.0-56-cloud-amd64/fuse.ko", "/lib/modules/fuse.ko");
        check_candidates("kernel/fs/fuse/virtiofs.ko.xz", 2,
                         "/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/fuse/virtiofs.ko.xz",
                         "/lib/modules/kernel/fs/fuse/virtiofs.ko.xz");
        check_candidates("/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/fuse/fuse.ko", 1,
                         "/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/fuse/fuse.ko", NULL);
        check_candidates("../../etc/evil.ko", -EINVAL, NULL, NULL);
        check_candidates("/lib/modules/../x.ko", -EINVAL, NULL, NULL);
        check_candidates("a b", -EINVAL, NULL, NULL);
        /* ".." only as a whole component */
        check_candidates("x..y", 2, "/lib/modules/x..y.ko", "/lib/modules/6.1.0-56-cloud-amd64/x..y.ko");
}

static void test_load_modules_missing_list(void) {
        g_assert_cmpint(guest_load_modules("/nonexistent", "/nonexistent/load-order"), ==, -ENOENT);
}

static void test_power_button(void) {
        struct input_event press[] = {
                { .type = EV_KEY, .code = KEY_POWER, .value = 1 },
                { .type = EV_SYN, .code = SYN_REPORT, .value = 0 },
        };
        struct input_event release[] = {
                { .type = EV_KEY, .code = KEY_POWER, .value = 0 },
                { .type = EV_SYN, .code = SYN_REPORT, .value = 0 },
        };
        struct input_event other[] = {
                { .type = EV_KEY, .code = KEY_SLEEP, .value = 1 },
                { .type = EV_MSC, .code = KEY_POWER, .value = 1 },
        };

        g_assert_true(power_button_name_matches("Power Button"));
        g_assert_true(power_button_name_matches("ACPI Power Button"));
        g_assert_false(power_button_name_matches("Sleep Button"));
        g_assert_false(power_button_name_matches("AT Translated Set 2 keyboard"));
        g_assert_true(power_button_pressed(press, G_N_ELEMENTS(press)));
        g_assert_false(power_button_pressed(release, G_N_ELEMENTS(release)));
        g_assert_false(power_button_pressed(other, G_N_ELEMENTS(other)));
        g_assert_false(power_button_pressed(press, 0));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/guest-network/netmask", test_netmask);
        g_test_add_func("/guest-network/pick-interface", test_pick_interface);
        g_test_add_func("/guest-network/list-interfaces", test_list_interfaces);
        g_test_add_func("/guest-network/module-candidates", test_module_candidates);
        g_test_add_func("/guest-network/load-modules-missing-list", test_load_modules_missing_list);
        g_test_add_func("/guest-network/power-button", test_power_button);
        return g_test_run();
}
