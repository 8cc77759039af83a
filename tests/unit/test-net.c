/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM network's address arithmetic, the allocator and name derivation. */
#include "mvm-name.h"
#include "mvm-net.h"

#include <errno.h>
#include <glib.h>
#include <net/if.h>
#include <string.h>

static uint32_t ip(const char *s) {
        uint32_t a = 0;
        g_assert_cmpint(mvm_ipv4_parse(s, &a), ==, 0);
        return a;
}

static void test_subnet_parse(void) {
        MvmSubnet s;
        g_autofree char *gw = NULL, *bc = NULL;

        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/24", &s), ==, 0);
        g_assert_cmpuint(s.network, ==, ip("192.168.83.0"));
        g_assert_cmpuint(s.prefix, ==, 24);
        gw = mvm_ipv4_to_string(mvm_subnet_gateway(&s));
        bc = mvm_ipv4_to_string(mvm_subnet_broadcast(&s));
        g_assert_cmpstr(gw, ==, "192.168.83.1");
        g_assert_cmpstr(bc, ==, "192.168.83.255");
        g_assert_cmpuint(mvm_subnet_netmask(&s), ==, ip("255.255.255.0"));

        g_assert_cmpint(mvm_subnet_parse("10.1.0.0/16", &s), ==, 0);
        g_assert_cmpint(mvm_subnet_parse("192.168.83.4/30", &s), ==, 0);

        g_assert_cmpint(mvm_subnet_parse("192.168.83.1/24", &s), ==, -EINVAL); /* host bits */
        g_assert_cmpint(mvm_subnet_parse("192.168.83.0", &s), ==, -EINVAL);
        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/", &s), ==, -EINVAL);
        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/x", &s), ==, -EINVAL);
        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/24x", &s), ==, -ERANGE);
        g_assert_cmpint(mvm_subnet_parse("10.0.0.0/8", &s), ==, -ERANGE);
        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/31", &s), ==, -ERANGE);
        g_assert_cmpint(mvm_subnet_parse("300.1.1.0/24", &s), ==, -EINVAL);
        g_assert_cmpint(mvm_subnet_parse(NULL, &s), ==, -EINVAL);
}

static void test_cidr_parse(void) {
        static const struct {
                const char *in, *out;
        } good[] = {
                { "192.168.1.0/24", "192.168.1.0/24" },
                { "10.1.2.3", "10.1.2.3/32" },
                { "10.1.2.3/32", "10.1.2.3/32" },
                { "0.0.0.0/0", "0.0.0.0/0" },
                { "203.0.113.0/25", "203.0.113.0/25" },
        };
        static const char *const bad[] = {
                "", "/24", "192.168.1.1/24", "192.168.1.0/33", "192.168.1.0/", "192.168.1.0/2x",
                "192.168.1.0/-1", "192.168.1.0/024", "192.168.1", "fd00::/8", "mirror.example", NULL,
        };
        MvmSubnet s;

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autofree char *text = NULL;

                g_assert_cmpint(mvm_cidr_parse(good[i].in, &s), ==, 0);
                text = mvm_cidr_to_string(&s);
                g_assert_cmpstr(text, ==, good[i].out);
        }
        for (size_t i = 0; bad[i]; i++) {
                if (mvm_cidr_parse(bad[i], &s) == 0) {
                        g_test_message("'%s' was accepted as a network", bad[i]);
                        g_test_fail();
                }
        }
        g_assert_cmpint(mvm_cidr_parse(NULL, &s), <, 0);
}

static void test_vm_address(void) {
        MvmSubnet s;

        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/24", &s), ==, 0);
        g_assert_true(mvm_subnet_is_vm_address(&s, ip("192.168.83.2")));
        g_assert_true(mvm_subnet_is_vm_address(&s, ip("192.168.83.254")));
        g_assert_false(mvm_subnet_is_vm_address(&s, ip("192.168.83.0")));
        g_assert_false(mvm_subnet_is_vm_address(&s, ip("192.168.83.1")));
        g_assert_false(mvm_subnet_is_vm_address(&s, ip("192.168.83.255")));
        g_assert_false(mvm_subnet_is_vm_address(&s, ip("192.168.84.2")));
}

static void test_allocate_reuse_exhaust(void) {
        g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
        MvmSubnet s;
        uint32_t a;

        /* A /29 has 6 usable addresses: the gateway .1 and VMs .2 to .6. */
        g_assert_cmpint(mvm_subnet_parse("192.168.83.0/29", &s), ==, 0);
        for (unsigned i = 2; i <= 6; i++) {
                g_assert_cmpint(mvm_subnet_allocate(&s, used, &a), ==, 0);
                g_assert_cmpuint(a, ==, ip("192.168.83.0") + i);
                g_hash_table_add(used, GUINT_TO_POINTER(a));
        }
        g_assert_cmpint(mvm_subnet_allocate(&s, used, &a), ==, -ENOSPC);

        /* A deleted VM's address is the next one handed out. */
        g_hash_table_remove(used, GUINT_TO_POINTER(ip("192.168.83.4")));
        g_assert_cmpint(mvm_subnet_allocate(&s, used, &a), ==, 0);
        g_assert_cmpuint(a, ==, ip("192.168.83.4"));
}

static void test_mac(void) {
        g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        for (int i = 0; i < 1000; i++) {
                char *mac = mvm_mac_generate(used);

                g_assert_true(mvm_mac_is_valid(mac));
                g_assert_true(g_str_has_prefix(mac, "02:"));
                g_assert_true(g_hash_table_add(used, mac)); /* never twice */
        }
        g_assert_true(mvm_mac_is_valid("02:ab:CD:00:11:ff"));
        g_assert_false(mvm_mac_is_valid("02:ab:cd:00:11"));
        g_assert_false(mvm_mac_is_valid("02-ab-cd-00-11-ff"));
        g_assert_false(mvm_mac_is_valid("02:ab:cd:00:11:fg"));
        g_assert_false(mvm_mac_is_valid("0x:ab:cd:00:11:ff"));
        g_assert_false(mvm_mac_is_valid(NULL));
}

static void test_tap_names(void) {
        MvmSubnet s;
        g_autofree char *first = NULL, *last = NULL;
        char longest[MVM_NAME_MAX + 1];

        g_assert_cmpint(mvm_subnet_parse("10.1.0.0/16", &s), ==, 0);
        first = mvm_tap_name(&s, ip("10.1.0.2"));
        last = mvm_tap_name(&s, ip("10.1.255.254"));
        g_assert_cmpstr(first, ==, "mvt2");
        g_assert_cmpstr(last, ==, "mvt65534");
        /* Whatever the VM is called: the name depends on the address only. */
        g_assert_cmpuint(strlen(last), <, IFNAMSIZ);
        memset(longest, 'a', MVM_NAME_MAX);
        longest[MVM_NAME_MAX] = '\0';
        g_assert_true(mvm_name_is_valid(longest));
        g_assert_true(mvm_ifname_is_valid(last));
        g_assert_false(mvm_ifname_is_valid("sixteen-chars-xx"));
        g_assert_false(mvm_ifname_is_valid(""));
        g_assert_false(mvm_ifname_is_valid("a b"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/net/subnet-parse", test_subnet_parse);
        g_test_add_func("/net/cidr-parse", test_cidr_parse);
        g_test_add_func("/net/vm-address", test_vm_address);
        g_test_add_func("/net/allocate-reuse-exhaust", test_allocate_reuse_exhaust);
        g_test_add_func("/net/mac", test_mac);
        g_test_add_func("/net/tap-names", test_tap_names);
        return g_test_run();
}
