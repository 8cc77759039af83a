/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM definitions (/var/lib/microvm/vms/NAME.json): the JSON round trip, and every way a
 * damaged or hostile file is refused. */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "mvm-json.h"
#include "mvm-vmdef.h"

/* A valid definition; the tests below damage one member at a time. */
#define VALID_JSON                                      \
        "{\n"                                           \
        "  \"format-version\" : 1,\n"                   \
        "  \"name\" : \"my-vm\",\n"                     \
        "  \"owner\" : 1000,\n"                         \
        "  \"vcpus\" : 4,\n"                            \
        "  \"memory-mib\" : 8192,\n"                    \
        "  \"workspace\" : \"/var/lib/microvm/workspaces/my-vm\",\n" \
        "  \"created-at\" : 1700000000123456\n"         \
        "}\n"

static const char *const int_members[] = { "format-version", "owner", "vcpus", "memory-mib", "created-at" };
static const char *const string_members[] = { "name", "workspace" };

static void assert_same(const MvmVmDef *a, const MvmVmDef *b) {
        g_assert_cmpstr(a->name, ==, b->name);
        g_assert_cmpuint(a->owner, ==, b->owner);
        g_assert_cmpuint(a->vcpus, ==, b->vcpus);
        g_assert_cmpuint(a->memory_mib, ==, b->memory_mib);
        g_assert_cmpstr(a->workspace, ==, b->workspace);
        g_assert_cmpuint(a->created_at, ==, b->created_at);
        g_assert_cmpstr(a->hypervisor, ==, b->hypervisor);
        g_assert_cmpint(a->autostart, ==, b->autostart);
        g_assert_cmpstr(a->kernel, ==, b->kernel);
        g_assert_cmpstr(a->initramfs, ==, b->initramfs);
        g_assert_cmpstr(a->kernel_cmdline, ==, b->kernel_cmdline);
        g_assert_cmpstr(a->ip_address, ==, b->ip_address);
        g_assert_cmpstr(a->mac_address, ==, b->mac_address);
        g_assert_cmpuint(a->volume_gib, ==, b->volume_gib);
        g_assert_cmpstr(a->egress, ==, b->egress);
        g_assert_cmpstr(a->credentials_directory, ==, b->credentials_directory);
}

static void check_round_trip(const MvmVmDef *d) {
        g_autoptr(GError) error = NULL;
        g_autofree char *json = mvm_vmdef_to_json(d);
        g_autofree char *json2 = NULL;
        g_autoptr(MvmVmDef) back = NULL, back2 = NULL;
        size_t n;

        g_assert_nonnull(json);
        n = strlen(json);
        g_assert_cmpuint(n, >, 2);
        /* Newline-terminated, exactly once. */
        g_assert_cmpint(json[n - 1], ==, '\n');
        g_assert_cmpint(json[n - 2], !=, '\n');

        back = mvm_vmdef_from_json(json, -1, &error);
        g_assert_no_error(error);
        g_assert_nonnull(back);
        assert_same(d, back);

        back2 = mvm_vmdef_from_json(json, (gssize) n, &error);
        g_assert_no_error(error);
        assert_same(d, back2);

        /* Writing what was read gives the same file. */
        json2 = mvm_vmdef_to_json(back);
        g_assert_cmpstr(json, ==, json2);
}

/* Optional members with bad values are refused like the required ones. */
static void test_optional_members_refused(void) {
        static const char *const bad[] = {
                "\"hypervisor\": \"firecracker\"",
                "\"autostart\": \"yes\"",
                "\"kernel\": \"vmlinuz\"",
                "\"ip-address\": \"192.168.83\"",
                "\"mac-address\": \"02:00:00:00:00\"",
                "\"volume-gib\": 0",
                "\"volume-gib\": \"8\"",
                /* "open" is the config's to give, never a VM's. */
                "\"egress\": \"open\"",
                "\"egress\": \"\"",
                "\"egress\": true",
                /* Mounted at the same path in the guest and passed on its command line. */
                "\"credentials-directory\": \"relative\"",
                "\"credentials-directory\": \"/usr/local/creds\"",
                "\"credentials-directory\": \"/home/a b\"",
                "\"credentials-directory\": \"/home/a/../../etc\"",
                "\"credentials-directory\": 1",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *json = g_strdup_printf(
                        "{\"format-version\": 1, \"name\": \"x\", \"owner\": 1, \"vcpus\": 1, "
                        "\"memory-mib\": 512, \"workspace\": \"/w\", \"created-at\": 1, %s}", bad[i]);
                g_autoptr(MvmVmDef) d = mvm_vmdef_from_json(json, -1, &error);

                g_assert_null(d);
                g_assert_nonnull(error);
        }
}

