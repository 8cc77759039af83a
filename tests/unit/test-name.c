/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM name grammar ^[a-z][a-z0-9-]{0,31}$ (README.md, "VM names"). */

#include <glib.h>
#include <string.h>

#include "mvm-name.h"

static void check_name(const char *name, bool expect_valid) {
        g_autofree char *shown = name ? g_strescape(name, NULL) : g_strdup("(null)");
        const char *reason = mvm_name_invalid_reason(name);
        bool valid = mvm_name_is_valid(name);

        /* The two functions must agree: a reason exactly when invalid. */
        if (valid != (reason == NULL)) {
                g_test_message("\"%s\": is_valid=%d but reason=%s", shown, valid,
                               reason ? reason : "(null)");
                g_test_fail();
        }
        if (valid != expect_valid) {
                g_test_message("\"%s\": expected %s, got %s (%s)", shown,
                               expect_valid ? "valid" : "invalid", valid ? "valid" : "invalid",
                               reason ? reason : "no reason");
                g_test_fail();
        }
        if (reason && reason[0] == '\0') {
                g_test_message("\"%s\": empty reason", shown);
                g_test_fail();
        }
}

static void test_valid(void) {
        static const char *const names[] = {
                "a", "z", "a1", "my-vm", "vm-", "a-b-c", "a0123456789", "abcdefghijklmnopqrstuvwxyz",
                "a--b", "x9-",
                "abcdefghijklmnopqrstuvwxyz012345", /* 32 characters, the maximum */
        };

        g_assert_cmpuint(strlen(names[G_N_ELEMENTS(names) - 1]), ==, MVM_NAME_MAX);
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                check_name(names[i], true);
}

static void test_invalid(void) {
        static const char *const names[] = {
                "", ".", "..", "a..b", "a.b", ".a", "a/b", "/", "/a", "a/", "../etc",
                "UPPER", "aB", "Ab", "A",
                "\xc3\xa9",          /* é */
                "vm\xc3\xa9",        /* vmé */
                "\xe2\x80\x8bvm",    /* zero-width space */
                "vm\xff",            /* not UTF-8 at all */
                "abcdefghijklmnopqrstuvwxyz0123456", /* 33 characters */
                "1vm", "0", "9abc",
                "-vm", "-",
                "my vm", " vm", "vm ", "vm\t",
                "vm\n", "\nvm", "vm\r", "vm\x01", "vm\x1b[31m", "vm\x7f",
                "my_vm", "vm@host", "vm:1", "vm*", "vm;rm", "vm$", "vm~", "vm\\x", "vm\"",
        };

        check_name(NULL, false);
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                check_name(names[i], false);
}

/* Every length from 1 to 32 is allowed, 33 and beyond are not. */
static void test_lengths(void) {
        for (size_t n = 1; n <= MVM_NAME_MAX + 8; n++) {
                g_autofree char *name = g_strnfill(n, 'a');
                check_name(name, n <= MVM_NAME_MAX);
        }
        /* A very long name must not be a problem either. */
        g_autofree char *huge = g_strnfill(1 << 20, 'a');
        check_name(huge, false);
}

/* Each byte value alone after a valid first letter: only a-z, 0-9 and '-' pass. */
static void test_every_byte(void) {
        for (int c = 1; c < 256; c++) {
                char name[3] = { 'a', (char) c, '\0' };
                bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                check_name(name, allowed);

                char first[2] = { (char) c, '\0' };
                check_name(first, c >= 'a' && c <= 'z');
        }
}

/* The reasons are shown to users; the length one says what the limit is. */
static void test_reason_texts(void) {
        g_assert_null(mvm_name_invalid_reason("my-vm"));
        g_assert_nonnull(mvm_name_invalid_reason(""));
        g_assert_nonnull(mvm_name_invalid_reason(NULL));
        g_assert_nonnull(strstr(mvm_name_invalid_reason("abcdefghijklmnopqrstuvwxyz0123456"), "32"));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/name/valid", test_valid);
        g_test_add_func("/name/invalid", test_invalid);
        g_test_add_func("/name/lengths", test_lengths);
        g_test_add_func("/name/every-byte", test_every_byte);
        g_test_add_func("/name/reason-texts", test_reason_texts);

        return g_test_run();
}
