/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory sizes for --memory (plain MiB or M/G/T binary suffixes) and plain unsigned numbers. */

#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "mvm-size.h"

#define UNTOUCHED UINT64_C(0xdeadbeefcafe)

typedef struct {
        const char *text;
        int r;             /* expected return value */
        uint64_t value;    /* expected result when r == 0 */
} Case;

static void check_size(const Case *c) {
        g_autofree char *shown = g_strescape(c->text, NULL);
        uint64_t v = UNTOUCHED;
        int r = mvm_parse_size_mib(c->text, &v);

        if (r != c->r) {
                g_test_message("size \"%s\": expected %d, got %d", shown, c->r, r);
                g_test_fail();
        } else if (r == 0 && v != c->value) {
                g_test_message("size \"%s\": expected %" G_GUINT64_FORMAT " MiB, got %" G_GUINT64_FORMAT,
                               shown, c->value, v);
                g_test_fail();
        }
}

static void check_uint64(const Case *c) {
        g_autofree char *shown = g_strescape(c->text, NULL);
        uint64_t v = UNTOUCHED;
        int r = mvm_parse_uint64(c->text, &v);

        if (r != c->r) {
                g_test_message("uint64 \"%s\": expected %d, got %d", shown, c->r, r);
                g_test_fail();
        } else if (r == 0 && v != c->value) {
                g_test_message("uint64 \"%s\": expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT,
                               shown, c->value, v);
                g_test_fail();
        }
}

static void test_size_valid(void) {
        static const Case cases[] = {
                { "4096", 0, 4096 },
                { "0", 0, 0 },
                { "1", 0, 1 },
                { "128", 0, 128 },
                { "007", 0, 7 },
                { "512M", 0, 512 },
                { "512m", 0, 512 },
                { "512MB", 0, 512 },
                { "512mb", 0, 512 },
                { "512MiB", 0, 512 },
                { "512mib", 0, 512 },
                { "512MIB", 0, 512 },
                { "4G", 0, 4096 },
                { "4g", 0, 4096 },
                { "4GB", 0, 4096 },
                { "4gb", 0, 4096 },
                { "4Gb", 0, 4096 },
                { "4GiB", 0, 4096 },
                { "4gib", 0, 4096 },
                { "1T", 0, 1048576 },
                { "1t", 0, 1048576 },
                { "1TB", 0, 1048576 },
                { "1TiB", 0, 1048576 },
                { "2T", 0, 2097152 },
                { "0G", 0, 0 },
                /* The largest values that still fit. */
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551615M", 0, UINT64_MAX },
                { "18014398509481983G", 0, UINT64_C(18014398509481983) * 1024 },
                { "17592186044415T", 0, UINT64_C(17592186044415) * 1024 * 1024 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                check_size(&cases[i]);
}

static void test_size_invalid(void) {
        static const Case cases[] = {
                { "", -EINVAL, 0 },
                { "G", -EINVAL, 0 },
                { "GiB", -EINVAL, 0 },
                { "M", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "-1G", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "1,5G", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
                { " 1G", -EINVAL, 0 },
                { "1G ", -EINVAL, 0 },
                { "1 G", -EINVAL, 0 },
                { "\t1", -EINVAL, 0 },
                { "1\n", -EINVAL, 0 },
                { "1K", -EINVAL, 0 },
                { "1KiB", -EINVAL, 0 },
                { "1k", -EINVAL, 0 },
                { "1P", -EINVAL, 0 },
                { "1B", -EINVAL, 0 },
                { "1Gi", -EINVAL, 0 },
                { "1GG", -EINVAL, 0 },
                { "1GiBs", -EINVAL, 0 },
                { "1G1", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "４", -EINVAL, 0 },  /* a full-width digit */
                /* Too large. */
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "99999999999999999999G", -ERANGE, 0 },
                { "999999999999999999999999999999999999999999", -ERANGE, 0 },
                { "18014398509481984G", -ERANGE, 0 },
                { "17592186044416T", -ERANGE, 0 },
                { "18446744073709551615G", -ERANGE, 0 },
                { "18446744073709551615TiB", -ERANGE, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                check_size(&cases[i]);
}

static void test_size_null(void) {
        uint64_t v = UNTOUCHED;

        g_assert_cmpint(mvm_parse_size_mib(NULL, &v), ==, -EINVAL);
        g_assert_cmpuint(v, ==, UNTOUCHED);
}

/* A failed parse leaves the result alone, so callers cannot pick up half a value. */
static void test_size_error_keeps_result(void) {
        static const char *const bad[] = { "", "1K", "1.5G", "99999999999999999999", "18014398509481984G" };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                uint64_t v = UNTOUCHED;
                g_assert_cmpint(mvm_parse_size_mib(bad[i], &v), <, 0);
                g_assert_cmpuint(v, ==, UNTOUCHED);
        }
}

static void test_uint64_valid(void) {
        static const Case cases[] = {
                { "0", 0, 0 },
                { "1", 0, 1 },
                { "4096", 0, 4096 },
                { "0042", 0, 42 },
                { "4294967295", 0, UINT32_MAX },
                { "4294967296", 0, UINT64_C(4294967296) },
                { "18446744073709551615", 0, UINT64_MAX },
                { "000000000000000000000000000000000000001", 0, 1 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                check_uint64(&cases[i]);
}

static void test_uint64_invalid(void) {
        static const Case cases[] = {
                { "", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "-0", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1\n", -EINVAL, 0 },
                { "1G", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "18446744073709551620", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "184467440737095516150", -ERANGE, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                check_uint64(&cases[i]);

        uint64_t v = UNTOUCHED;
        g_assert_cmpint(mvm_parse_uint64(NULL, &v), ==, -EINVAL);
        g_assert_cmpuint(v, ==, UNTOUCHED);
        g_assert_cmpint(mvm_parse_uint64("99999999999999999999", &v), ==, -ERANGE);
        g_assert_cmpuint(v, ==, UNTOUCHED);
}

/* Every number from 0 to 9999 reads back as itself, in both parsers. */
static void test_round_trip(void) {
        for (uint64_t n = 0; n < 10000; n++) {
                char buf[32];
                uint64_t v = UNTOUCHED;

                g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, n);
                g_assert_cmpint(mvm_parse_uint64(buf, &v), ==, 0);
                g_assert_cmpuint(v, ==, n);
                g_assert_cmpint(mvm_parse_size_mib(buf, &v), ==, 0);
                g_assert_cmpuint(v, ==, n);
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/size/valid", test_size_valid);
        g_test_add_func("/size/invalid", test_size_invalid);
        g_test_add_func("/size/null", test_size_null);
        g_test_add_func("/size/error-keeps-result", test_size_error_keeps_result);
        g_test_add_func("/uint64/valid", test_uint64_valid);
        g_test_add_func("/uint64/invalid", test_uint64_invalid);
        g_test_add_func("/uint64/round-trip", test_round_trip);

        return g_test_run();
}
