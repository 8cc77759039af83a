/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-init's test for a file system on the persistent volume (guest/volume.c). */

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "volume.h"

static void test_magic_in_buffer(void) {
        uint8_t buf[4096] = {};

        g_assert_false(guest_ext4_magic_in(buf, sizeof(buf)));
        g_assert_false(guest_ext4_magic_in(NULL, 0));

        /* s_magic is little-endian: 0x53 0xEF */
        buf[GUEST_EXT4_MAGIC_OFFSET] = 0x53;
        buf[GUEST_EXT4_MAGIC_OFFSET + 1] = 0xEF;
        g_assert_true(guest_ext4_magic_in(buf, sizeof(buf)));
        g_assert_true(guest_ext4_magic_in(buf, GUEST_EXT4_MAGIC_OFFSET + 2));
        /* cut off inside the magic */
        g_assert_false(guest_ext4_magic_in(buf, GUEST_EXT4_MAGIC_OFFSET + 1));

        /* byte-swapped, or one byte off: not it */
        buf[GUEST_EXT4_MAGIC_OFFSET] = 0xEF;
        buf[GUEST_EXT4_MAGIC_OFFSET + 1] = 0x53;
        g_assert_false(guest_ext4_magic_in(buf, sizeof(buf)));
        memset(buf, 0, sizeof(buf));
        buf[GUEST_EXT4_MAGIC_OFFSET + 1] = 0x53;
        buf[GUEST_EXT4_MAGIC_OFFSET + 2] = 0xEF;
        g_assert_false(guest_ext4_magic_in(buf, sizeof(buf)));
}

/* A temporary file of size bytes, all zeros (sparse) but for data at offset. */
static char *make_file(off_t size, off_t offset, const void *data, size_t n) {
        g_autoptr(GError) error = NULL;
        char *path = NULL;
        int fd = g_file_open_tmp("test-guest-volume-XXXXXX", &path, &error);

        g_assert_no_error(error);
        g_assert_cmpint(ftruncate(fd, size), ==, 0);
        if (n > 0)
                g_assert_cmpint(pwrite(fd, data, n, offset), ==, (ssize_t) n);
        g_assert_cmpint(close(fd), ==, 0);
        return path;
}

static void test_files(void) {
        static const uint8_t magic[] = { 0x53, 0xEF };
        g_autofree char *zeros = make_file(4 << 20, 0, NULL, 0);
        g_autofree char *hand_made = make_file(4 << 20, GUEST_EXT4_MAGIC_OFFSET, magic, sizeof(magic));
        g_autofree char *empty = make_file(0, 0, NULL, 0);
        g_autofree char *tiny = make_file(GUEST_EXT4_MAGIC_OFFSET + 1, GUEST_EXT4_MAGIC_OFFSET, magic, 1);
        g_autofree char *exact = make_file(GUEST_EXT4_MAGIC_OFFSET + 2, GUEST_EXT4_MAGIC_OFFSET, magic, 2);

        g_assert_cmpint(guest_has_ext4(zeros), ==, 0);
        g_assert_cmpint(guest_has_ext4(hand_made), ==, 1);
        g_assert_cmpint(guest_has_ext4(empty), ==, 0);
        g_assert_cmpint(guest_has_ext4(tiny), ==, 0);
        g_assert_cmpint(guest_has_ext4(exact), ==, 1);
        g_assert_cmpint(guest_has_ext4("/nonexistent/test-guest-volume"), ==, -ENOENT);

        g_unlink(zeros);
        g_unlink(hand_made);
        g_unlink(empty);
        g_unlink(tiny);
        g_unlink(exact);
}

/* The real thing, when e2fsprogs is installed: mkfs.ext4 as microvm-init runs it. */
static void test_mkfs_ext4(void) {
        const char *mkfs = NULL;
        g_autofree char *found = g_find_program_in_path("mkfs.ext4");

        if (found)
                mkfs = found;
        else if (access("/usr/sbin/mkfs.ext4", X_OK) == 0)
                mkfs = "/usr/sbin/mkfs.ext4";
        else if (access("/sbin/mkfs.ext4", X_OK) == 0)
                mkfs = "/sbin/mkfs.ext4";
        if (!mkfs) {
                g_test_skip("no mkfs.ext4 (e2fsprogs)");
                return;
        }

        g_autofree char *image = make_file(4 << 20, 0, NULL, 0);
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        const char *argv[] = { mkfs, "-q", "-F", "-L", GUEST_VOLUME_LABEL, image, NULL };
        int status;

        g_assert_cmpint(guest_has_ext4(image), ==, 0);
        g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                                   &error));
        g_assert_no_error(error);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                g_test_message("%s failed: %s", mkfs, err);
                g_test_fail();
        }
        g_assert_cmpint(guest_has_ext4(image), ==, 1);
        g_unlink(image);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/guest-volume/magic-in-buffer", test_magic_in_buffer);
        g_test_add_func("/guest-volume/files", test_files);
        g_test_add_func("/guest-volume/mkfs-ext4", test_mkfs_ext4);
        return g_test_run();
}
