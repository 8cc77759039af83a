/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workspace creation and removal as root: ownership, contents, and that removal never
 * follows a symlink the owner planted. Runs as root (as in CI); elsewhere it is skipped,
 * except under CI=true where that is a failure. */
#include "fs-util.h"
#include "mvm-macro.h"
#include "workspace.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define OWNER_UID 4242
#define OWNER_GID 4343
static const char KEY[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ffJzmHE5DOYv0eyfLkG9bD0RCwTtHbbmuw5MBNpS alice@host";

typedef struct Fixture {
        char *base;
        int base_fd;
} Fixture;

static bool need_root(void) {
        if (geteuid() == 0)
                return true;
        if (g_strcmp0(g_getenv("CI"), "true") == 0)
                g_error("this test needs root, and CI=true does not allow skipping it");
        g_test_skip("needs root");
        return false;
}

static void fixture_set_up(Fixture *f, gconstpointer data) {
        g_autofree char *parent = g_dir_make_tmp("microvm-test-XXXXXX", NULL);

        g_assert_nonnull(parent);
        g_assert_cmpint(chmod(parent, 0755), ==, 0);
        f->base = g_build_filename(parent, "workspaces", NULL);
        f->base_fd = -1;
        if (geteuid() == 0) {
                f->base_fd = workspace_open_base(f->base); /* creates it */
                g_assert_cmpint(f->base_fd, >=, 0);
        }
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        g_autofree char *parent = g_path_get_dirname(f->base);

        if (f->base_fd >= 0)
                close(f->base_fd);
        g_assert_cmpint(rm_rf_at(AT_FDCWD, parent), ==, 0);
        g_free(f->base);
}

static char *read_text(const char *path) {
        char *s = NULL;
        g_assert_true(g_file_get_contents(path, &s, NULL, NULL));
        return s;
}

static void assert_owned(const char *path, mode_t mode) {
        struct stat st;

        g_assert_cmpint(lstat(path, &st), ==, 0);
        g_assert_cmpuint(st.st_uid, ==, OWNER_UID);
        g_assert_cmpuint(st.st_gid, ==, OWNER_GID);
        g_assert_cmpuint(st.st_mode & 07777, ==, mode);
}

static void test_create(Fixture *f, gconstpointer data) {
        char *keys[] = { (char *) KEY, NULL };
        g_autofree char *staging = NULL, *ws = NULL, *text = NULL, *ak = NULL, *priv = NULL, *pub = NULL;
        g_autoptr(GDir) staging_dir = NULL;
        g_autofree char *staging_path = NULL;

        if (!need_root())
                return;
        g_assert_cmpint(workspace_prepare(f->base_fd, f->base, "myvm", OWNER_UID, OWNER_GID, keys, &staging), ==, 0);
        g_assert_false(workspace_exists(f->base_fd, "myvm"));
        g_assert_cmpint(workspace_commit(f->base_fd, staging, "myvm"), ==, 0);
        g_assert_true(workspace_exists(f->base_fd, "myvm"));

        ws = g_build_filename(f->base, "myvm", NULL);
        ak = g_build_filename(ws, "ssh-host-keys", "authorized_keys", NULL);
        priv = g_build_filename(ws, "ssh-host-keys", "ssh_host_ed25519_key", NULL);
        pub = g_build_filename(ws, "ssh-host-keys", "ssh_host_ed25519_key.pub", NULL);
        assert_owned(ws, 0700);
        assert_owned(ak, 0644);
        assert_owned(priv, 0600);
        text = read_text(ak);
        g_assert_cmpstr(text, ==, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ffJzmHE5DOYv0eyfLkG9bD0RCwTtHbbmuw5MBNpS alice@host\n");
        g_clear_pointer(&text, g_free);
        text = read_text(pub);
        g_assert_true(g_str_has_prefix(text, "ssh-ed25519 "));

        /* Nothing left in the staging area. */
        staging_path = g_build_filename(f->base, ".staging", NULL);
        staging_dir = g_dir_open(staging_path, 0, NULL);
        g_assert_nonnull(staging_dir);
        g_assert_null(g_dir_read_name(staging_dir));
}

static void test_commit_refuses_existing(Fixture *f, gconstpointer data) {
        char *keys[] = { NULL };
        g_autofree char *staging = NULL, *existing = NULL, *staging_path = NULL;
        g_autoptr(GDir) staging_dir = NULL;

        if (!need_root())
                return;
        existing = g_build_filename(f->base, "taken", NULL);
        g_assert_cmpint(g_mkdir(existing, 0700), ==, 0);
        g_assert_cmpint(workspace_prepare(f->base_fd, f->base, "taken", OWNER_UID, OWNER_GID, keys, &staging), ==, 0);
        g_assert_cmpint(workspace_commit(f->base_fd, staging, "taken"), ==, -EEXIST);
        workspace_abort(f->base_fd, staging);

        staging_path = g_build_filename(f->base, ".staging", NULL);
        staging_dir = g_dir_open(staging_path, 0, NULL);
        g_assert_null(g_dir_read_name(staging_dir));
        /* The existing directory is untouched and still empty. */
        g_assert_true(g_file_test(existing, G_FILE_TEST_IS_DIR));
}

static void test_remove_does_not_follow_symlinks(Fixture *f, gconstpointer data) {
        char *keys[] = { NULL };
        g_autofree char *staging = NULL, *ws = NULL, *outside = NULL, *outside_file = NULL;
        g_autofree char *link1 = NULL, *link2 = NULL, *nested = NULL, *detached = NULL;

        if (!need_root())
                return;
        g_assert_cmpint(workspace_prepare(f->base_fd, f->base, "victim", OWNER_UID, OWNER_GID, keys, &staging), ==, 0);
        g_assert_cmpint(workspace_commit(f->base_fd, staging, "victim"), ==, 0);

        /* What an owner could plant: links to a file and a directory they do not own. */
        outside = g_build_filename(f->base, "..", "outside", NULL);
        g_assert_cmpint(g_mkdir(outside, 0700), ==, 0);
        outside_file = g_build_filename(outside, "important", NULL);
        g_assert_true(g_file_set_contents(outside_file, "keep me", -1, NULL));
        ws = g_build_filename(f->base, "victim", NULL);
        link1 = g_build_filename(ws, "link-to-file", NULL);
        link2 = g_build_filename(ws, "ssh-host-keys", "link-to-dir", NULL);
        nested = g_build_filename(ws, "a", "b", "c", NULL);
        g_assert_cmpint(symlink(outside_file, link1), ==, 0);
        g_assert_cmpint(symlink(outside, link2), ==, 0);
        g_assert_cmpint(g_mkdir_with_parents(nested, 0755), ==, 0);

        g_assert_cmpint(workspace_detach(f->base_fd, "victim", &detached), ==, 0);
        g_assert_nonnull(detached);
        g_assert_false(workspace_exists(f->base_fd, "victim"));
        g_assert_cmpint(workspace_remove_detached(f->base_fd, detached), ==, 0);

        g_assert_true(g_file_test(outside_file, G_FILE_TEST_IS_REGULAR));
        g_assert_true(g_file_test(outside, G_FILE_TEST_IS_DIR));
        g_assert_false(g_file_test(ws, G_FILE_TEST_EXISTS));
}

static void test_detach_restore(Fixture *f, gconstpointer data) {
        char *keys[] = { NULL };
        g_autofree char *staging = NULL, *detached = NULL, *none = NULL;

        if (!need_root())
                return;
        g_assert_cmpint(workspace_prepare(f->base_fd, f->base, "back", OWNER_UID, OWNER_GID, keys, &staging), ==, 0);
        g_assert_cmpint(workspace_commit(f->base_fd, staging, "back"), ==, 0);
        g_assert_cmpint(workspace_detach(f->base_fd, "back", &detached), ==, 0);
        g_assert_false(workspace_exists(f->base_fd, "back"));
        g_assert_cmpint(workspace_restore(f->base_fd, detached, "back"), ==, 0);
        g_assert_true(workspace_exists(f->base_fd, "back"));

        /* A missing workspace detaches as nothing. */
        g_assert_cmpint(workspace_detach(f->base_fd, "missing", &none), ==, 0);
        g_assert_null(none);
}

static void test_base_must_be_private(Fixture *f, gconstpointer data) {
        g_autofree char *open_dir = NULL;

        if (!need_root())
                return;
        open_dir = g_build_filename(f->base, "..", "world-writable", NULL);
        g_assert_cmpint(g_mkdir(open_dir, 0777), ==, 0);
        g_assert_cmpint(chmod(open_dir, 01777), ==, 0);
        g_assert_cmpint(workspace_open_base(open_dir), ==, -EPERM);
}

static void test_atomic_write(void) {
        _cleanup_close_ int dir_fd = -1;
        g_autofree char *path = NULL, *text = NULL, *dir = NULL;
        g_autoptr(GDir) d = NULL;
        const char *entry;
        guint n = 0;

        dir = g_dir_make_tmp("microvm-atomic-XXXXXX", NULL);
        dir_fd = open_dir_at(AT_FDCWD, dir);
        g_assert_cmpint(dir_fd, >=, 0);
        g_assert_cmpint(write_file_atomic_at(dir_fd, "x.json", "one", 3, 0600), ==, 0);
        g_assert_cmpint(write_file_atomic_at(dir_fd, "x.json", "two!", 4, 0600), ==, 0);
        path = g_build_filename(dir, "x.json", NULL);
        text = read_text(path);
        g_assert_cmpstr(text, ==, "two!");
        d = g_dir_open(dir, 0, NULL);
        while ((entry = g_dir_read_name(d))) {
                g_assert_cmpstr(entry, ==, "x.json"); /* no temporary files left */
                n++;
        }
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpint(rm_rf_at(AT_FDCWD, dir), ==, 0);
}

static void test_connect_nofollow(void) {
        g_autofree char *dir = g_dir_make_tmp("microvm-sock-XXXXXX", NULL);
        g_autofree char *sock = g_build_filename(dir, "s.sock", NULL);
        g_autofree char *link = g_build_filename(dir, "link.sock", NULL);
        g_autofree char *file = g_build_filename(dir, "file", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int server = -1, client = -1;

        server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(server, >=, 0);
        g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
        g_assert_cmpint(bind(server, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(server, 4), ==, 0);
        g_assert_cmpint(symlink(sock, link), ==, 0);
        g_assert_true(g_file_set_contents(file, "", 0, NULL));

        client = connect_unix_nofollow(sock);
        g_assert_cmpint(client, >=, 0);
        /* Handed to a client as it is: blocking. */
        g_assert_cmpint(fcntl(client, F_GETFL) & O_NONBLOCK, ==, 0);
        g_assert_cmpint(connect_unix_nofollow(link), ==, -ELOOP);
        g_assert_cmpint(connect_unix_nofollow(file), ==, -ENOTSOCK);

        /* A listener that never accepts: once its backlog is full, the connect fails at
         * once instead of waiting (the test would hang otherwise). */
        {
                int fds[64], n = 0, r = 0;

                while (n < (int) G_N_ELEMENTS(fds) && (r = connect_unix_nofollow(sock)) >= 0)
                        fds[n++] = r;
                g_assert_cmpint(r, ==, -EAGAIN);
                g_assert_cmpint(n, <, (int) G_N_ELEMENTS(fds));
                while (n > 0)
                        close(fds[--n]);
        }
        g_assert_cmpint(rm_rf_at(AT_FDCWD, dir), ==, 0);
}

/* The credentials directory's check: a directory reached without any symbolic link, as
 * the user (here the test's own uid). */
static void test_open_directory_as_user(void) {
        g_autofree char *dir = g_dir_make_tmp("test-opendir-XXXXXX", NULL);
        g_autofree char *real = g_build_filename(dir, "real", NULL);
        g_autofree char *inner = g_build_filename(dir, "real", "inner", NULL);
        g_autofree char *link = g_build_filename(dir, "link", NULL);
        g_autofree char *via_link = g_build_filename(dir, "link", "inner", NULL);
        g_autofree char *file = g_build_filename(dir, "file", NULL);
        g_autofree char *below_file = g_build_filename(dir, "file", "x", NULL);
        g_autofree char *missing = g_build_filename(dir, "missing", NULL);
        struct stat st_fd, st_path;
        int fd = -1;

        g_assert_nonnull(dir);
        g_assert_cmpint(g_mkdir_with_parents(inner, 0700), ==, 0);
        g_assert_cmpint(symlink(real, link), ==, 0);
        g_assert_true(g_file_set_contents(file, "x", 1, NULL));

        g_assert_cmpint(open_directory_as_user(inner, getuid(), getgid(), &fd), ==, 0);
        g_assert_cmpint(fstat(fd, &st_fd), ==, 0);
        g_assert_cmpint(stat(inner, &st_path), ==, 0);
        g_assert_cmpuint(st_fd.st_ino, ==, st_path.st_ino);
        close(fd);

        g_assert_cmpint(open_directory_as_user(link, getuid(), getgid(), &fd), ==, -ELOOP);
        g_assert_cmpint(open_directory_as_user(via_link, getuid(), getgid(), &fd), ==, -ELOOP);
        g_assert_cmpint(open_directory_as_user(file, getuid(), getgid(), &fd), ==, -ENOTDIR);
        g_assert_cmpint(open_directory_as_user(below_file, getuid(), getgid(), &fd), ==, -ENOTDIR);
        g_assert_cmpint(open_directory_as_user(missing, getuid(), getgid(), &fd), ==, -ENOENT);
        g_assert_cmpint(open_directory_as_user("relative", getuid(), getgid(), &fd), ==, -EINVAL);

        g_assert_cmpint(unlink(link), ==, 0);
        g_assert_cmpint(unlink(file), ==, 0);
        g_assert_cmpint(rmdir(inner), ==, 0);
        g_assert_cmpint(rmdir(real), ==, 0);
        g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add("/workspace/create", Fixture, NULL, fixture_set_up, test_create, fixture_tear_down);
        g_test_add("/workspace/commit-refuses-existing", Fixture, NULL, fixture_set_up,
                   test_commit_refuses_existing, fixture_tear_down);
        g_test_add("/workspace/remove-does-not-follow-symlinks", Fixture, NULL, fixture_set_up,
                   test_remove_does_not_follow_symlinks, fixture_tear_down);
        g_test_add("/workspace/detach-restore", Fixture, NULL, fixture_set_up, test_detach_restore,
                   fixture_tear_down);
        g_test_add("/workspace/base-must-be-private", Fixture, NULL, fixture_set_up,
                   test_base_must_be_private, fixture_tear_down);
        g_test_add_func("/fs-util/atomic-write", test_atomic_write);
        g_test_add_func("/fs-util/connect-nofollow", test_connect_nofollow);
        g_test_add_func("/fs-util/open-directory-as-user", test_open_directory_as_user);
        return g_test_run();
}
