/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The a{sv} option parsing of CreateWorkspace and DeleteWorkspace, on real sd-bus
 * messages built the way a caller's would arrive. */
#include "bus-options.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"

#include <glib.h>
#include <string.h>
#include <sys/socket.h>

static sd_bus *test_bus;

static const char KEY1[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ffJzmHE5DOYv0eyfLkG9bD0RCwTtHbbmuw5MBNpS alice@host";
static const char KEY2[] = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob";

/* A message is only created on a started bus; a socketpair peer is enough. */
static void setup_bus(void) {
        int fds[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
        g_assert_cmpint(sd_bus_new(&test_bus), >=, 0);
        g_assert_cmpint(sd_bus_set_fd(test_bus, fds[0], fds[0]), >=, 0);
        g_assert_cmpint(sd_bus_start(test_bus), >=, 0);
        close(fds[1]);
}

static sd_bus_message *new_call(void) {
        sd_bus_message *m = NULL;

        g_assert_cmpint(sd_bus_message_new_method_call(test_bus, &m, MVM_BUS_NAME, MVM_MANAGER_PATH,
                                                       MVM_MANAGER_INTERFACE, "CreateWorkspace"), >=, 0);
        return m;
}

static void seal(sd_bus_message *m) {
        static uint64_t cookie = 1;

        g_assert_cmpint(sd_bus_message_seal(m, cookie++, 0), >=, 0);
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
}

static int parse_create(sd_bus_message *m, CreateOptions *o, sd_bus_error *error) {
        g_autoptr(MvmConfig) config = mvm_config_new_default();

        seal(m);
        return create_options_parse(m, config, o, error);
}

static void test_create_defaults(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_call();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CreateOptions o = {};

        g_assert_cmpint(sd_bus_message_append(m, "a{sv}", 0), >=, 0);
        g_assert_cmpint(parse_create(m, &o, &error), >=, 0);
        g_assert_cmpuint(o.vcpus, ==, 8);
        g_assert_cmpuint(o.memory_mib, ==, 4096);
        g_assert_nonnull(o.authorized_keys);
        g_assert_null(o.authorized_keys[0]);
        create_options_clear(&o);
}

static void test_create_all(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_call();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CreateOptions o = {};

        g_assert_cmpint(sd_bus_message_append(m, "a{sv}", 3,
                                              "vcpus", "u", 2,
                                              "memory-mib", "t", (uint64_t) 2048,
                                              "authorized-keys", "as", 2, KEY1, KEY2), >=, 0);
        g_assert_cmpint(parse_create(m, &o, &error), >=, 0);
        g_assert_false(sd_bus_error_is_set(&error));
        g_assert_cmpuint(o.vcpus, ==, 2);
        g_assert_cmpuint(o.memory_mib, ==, 2048);
        g_assert_cmpuint(g_strv_length(o.authorized_keys), ==, 2);
        g_assert_cmpstr(o.authorized_keys[0], ==, KEY1);
        g_assert_cmpstr(o.authorized_keys[1], ==, KEY2);
        create_options_clear(&o);
}

/* Each refused case: the error is InvalidArgument and its message names the problem. */
static void assert_refused(sd_bus_message *m, const char *message_part) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CreateOptions o = {};

        g_assert_cmpint(parse_create(m, &o, &error), <, 0);
        g_assert_cmpstr(error.name, ==, MVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error.message, message_part));
        g_assert_null(o.authorized_keys);
}

static void test_create_wrong_type(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *a = new_call(), *b = new_call(), *c = new_call();

        g_assert_cmpint(sd_bus_message_append(a, "a{sv}", 1, "vcpus", "s", "8"), >=, 0);
        assert_refused(a, "'vcpus' must be of type 'u'");
        g_assert_cmpint(sd_bus_message_append(b, "a{sv}", 1, "memory-mib", "u", 2048), >=, 0);
        assert_refused(b, "'memory-mib' must be of type 't'");
        g_assert_cmpint(sd_bus_message_append(c, "a{sv}", 1, "authorized-keys", "s", KEY1), >=, 0);
        assert_refused(c, "'authorized-keys' must be of type 'as'");
}

