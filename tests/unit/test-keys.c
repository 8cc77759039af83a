/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenSSH public key lines for the authorized-keys option: whatever passes must be
 * exactly one well-formed authorized_keys entry. */

#include <glib.h>
#include <string.h>

#include "mvm-keys.h"

/* Real public keys made with ssh-keygen; the sk-* blobs are well-formed but made up
 * (they need a security key to generate). */
#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO250pe0g505OmVKWEpT2f6CDBAmofEJ/8pvZA4xvFd/"
#define RSA                                                                               \
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCW8tnI68YZ+HiSeg7Gds2zs0/hgz5AoHj2UNEcdthMX91D" \
        "oIT6Xvt+PA7NQdNd2Xq1srY5Whi1dL3fmoQs7Py01ESJvXUJM79ZecMRLjXY4z78EgYOBhLOD0iJ6Oyzv5G7" \
        "uLllZjg7255ZT2qvR93o+eLRcttUuydQIEpZ8upkYIRgfTPmB7p8/BAR5SWGNsu8kkNLN2vUlLQibIfnYP36" \
        "Y+uljgkd1VoKi+OFlKZvk5RXTtGh+GJfndltT1ABHi2ZL/m2feShZh0D0lTaAagcn3ESCgpF4DJiQH7hNIbl" \
        "mUfl80lWuflzmiB6OorXU8Qmw7CqTHz9snmwjMZ/zCK1"
#define ECDSA                                                                             \
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPtcDSuFOdbE" \
        "yOE0knn/kDL1Sk7PuCUDtSoIXmyD8aOtCW7hUzAbcy3DJqaQesbI4L71A6amCXPnYPL3Rf3HzzU="
#define SK_ED25519                                                                        \
        "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAECAwQFBgcI" \
        "CQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gAAAABHNzaDo="
#define SK_ECDSA                                                                          \
        "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5j" \
        "b20AAAAIbmlzdHAyNTYAAABBBEBBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWpr" \
        "bG1ub3BxcnN0dXZ3eHl6e3x9fn8AAAAEc3NoOg=="
#define ED25519_BLOB "AAAAC3NzaC1lZDI1NTE5AAAAIO250pe0g505OmVKWEpT2f6CDBAmofEJ/8pvZA4xvFd/"

static void check_key(const char *line, bool expect_ok) {
        g_autofree char *shown = NULL;
        const char *reason = mvm_authorized_key_invalid_reason(line);

        if ((reason == NULL) == expect_ok)
                return;
        shown = line ? g_strescape(line, NULL) : g_strdup("(null)");
        if (strlen(shown) > 200)
                strcpy(shown + 190, "...");
        g_test_message("\"%s\": expected %s, got %s", shown, expect_ok ? "accepted" : "refused",
                       reason ? reason : "accepted");
        g_test_fail();
}

static void test_accepted(void) {
        static const char *const lines[] = {
                ED25519, RSA, ECDSA, SK_ED25519, SK_ECDSA,
                ED25519 " alice@laptop",
                RSA " alice@laptop",
                ECDSA " alice@laptop",
                SK_ED25519 " alice@yubikey",
                SK_ECDSA " alice@yubikey",
                /* Comments may contain blanks and UTF-8. */
                ED25519 " Alice's key on the laptop",
                ED25519 " J\xc3\xbcrgen@r\xc3\xa9seau",
                /* Options in front of the key. */
                "from=\"10.0.0.1\" " ED25519,
                "from=\"10.0.0.1\" " ED25519 " alice@laptop",
                "no-port-forwarding,no-agent-forwarding,no-X11-forwarding " RSA " ci",
                "restrict " ECDSA,
                "restrict,pty " SK_ED25519 " alice@yubikey",
                "command=\"/usr/bin/true\",from=\"10.0.0.0/8,192.168.1.*\" " ED25519 " deploy",
                /* Tabs and repeated blanks between the fields. */
                "ssh-ed25519\t" ED25519_BLOB "\talice",
                "ssh-ed25519   " ED25519_BLOB "   alice",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(lines); i++)
                check_key(lines[i], true);
}