static void test_round_trip(void) {
        char name32[] = "abcdefghijklmnopqrstuvwxyz012345";
        const MvmVmDef defs[] = {
                { "my-vm", 1000, 4, 8192, "/var/lib/microvm/workspaces/my-vm", UINT64_C(1700000000123456) },
                { "a", 0, 1, 1, "/w", 0 },
                { "b", 4294967294u, 4294967295u, 65536, "/srv/ws/b", 1 },
                { name32, 65534, 64, UINT64_C(1) << 40, "/var/lib/microvm/workspaces/abcdefghijklmnopqrstuvwxyz012345",
                  UINT64_C(4102444800000000) /* 2100-01-01 */ },
                { "big", 1, 8, (uint64_t) G_MAXINT64, "/big", (uint64_t) G_MAXINT64 },
                { "big2", 2147483648u, 2147483648u, UINT64_C(4294967296), "/big", UINT64_C(9007199254740993) /* 2^53 + 1 */ },
                /* Strings that need escaping in JSON. */
                { "odd", 42, 2, 2048, "/srv/my \"work\" spaces\\ \xc3\xa9\t/x\n", 123 },
                /* The optional members. */
                { "full", 1000, 2, 1024, "/var/lib/microvm/workspaces/full", 5, (char *) "qemu", true,
                  (char *) "/boot/k", (char *) "/boot/i", (char *) "console=ttyS0 quiet", (char *) "192.168.83.7",
                  (char *) "02:00:de:ad:be:ef", 8, (char *) "none" },
                { "strict", 1000, 1, 512, "/w/strict", 6, .egress = (char *) "internet" },
                { "creds", 1000, 1, 512, "/w/creds", 7,
                  .credentials_directory = (char *) "/home/alice/.local/share/microvm/credentials" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(defs); i++)
                check_round_trip(&defs[i]);
}

static void test_credentials_directory_reason(void) {
        static const char *const good[] = {
                "/home/alice/.local/share/microvm/credentials", "/srv/agents/a.b_c+d-e@f", "/var/lib/agents",
                "/home/root", "/usrx",
        };
        static const char *const bad[] = {
                NULL, "", "/", "x", "/home/alice/", "/home//alice", "/home/./alice", "/home/../etc", "/home/alice/.",
                "/home/alice/..", "/home/a b", "/home/a\"b", "/home/a\nb", "/home/\xc3\xa9", "/usr", "/usr/x", "/nix/store",
                "/etc/x", "/proc/1", "/run/user/1000", "/tmp/x", "/var/lib/microvm/workspaces/x", "/root/x",
        };
        g_autofree char *long_path = g_strnfill(256, 'a');

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
                g_assert_null(mvm_credentials_directory_invalid_reason(good[i]));
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                g_assert_nonnull(mvm_credentials_directory_invalid_reason(bad[i]));
        long_path[0] = '/';
        g_assert_nonnull(mvm_credentials_directory_invalid_reason(long_path));
        long_path[255] = '\0';
        g_assert_null(mvm_credentials_directory_invalid_reason(long_path));
}

static void test_valid_text(void) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = mvm_vmdef_from_json(VALID_JSON, -1, &error);

        g_assert_no_error(error);
        g_assert_nonnull(d);
        g_assert_cmpstr(d->name, ==, "my-vm");
        g_assert_cmpuint(d->owner, ==, 1000);
        g_assert_cmpuint(d->vcpus, ==, 4);
        g_assert_cmpuint(d->memory_mib, ==, 8192);
        g_assert_cmpstr(d->workspace, ==, "/var/lib/microvm/workspaces/my-vm");
        g_assert_cmpuint(d->created_at, ==, UINT64_C(1700000000123456));

        mvm_vmdef_free(NULL);
}

static void assert_refused_len(const char *data, gssize length) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = mvm_vmdef_from_json(data, length, &error);
        g_autofree char *shown = g_strescape(data, NULL);

        if (d || !error) {
                g_test_message("definition \"%s\" was accepted, expected an error", shown);
                g_test_fail();
                return;
        }
        g_assert_true(error->domain == MVM_VMDEF_ERROR);
        g_assert_nonnull(error->message);
}

static void assert_refused(const char *data) {
        assert_refused_len(data, -1);
}