static void test_create_out_of_range(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *a = new_call(), *b = new_call(), *c = new_call(),
                                                        *d = new_call();

        g_assert_cmpint(sd_bus_message_append(a, "a{sv}", 1, "vcpus", "u", 0), >=, 0);
        assert_refused(a, "'vcpus' must be from 1 to 64");
        g_assert_cmpint(sd_bus_message_append(b, "a{sv}", 1, "vcpus", "u", 65), >=, 0);
        assert_refused(b, "not 65");
        g_assert_cmpint(sd_bus_message_append(c, "a{sv}", 1, "memory-mib", "t", (uint64_t) 127), >=, 0);
        assert_refused(c, "'memory-mib' must be from 128");
        g_assert_cmpint(sd_bus_message_append(d, "a{sv}", 1, "memory-mib", "t", UINT64_MAX), >=, 0);
        assert_refused(d, "'memory-mib'");
}

static void test_create_volume(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *ok = new_call(), *big = new_call();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CreateOptions o = {};

        g_assert_cmpint(sd_bus_message_append(ok, "a{sv}", 1, "volume-gib", "t", (uint64_t) 8), >=, 0);
        g_assert_cmpint(parse_create(ok, &o, &error), >=, 0);
        g_assert_cmpuint(o.volume_gib, ==, 8);
        create_options_clear(&o);
        g_assert_cmpint(sd_bus_message_append(big, "a{sv}", 1, "volume-gib", "t", (uint64_t) 1025), >=, 0);
        assert_refused(big, "'volume-gib' must be from 0");
}

/* An owner may make a VM stricter, never more open than the config: no "open". */
static void test_create_egress(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *none = new_call(), *open = new_call(), *bad = new_call(),
                                                        *type = new_call();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CreateOptions o = {};

        g_assert_cmpint(sd_bus_message_append(none, "a{sv}", 1, "egress", "s", "none"), >=, 0);
        g_assert_cmpint(parse_create(none, &o, &error), >=, 0);
        g_assert_cmpstr(o.egress, ==, "none");
        create_options_clear(&o);
        g_assert_null(o.egress);
        g_assert_cmpint(sd_bus_message_append(open, "a{sv}", 1, "egress", "s", "open"), >=, 0);
        assert_refused(open, "'egress' must be internet or none");
        g_assert_cmpint(sd_bus_message_append(bad, "a{sv}", 1, "egress", "s", "Internet"), >=, 0);
        assert_refused(bad, "'egress' must be internet or none");
        g_assert_cmpint(sd_bus_message_append(type, "a{sv}", 1, "egress", "b", true), >=, 0);
        assert_refused(type, "'egress' must be of type 's'");
}

static void test_create_kernel_cmdline(void) {
        static const char *const bad[] = {
                "console=ttyS0 \"", "x=\"a b\"", "microvm.user=root:0:0", "quiet microvm.ip=192.168.83.9/24",
                "a  microvm.name=x",
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *ok = new_call();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        CreateOptions o = {};

        g_assert_cmpint(sd_bus_message_append(ok, "a{sv}", 1, "kernel-cmdline", "s", "console=ttyS0 quiet nomicrovm.x=1"),
                        >=, 0);
        g_assert_cmpint(parse_create(ok, &o, &error), >=, 0);
        g_assert_cmpstr(o.kernel_cmdline, ==, "console=ttyS0 quiet nomicrovm.x=1");
        create_options_clear(&o);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_call();

                g_assert_cmpint(sd_bus_message_append(m, "a{sv}", 1, "kernel-cmdline", "s", bad[i]), >=, 0);
                assert_refused(m, "'kernel-cmdline' must not contain");
        }
}