static void test_refused(void) {
        static const char *const lines[] = {
                "",
                " ",
                "\t",
                "#comment",
                "# " ED25519,
                "#" ED25519,
                /* Line breaks would smuggle in a second entry. */
                ED25519 "\n",
                ED25519 "\n" RSA,
                ED25519 " alice\ncommand=\"sh\" " RSA,
                "\n" ED25519,
                ED25519 "\r",
                ED25519 " alice\r\n",
                ED25519 "\rcommand=\"sh\" " RSA,
                /* Other control characters. */
                ED25519 " al\x01ice",
                ED25519 " \x1b[2Jalice",
                ED25519 " alice\x7f",
                ED25519 "\v",
                ED25519 "\f",
                "ssh-ed25519\x0b" ED25519_BLOB,
                /* No base64, or only the type. */
                "ssh-ed25519",
                "ssh-ed25519 ",
                "ssh-ed25519 alice@laptop",
                "ssh-ed25519 !!!!!!!!!!!!!!!!!!!!!!!!",
                "ssh-ed25519 AAAA",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO250pe0g505O-mVKWEpT2f6",
                "from=\"10.0.0.1\" ssh-ed25519",
                "from=\"10.0.0.1\" ssh-ed25519 alice",
                /* No key type, or not one. */
                ED25519_BLOB,
                ED25519_BLOB " alice",
                ED25519_BLOB " ssh-ed25519",
                "ssh- " ED25519_BLOB,
                "rsa " ED25519_BLOB,
                "from=\"10.0.0.1\" " ED25519_BLOB,
                "hello world",
                "garbage",
                "-----BEGIN OPENSSH PRIVATE KEY-----",
                "a b c d e f",
        };

        check_key(NULL, false);
        for (size_t i = 0; i < G_N_ELEMENTS(lines); i++)
                check_key(lines[i], false);
}

/* Every control character except tab, anywhere in a line, is refused. */
static void test_control_characters(void) {
        for (int c = 1; c < 0x20; c++) {
                if (c == '\t')
                        continue;
                g_autofree char *in_comment = g_strdup_printf(ED25519 " al%cice", c);
                g_autofree char *at_end = g_strdup_printf(ED25519 "%c", c);
                g_autofree char *at_start = g_strdup_printf("%c" ED25519, c);
                check_key(in_comment, false);
                check_key(at_end, false);
                check_key(at_start, false);
        }
}

/* MVM_AUTHORIZED_KEY_LINE_MAX characters are fine, one more is not. */
static void test_length_limit(void) {
        g_assert_cmpint(MVM_AUTHORIZED_KEY_LINE_MAX, ==, 16384);

        for (size_t total = MVM_AUTHORIZED_KEY_LINE_MAX - 1; total <= MVM_AUTHORIZED_KEY_LINE_MAX + 1; total++) {
                size_t pad = total - strlen(ED25519 " ");
                g_autofree char *comment = g_strnfill(pad, 'c');
                g_autofree char *line = g_strconcat(ED25519 " ", comment, NULL);

                g_assert_cmpuint(strlen(line), ==, total);
                check_key(line, total <= MVM_AUTHORIZED_KEY_LINE_MAX);
        }

        /* A long base64 blob (a 16384-bit RSA key is about 2.8 kB) is fine. */
        g_autofree char *blob = g_strnfill(4000, 'A');
        g_autofree char *big = g_strconcat("ssh-rsa ", blob, " big", NULL);
        check_key(big, true);

        g_autofree char *huge = g_strnfill(1 << 20, 'A');
        g_autofree char *huge_line = g_strconcat("ssh-rsa ", huge, NULL);
        check_key(huge_line, false);
}

static void test_reason_texts(void) {
        const char *r;

        g_assert_null(mvm_authorized_key_invalid_reason(ED25519 " alice"));
        r = mvm_authorized_key_invalid_reason(ED25519 "\n" RSA);
        g_assert_nonnull(r);
        g_assert_cmpstr(r, !=, "");
        r = mvm_authorized_key_invalid_reason("garbage");
        g_assert_nonnull(r);
        g_assert_cmpstr(r, !=, "");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/keys/accepted", test_accepted);
        g_test_add_func("/keys/refused", test_refused);
        g_test_add_func("/keys/control-characters", test_control_characters);
        g_test_add_func("/keys/length-limit", test_length_limit);
        g_test_add_func("/keys/reason-texts", test_reason_texts);

        return g_test_run();
}