static void assert_accepted(const char *data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = mvm_vmdef_from_json(data, -1, &error);

        if (!d || error) {
                g_autofree char *shown = g_strescape(data, NULL);
                g_test_message("definition \"%s\" was refused: %s", shown,
                               error ? error->message : "(no error)");
                g_test_fail();
        }
}

/* VALID_JSON with one change made by edit(object). */
typedef void (*EditFunc)(JsonObject *o, const char *member, gconstpointer data);

static char *edited_json(EditFunc edit, const char *member, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) root = json_from_string(VALID_JSON, &error);

        g_assert_no_error(error);
        edit(json_node_get_object(root), member, data);
        return json_to_string(root, TRUE);
}

static void edit_remove(JsonObject *o, const char *member, gconstpointer data) {
        json_object_remove_member(o, member);
}
static void edit_int(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_int_member(o, member, *(const gint64 *) data);
}
static void edit_double(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_double_member(o, member, *(const double *) data);
}
static void edit_string(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_string_member(o, member, data);
}
static void edit_bool(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_boolean_member(o, member, TRUE);
}
static void edit_null(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_null_member(o, member);
}
static void edit_array(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_array_member(o, member, json_array_new());
}
static void edit_object(JsonObject *o, const char *member, gconstpointer data) {
        json_object_set_object_member(o, member, json_object_new());
}

static void refuse_edit(EditFunc edit, const char *member, gconstpointer data) {
        g_autofree char *json = edited_json(edit, member, data);
        assert_refused(json);
}

static void accept_edit(EditFunc edit, const char *member, gconstpointer data) {
        g_autofree char *json = edited_json(edit, member, data);
        assert_accepted(json);
}

static void test_edit_helper(void) {
        /* The unedited document must pass, or the refusals below prove nothing. */
        gint64 v = 1000;
        accept_edit(edit_int, "owner", &v);
        assert_accepted(VALID_JSON);
}

static void test_invalid_json(void) {
        static const char *const texts[] = {
                "", " ", "\n", "{", "}", "{\"name\":}", "garbage", "{'name': 'my-vm'}",
                "{\"format-version\" : 1,}",
                "{\"format-version\" 1}",
                VALID_JSON "x",
                VALID_JSON "}",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(texts); i++)
                assert_refused(texts[i]);
}

static void test_not_an_object(void) {
        static const char *const texts[] = {
                "[]", "[" VALID_JSON "]", "42", "\"my-vm\"", "null", "true", "1.5",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(texts); i++)
                assert_refused(texts[i]);
}

static void test_missing_member(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(int_members); i++)
                refuse_edit(edit_remove, int_members[i], NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(string_members); i++)
                refuse_edit(edit_remove, string_members[i], NULL);
        assert_refused("{}");
}

static void test_wrong_types(void) {
        static const double doubles[] = { 4.0, 4.5, -1.0, 0.0 };
        static const char *const strings[] = { "4", "1", "" };

        for (size_t i = 0; i < G_N_ELEMENTS(int_members); i++) {
                const char *m = int_members[i];
                for (size_t k = 0; k < G_N_ELEMENTS(doubles); k++)
                        refuse_edit(edit_double, m, &doubles[k]);
                for (size_t k = 0; k < G_N_ELEMENTS(strings); k++)
                        refuse_edit(edit_string, m, strings[k]);
                refuse_edit(edit_bool, m, NULL);
                refuse_edit(edit_null, m, NULL);
                refuse_edit(edit_array, m, NULL);
                refuse_edit(edit_object, m, NULL);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(string_members); i++) {
                const char *m = string_members[i];
                gint64 v = 1;
                double dv = 1.0;
                refuse_edit(edit_int, m, &v);
                refuse_edit(edit_double, m, &dv);
                refuse_edit(edit_bool, m, NULL);
                refuse_edit(edit_null, m, NULL);
                refuse_edit(edit_array, m, NULL);
                refuse_edit(edit_object, m, NULL);
        }

        /* Written by hand too, in case json-glib's writer and reader agree on something odd. */
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":\"4\","
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4.0,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":8e3,\"workspace\":\"/w\",\"created-at\":1}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":true,\"vcpus\":4,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1}");
}

static void test_format_version(void) {
        static const gint64 versions[] = { 0, 2, 3, -1, 100, G_MAXINT64 };

        for (size_t i = 0; i < G_N_ELEMENTS(versions); i++)
                refuse_edit(edit_int, "format-version", &versions[i]);
}