static void test_create_unknown_and_duplicate(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *a = new_call(), *b = new_call();

        g_assert_cmpint(sd_bus_message_append(a, "a{sv}", 1, "cpus", "u", 2), >=, 0);
        assert_refused(a, "Unknown option 'cpus'");
        g_assert_cmpint(sd_bus_message_append(b, "a{sv}", 2, "vcpus", "u", 2, "vcpus", "u", 3), >=, 0);
        assert_refused(b, "given twice");
}

static void test_create_bad_keys(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *a = new_call(), *b = new_call();
        g_autofree char *two_lines = g_strdup_printf("%s\n%s", KEY1, KEY2);

        g_assert_cmpint(sd_bus_message_append(a, "a{sv}", 1, "authorized-keys", "as", 1, two_lines), >=, 0);
        assert_refused(a, "line break");
        g_assert_cmpint(sd_bus_message_append(b, "a{sv}", 1, "authorized-keys", "as", 2, KEY1, "hello"), >=, 0);
        assert_refused(b, "(key 2)");
}

static void test_create_too_many_keys(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = new_call();

        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", "authorized-keys"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'v', "as"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "s"), >=, 0);
        for (int i = 0; i < 65; i++)
                g_assert_cmpint(sd_bus_message_append(m, "s", KEY1), >=, 0);
        for (int i = 0; i < 4; i++)
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        assert_refused(m, "more than 64 keys");
}

static void test_delete_options(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *a = new_call(), *b = new_call(), *c = new_call(),
                                                        *d = new_call();
        _cleanup_(sd_bus_error_free) sd_bus_error e1 = SD_BUS_ERROR_NULL, e2 = SD_BUS_ERROR_NULL;
        DeleteOptions o;

        g_assert_cmpint(sd_bus_message_append(a, "a{sv}", 0), >=, 0);
        seal(a);
        g_assert_cmpint(delete_options_parse(a, &o, NULL), >=, 0);
        g_assert_false(o.remove_files);

        g_assert_cmpint(sd_bus_message_append(b, "a{sv}", 1, "remove-files", "b", 1), >=, 0);
        seal(b);
        g_assert_cmpint(delete_options_parse(b, &o, NULL), >=, 0);
        g_assert_true(o.remove_files);

        g_assert_cmpint(sd_bus_message_append(c, "a{sv}", 1, "remove-files", "s", "yes"), >=, 0);
        seal(c);
        g_assert_cmpint(delete_options_parse(c, &o, &e1), <, 0);
        g_assert_cmpstr(e1.name, ==, MVM_ERROR_INVALID_ARGUMENT);

        g_assert_cmpint(sd_bus_message_append(d, "a{sv}", 1, "purge", "b", 1), >=, 0);
        seal(d);
        g_assert_cmpint(delete_options_parse(d, &o, &e2), <, 0);
        g_assert_cmpstr(e2.name, ==, MVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(e2.message, "Unknown option 'purge'"));
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        setup_bus();
        g_test_add_func("/bus-options/create/defaults", test_create_defaults);
        g_test_add_func("/bus-options/create/all", test_create_all);
        g_test_add_func("/bus-options/create/wrong-type", test_create_wrong_type);
        g_test_add_func("/bus-options/create/out-of-range", test_create_out_of_range);
        g_test_add_func("/bus-options/create/unknown-and-duplicate", test_create_unknown_and_duplicate);
        g_test_add_func("/bus-options/create/bad-keys", test_create_bad_keys);
        g_test_add_func("/bus-options/create/volume", test_create_volume);
        g_test_add_func("/bus-options/create/egress", test_create_egress);
        g_test_add_func("/bus-options/create/kernel-cmdline", test_create_kernel_cmdline);
        g_test_add_func("/bus-options/create/too-many-keys", test_create_too_many_keys);
        g_test_add_func("/bus-options/delete", test_delete_options);
        r = g_test_run();
        sd_bus_flush_close_unref(test_bus);
        return r;
}
