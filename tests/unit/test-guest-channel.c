/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest channel's line parser: what a hostile guest writes. */
#include "mvm-guest-channel.h"

#include <glib.h>
#include <string.h>

typedef struct Seen {
        GString *words;
} Seen;

static void collect(MvmGuestWord w, void *userdata) {
        Seen *s = userdata;

        g_string_append_printf(s->words, "%s%s", s->words->len ? " " : "", mvm_guest_word_to_string(w));
}

/* Feeds data in chunks of chunk bytes; returns the words seen, space separated. */
static char *feed(const void *data, size_t size, size_t chunk) {
        MvmGuestLineReader r = {};
        Seen s = { .words = g_string_new("") };

        for (size_t off = 0; off < size; off += chunk)
                mvm_guest_line_reader_feed(&r, (const char *) data + off, MIN(chunk, size - off), collect, &s);
        return g_string_free(s.words, false);
}

static void check(const char *input, const char *expected) {
        for (size_t chunk = 1; chunk <= strlen(input) + 1; chunk++) {
                g_autofree char *got = feed(input, strlen(input), chunk);
                g_assert_cmpstr(got, ==, expected);
        }
}

static void test_words(void) {
        g_assert_cmpint(mvm_guest_word_parse("armed", 5), ==, MVM_GUEST_WORD_ARMED);
        g_assert_cmpint(mvm_guest_word_parse("ready", 5), ==, MVM_GUEST_WORD_READY);
        g_assert_cmpint(mvm_guest_word_parse("stopping", 8), ==, MVM_GUEST_WORD_STOPPING);
        g_assert_cmpint(mvm_guest_word_parse("", 0), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpint(mvm_guest_word_parse("arme", 4), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpint(mvm_guest_word_parse("armed ", 6), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpint(mvm_guest_word_parse("ARMED", 5), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpint(mvm_guest_word_parse("ready\r", 6), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpint(mvm_guest_word_parse("ready\0", 6), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpint(mvm_guest_word_parse("junk", 4), ==, MVM_GUEST_WORD_JUNK);
        g_assert_cmpstr(mvm_guest_word_to_string(MVM_GUEST_WORD_READY), ==, "ready");
        g_assert_cmpstr(mvm_guest_word_to_string((MvmGuestWord) 99), ==, "junk");
}

static void test_lines(void) {
        check("armed\n", "armed");
        check("armed\nready\nstopping\n", "armed ready stopping");
        /* A partial line waits for its end. */
        check("armed\nrea", "armed");
        check("\n", "junk");
        check("hello\narmed\n", "junk armed");
        check(" armed\narmed\t\n", "junk junk");
}

static void test_overlong(void) {
        g_autofree char *longest = g_strnfill(MVM_GUEST_CHANNEL_LINE_MAX - 1, 'a');
        g_autofree char *too_long = g_strnfill(MVM_GUEST_CHANNEL_LINE_MAX, 'a');
        g_autofree char *in1 = g_strconcat(longest, "\nready\n", NULL);
        g_autofree char *in2 = g_strconcat(too_long, "\nready\n", NULL);
        /* An over-long line ending in a word is still one junk line. */
        g_autofree char *in3 = g_strconcat(too_long, "ready\nready\n", NULL);

        check(in1, "junk ready");
        check(in2, "junk ready");
        check(in3, "junk ready");
}

static void test_binary(void) {
        static const char nul[] = "rea\0dy\nready\n";
        g_autofree char *huge = g_malloc(1 << 20);
        g_autofree char *got = NULL, *with_nul = feed(nul, sizeof(nul) - 1, 3);

        g_assert_cmpstr(with_nul, ==, "junk ready");
        /* A megabyte without a newline is one line, never read into memory. */
        memset(huge, 'x', 1 << 20);
        got = feed(huge, 1 << 20, 4096);
        g_assert_cmpstr(got, ==, "");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/guest-channel/words", test_words);
        g_test_add_func("/guest-channel/lines", test_lines);
        g_test_add_func("/guest-channel/overlong", test_overlong);
        g_test_add_func("/guest-channel/binary", test_binary);
        return g_test_run();
}