static void test_invalid_name(void) {
        static const char *const names[] = {
                "", "UPPER", "aB", "1vm", "-vm", "my vm", "a/b", "..", ".", "../../etc/passwd",
                "vm\xc3\xa9", "vm\n", "abcdefghijklmnopqrstuvwxyz0123456",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                refuse_edit(edit_string, "name", names[i]);
}

static void test_invalid_workspace(void) {
        static const char *const dirs[] = { "", "ws", "./ws", "../ws", "~/ws", "srv/ws/my-vm" };

        for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++)
                refuse_edit(edit_string, "workspace", dirs[i]);
}

static void test_owner_range(void) {
        static const gint64 bad[] = { -1, G_MININT64, 4294967295, 4294967296, G_MAXINT64 };
        static const gint64 good[] = { 0, 1, 65534, 4294967294 };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                refuse_edit(edit_int, "owner", &bad[i]);
        for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
                accept_edit(edit_int, "owner", &good[i]);
}

static void test_number_ranges(void) {
        static const gint64 negative[] = { -1, -4096, G_MININT64 };
        static const gint64 too_many_vcpus[] = { 4294967296, G_MAXINT64 };
        static const gint64 zero = 0, one = 1, big = G_MAXINT64, max_u32 = 4294967295;

        for (size_t i = 0; i < G_N_ELEMENTS(int_members); i++)
                for (size_t k = 0; k < G_N_ELEMENTS(negative); k++)
                        refuse_edit(edit_int, int_members[i], &negative[k]);

        refuse_edit(edit_int, "vcpus", &zero);
        refuse_edit(edit_int, "memory-mib", &zero);
        for (size_t k = 0; k < G_N_ELEMENTS(too_many_vcpus); k++)
                refuse_edit(edit_int, "vcpus", &too_many_vcpus[k]);

        accept_edit(edit_int, "vcpus", &one);
        accept_edit(edit_int, "vcpus", &max_u32);
        accept_edit(edit_int, "memory-mib", &one);
        accept_edit(edit_int, "memory-mib", &big);
        accept_edit(edit_int, "created-at", &zero);
        accept_edit(edit_int, "created-at", &big);
}

/* Numbers beyond 64 bits must not be read as some other number. */
static void test_huge_numbers(void) {
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":99999999999999999999}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":18446744073709551616,\"workspace\":\"/w\",\"created-at\":1}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":4294967295000000000000,"
                       "\"vcpus\":4,\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1}");
        /* One past G_MAXINT64, and an overflow in a member microvmd does not read. */
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":9223372036854775808}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1,"
                       "\"x\":-99999999999999999999}");
}

static bool fits(const char *s) {
        return mvm_json_integers_fit(s, strlen(s));
}

/* The raw-token check itself: strings, fractions and exponents are not integers. */
static void test_integer_tokens(void) {
        static const char cut[] = "[1]99999999999999999999";

        g_assert_true(fits("[9223372036854775807,-9223372036854775808]"));
        g_assert_false(fits("[9223372036854775808]"));
        g_assert_false(fits("[-9223372036854775809]"));
        g_assert_false(fits("{\"a\":[1,2,{\"b\":18446744073709551616}]}"));
        g_assert_true(fits("{\"a\":\"99999999999999999999\"}"));
        g_assert_true(fits("{\"a\\\"\":\"-99999999999999999999\"}"));
        g_assert_true(fits("[1e99999999999999999999,1.5,-0.99999999999999999999]"));
        /* Only the given length is read. */
        g_assert_true(mvm_json_integers_fit(cut, 3));
        g_assert_false(mvm_json_integers_fit(cut, sizeof(cut) - 1));
}

/* The largest integers that fit are read as they are, on every json-glib release. */
static void test_largest_numbers(void) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = mvm_vmdef_from_json(
                "{\"format-version\":1,\"name\":\"my-vm\",\"owner\":4294967294,\"vcpus\":4,"
                "\"memory-mib\":9223372036854775807,\"workspace\":\"/w\","
                "\"created-at\":9223372036854775807,\"x\":-9223372036854775808}", -1, &error);

        g_assert_no_error(error);
        g_assert_nonnull(d);
        g_assert_cmpuint(d->owner, ==, 4294967294u);
        g_assert_cmpuint(d->memory_mib, ==, (uint64_t) G_MAXINT64);
        g_assert_cmpuint(d->created_at, ==, (uint64_t) G_MAXINT64);
}

