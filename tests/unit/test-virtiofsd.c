/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "virtiofsd.h"

#include <glib.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_kind_from_version(void) {
        /* What QEMU 7.2's and the Rust virtiofsd print (Debian 12, Debian 13). */
        g_assert_cmpint(virtiofsd_kind_from_version("virtiofsd version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
                                                    "Copyright (c) 2003-2022 Fabrice Bellard\n"),
                        ==, VIRTIOFSD_C);
        g_assert_cmpint(virtiofsd_kind_from_version("virtiofsd 1.13.2\n"), ==, VIRTIOFSD_RUST);
        g_assert_cmpint(virtiofsd_kind_from_version("virtiofsd 1.5.0"), ==, VIRTIOFSD_RUST);

        g_assert_cmpint(virtiofsd_kind_from_version(NULL), ==, VIRTIOFSD_UNKNOWN);
        g_assert_cmpint(virtiofsd_kind_from_version(""), ==, VIRTIOFSD_UNKNOWN);
        g_assert_cmpint(virtiofsd_kind_from_version("virtiofsd version x"), ==, VIRTIOFSD_UNKNOWN);
        g_assert_cmpint(virtiofsd_kind_from_version("virtiofsd "), ==, VIRTIOFSD_UNKNOWN);
        g_assert_cmpint(virtiofsd_kind_from_version("qemu-system-x86_64 version 7.2"), ==, VIRTIOFSD_UNKNOWN);
        g_assert_cmpint(virtiofsd_kind_from_version("Usage: virtiofsd 1.0"), ==, VIRTIOFSD_UNKNOWN);
}

static char *join(char **argv) {
        return g_strjoinv(" ", argv);
}

static void test_argv_c(void) {
        Virtiofsd v = { .path = (char *) "/usr/lib/qemu/virtiofsd", .kind = VIRTIOFSD_C };
        g_auto(GStrv) rw = virtiofsd_argv(&v, "/var/lib/microvm/workspaces/a", false);
        g_auto(GStrv) ro = virtiofsd_argv(&v, "/usr", true);
        g_autofree char *rw_s = join(rw), *ro_s = join(ro);

        g_assert_cmpstr(rw_s, ==,
                        "/usr/lib/qemu/virtiofsd --fd=3 -o source=/var/lib/microvm/workspaces/a -o sandbox=namespace "
                        "-o cache=auto -o modcaps=-mknod:-setfcap");
        /* The C virtiofsd has no read-only switch: the same command line (its unit is
         * read-only on the host). */
        g_assert_cmpstr(ro_s, ==,
                        "/usr/lib/qemu/virtiofsd --fd=3 -o source=/usr -o sandbox=namespace -o cache=auto "
                        "-o modcaps=-mknod:-setfcap");
        g_assert_false(virtiofsd_runs_as_owner(&v));
}

static void test_argv_rust(void) {
        Virtiofsd v = { .path = (char *) "/usr/libexec/virtiofsd", .kind = VIRTIOFSD_RUST };
        g_auto(GStrv) rw = virtiofsd_argv(&v, "/home/alice/.local/share/microvm/credentials", false);
        g_auto(GStrv) ro = virtiofsd_argv(&v, "/usr", true);
        g_autofree char *rw_s = join(rw), *ro_s = join(ro);

        g_assert_cmpstr(rw_s, ==,
                        "/usr/libexec/virtiofsd --fd=3 --shared-dir=/home/alice/.local/share/microvm/credentials "
                        "--sandbox=namespace --cache=auto");
        g_assert_cmpstr(ro_s, ==,
                        "/usr/libexec/virtiofsd --fd=3 --shared-dir=/usr --sandbox=namespace --cache=auto --readonly");
        g_assert_true(virtiofsd_runs_as_owner(&v));
}

static void test_describe(void) {
        Virtiofsd c = { .path = (char *) "/x", .kind = VIRTIOFSD_C };
        Virtiofsd rust = { .path = (char *) "/y", .kind = VIRTIOFSD_RUST };
        g_autofree char *dc = virtiofsd_describe(&c, "alice");
        g_autofree char *dr = virtiofsd_describe(&rust, "alice");

        g_assert_cmpstr(dc, ==, "virtiofsd (C), as root");
        g_assert_cmpstr(dr, ==, "virtiofsd (rust), as alice");
}

/* A stand-in binary answers --version; the probe tells the kinds apart, re-probes a
 * replaced binary and refuses one that is neither. */
static void write_script(const char *path, const char *version) {
        g_autofree char *text = g_strdup_printf("#!/bin/sh\necho '%s'\n", version);
        g_autofree char *tmp = g_strconcat(path, ".new", NULL);

        g_assert_true(g_file_set_contents(tmp, text, -1, NULL));
        g_assert_cmpint(g_chmod(tmp, 0755), ==, 0);
        g_assert_cmpint(g_rename(tmp, path), ==, 0);
}

static void test_probe(void) {
        g_autofree char *dir = g_dir_make_tmp("test-virtiofsd-XXXXXX", NULL);
        g_autofree char *bin = g_build_filename(dir, "virtiofsd", NULL);
        g_autofree char *missing = g_build_filename(dir, "missing", NULL);
        Virtiofsd v = {};

        g_assert_nonnull(dir);
        g_assert_cmpint(virtiofsd_probe(&v, missing), ==, -ENOENT);
        g_assert_null(v.path);

        write_script(bin, "virtiofsd version 7.2.0 (QEMU)");
        g_assert_cmpint(virtiofsd_probe(&v, bin), ==, 0);
        g_assert_cmpint(v.kind, ==, VIRTIOFSD_C);
        g_assert_cmpstr(v.path, ==, bin);

        /* Replaced by another kind: a new inode, probed again. */
        write_script(bin, "virtiofsd 1.13.2");
        g_assert_cmpint(virtiofsd_probe(&v, bin), ==, 0);
        g_assert_cmpint(v.kind, ==, VIRTIOFSD_RUST);

        write_script(bin, "something else 1.0");
        g_assert_cmpint(virtiofsd_probe(&v, bin), ==, -EPROTO);
        g_assert_null(v.path);

        virtiofsd_done(&v);
        g_assert_cmpint(g_unlink(bin), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/virtiofsd/kind-from-version", test_kind_from_version);
        g_test_add_func("/virtiofsd/argv-c", test_argv_c);
        g_test_add_func("/virtiofsd/argv-rust", test_argv_rust);
        g_test_add_func("/virtiofsd/describe", test_describe);
        g_test_add_func("/virtiofsd/probe", test_probe);
        return g_test_run();
}