/* A NUL byte, raw or escaped, never ends up shortening a name or path. */
static void test_embedded_nul(void) {
        static const char raw_at_end[] = VALID_JSON "\0";
        static const char raw_in_name[] =
                "{\"format-version\":1,\"name\":\"my-vm\0x\",\"owner\":1000,\"vcpus\":4,"
                "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1}";
        static const char raw_after[] = VALID_JSON "\0garbage";

        assert_refused_len(raw_at_end, sizeof(raw_at_end) - 1);
        assert_refused_len(raw_in_name, sizeof(raw_in_name) - 1);
        assert_refused_len(raw_after, sizeof(raw_after) - 1);
        assert_refused_len("\0", 1);

        assert_refused("{\"format-version\":1,\"name\":\"my-vm\\u0000x\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\",\"created-at\":1}");
        assert_refused("{\"format-version\":1,\"name\":\"my-vm\",\"owner\":1000,\"vcpus\":4,"
                       "\"memory-mib\":8192,\"workspace\":\"/w\\u0000/../../etc\",\"created-at\":1}");
}

/* A length shorter than the string limits what is read. */
static void test_length_honoured(void) {
        g_autofree char *doubled = g_strconcat(VALID_JSON, VALID_JSON, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = mvm_vmdef_from_json(doubled, (gssize) strlen(VALID_JSON), &error);

        g_assert_no_error(error);
        g_assert_nonnull(d);
        g_assert_cmpstr(d->name, ==, "my-vm");

        assert_refused_len(VALID_JSON, (gssize) strlen(VALID_JSON) - 3);
}

/* json-glib also reads things that are not JSON (a JavaScript assignment, several
 * documents in a row); a damaged definition must not be read as some other one. */
/* json-glib recurses per level: a deeply nested file is refused before it is parsed. */
static void test_deeply_nested(void) {
        g_autoptr(GString) json = g_string_new("{\"format-version\": 1, \"name\": \"x\", \"owner\": 1, "
                                               "\"vcpus\": 1, \"memory-mib\": 512, \"workspace\": \"/w\", "
                                               "\"created-at\": 1, \"extra\": ");
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = NULL;

        for (int i = 0; i < 100000; i++)
                g_string_append_c(json, '[');
        for (int i = 0; i < 100000; i++)
                g_string_append_c(json, ']');
        g_string_append_c(json, '}');
        d = mvm_vmdef_from_json(json->str, (gssize) json->len, &error);
        g_assert_null(d);
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "nested"));
}

static void test_not_json(void) {
        assert_refused(VALID_JSON "{\"format-version\":1,\"name\":\"other-vm\",\"owner\":0,\"vcpus\":1,"
                       "\"memory-mib\":128,\"workspace\":\"/other\",\"created-at\":1}\n");
        assert_refused(VALID_JSON VALID_JSON);
        assert_refused(VALID_JSON "[]");
        assert_refused("var def = " VALID_JSON);
        assert_refused("var def = " VALID_JSON ";");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/vmdef/round-trip", test_round_trip);
        g_test_add_func("/vmdef/optional-members-refused", test_optional_members_refused);
        g_test_add_func("/vmdef/valid-text", test_valid_text);
        g_test_add_func("/vmdef/edit-helper", test_edit_helper);
        g_test_add_func("/vmdef/invalid-json", test_invalid_json);
        g_test_add_func("/vmdef/not-an-object", test_not_an_object);
        g_test_add_func("/vmdef/missing-member", test_missing_member);
        g_test_add_func("/vmdef/wrong-types", test_wrong_types);
        g_test_add_func("/vmdef/format-version", test_format_version);
        g_test_add_func("/vmdef/invalid-name", test_invalid_name);
        g_test_add_func("/vmdef/invalid-workspace", test_invalid_workspace);
        g_test_add_func("/vmdef/owner-range", test_owner_range);
        g_test_add_func("/vmdef/number-ranges", test_number_ranges);
        g_test_add_func("/vmdef/huge-numbers", test_huge_numbers);
        g_test_add_func("/vmdef/credentials-directory-reason", test_credentials_directory_reason);
        g_test_add_func("/vmdef/largest-numbers", test_largest_numbers);
        g_test_add_func("/vmdef/integer-tokens", test_integer_tokens);
        g_test_add_func("/vmdef/embedded-nul", test_embedded_nul);
        g_test_add_func("/vmdef/length-honoured", test_length_honoured);
        g_test_add_func("/vmdef/not-json", test_not_json);
        g_test_add_func("/vmdef/deeply-nested", test_deeply_nested);

        return g_test_run();
}
