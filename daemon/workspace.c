/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "workspace.h"
#include "child.h"
#include "config.h"
#include "fs-util.h"
#include "log.h"
#include "mvm-macro.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define STAGING_DIR ".staging"

int workspace_open_base(const char *path) {
        int fd = open_root_owned_dir(path);

        if (fd == -ENOENT) {
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return -errno;
                fd = open_root_owned_dir(path);
        }
        return fd;
}

static int open_staging(int base_fd) {
        return open_private_dir_at(base_fd, STAGING_DIR);
}

bool workspace_exists(int base_fd, const char *name) {
        struct stat st;
        return fstatat(base_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 || errno != ENOENT;
}

static int generate_host_key(const char *keys_path, const char *name) {
        g_autofree char *key = g_build_filename(keys_path, WORKSPACE_HOST_KEY, NULL);
        g_autofree char *comment = g_strdup_printf("root@%s", name);
        g_autofree char *err = NULL;
        g_autoptr(GError) error = NULL;
        const char *argv[] = {
                MICROVM_SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key, NULL,
        };
        int status;

        /* ed25519 keys take milliseconds; blocking the loop for that is simpler than a
         * state machine around an asynchronous child. */
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, child_setup_unblock_signals, NULL, NULL,
                          &err, &status, &error)) {
                log_error("Cannot run %s: %s", MICROVM_SSH_KEYGEN, error->message);
                return -ENOEXEC;
        }
        if (!g_spawn_check_wait_status(status, &error)) {
                log_error("%s failed: %s: %s", MICROVM_SSH_KEYGEN, error->message, err ? g_strstrip(err) : "");
                return -EIO;
        }
        return 0;
}

static int write_authorized_keys(int keys_fd, char *const *keys) {
        g_autoptr(GString) s = g_string_new(NULL);

        for (size_t i = 0; keys && keys[i]; i++)
                g_string_append_printf(s, "%s\n", keys[i]);
        return write_new_file_at(keys_fd, WORKSPACE_AUTHORIZED_KEYS, s->str, s->len, 0644);
}

static int chown_tree(int ws_fd, int keys_fd, uid_t uid, gid_t gid) {
        static const char *const files[] = {
                WORKSPACE_HOST_KEY, WORKSPACE_HOST_KEY ".pub", WORKSPACE_AUTHORIZED_KEYS,
        };

        for (size_t i = 0; i < MVM_ELEMENTSOF(files); i++)
                if (fchownat(keys_fd, files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
        if (fchown(keys_fd, uid, gid) < 0 || fchown(ws_fd, uid, gid) < 0)
                return -errno;
        return 0;
}

int workspace_prepare(int base_fd, const char *base_path, const char *name, uid_t uid,
                      gid_t gid, char *const *authorized_keys, char **ret_staging_name) {
        _cleanup_close_ int staging_fd = -1, ws_fd = -1, keys_fd = -1;
        g_autofree char *staging_name = NULL, *keys_path = NULL;
        char suffix[9];
        int r;

        staging_fd = open_staging(base_fd);
        if (staging_fd < 0)
                return staging_fd;

        random_suffix(suffix, sizeof(suffix));
        staging_name = g_strdup_printf("create-%s-%s", name, suffix);
        if (mkdirat(staging_fd, staging_name, 0700) < 0)
                return -errno;

        ws_fd = open_dir_at(staging_fd, staging_name);
        if (ws_fd < 0) {
                r = ws_fd;
                goto fail;
        }
        if (mkdirat(ws_fd, WORKSPACE_HOST_KEYS_DIR, 0700) < 0) {
                r = -errno;
                goto fail;
        }
        keys_fd = open_dir_at(ws_fd, WORKSPACE_HOST_KEYS_DIR);
        if (keys_fd < 0) {
                r = keys_fd;
                goto fail;
        }

        keys_path = g_build_filename(base_path, STAGING_DIR, staging_name, WORKSPACE_HOST_KEYS_DIR, NULL);
        r = generate_host_key(keys_path, name);
        if (r < 0)
                goto fail;
        r = write_authorized_keys(keys_fd, authorized_keys);
        if (r < 0)
                goto fail;

        /* Hand it over last, while the staging area still keeps everyone else out. */
        r = chown_tree(ws_fd, keys_fd, uid, gid);
        if (r < 0)
                goto fail;

        *ret_staging_name = g_steal_pointer(&staging_name);
        return 0;

fail:
        (void) rm_rf_at(staging_fd, staging_name);
        return r;
}

int workspace_commit(int base_fd, const char *staging_name, const char *name) {
        _cleanup_close_ int staging_fd = open_staging(base_fd);

        if (staging_fd < 0)
                return staging_fd;
        if (renameat2(staging_fd, staging_name, base_fd, name, RENAME_NOREPLACE) < 0)
                return -errno;
        (void) fsync(base_fd);
        return 0;
}

void workspace_abort(int base_fd, const char *staging_name) {
        _cleanup_close_ int staging_fd = open_staging(base_fd);
        int r;

        if (staging_fd < 0)
                return;
        r = rm_rf_at(staging_fd, staging_name);
        if (r < 0)
                log_warning("Cannot remove %s/%s: %s", STAGING_DIR, staging_name, strerror(-r));
}

int workspace_detach(int base_fd, const char *name, char **ret_detached) {
        _cleanup_close_ int staging_fd = -1;
        g_autofree char *detached = NULL;
        char suffix[9];

        *ret_detached = NULL;
        if (!workspace_exists(base_fd, name))
                return 0;
        staging_fd = open_staging(base_fd);
        if (staging_fd < 0)
                return staging_fd;
        random_suffix(suffix, sizeof(suffix));
        detached = g_strdup_printf("remove-%s-%s", name, suffix);
        if (renameat2(base_fd, name, staging_fd, detached, RENAME_NOREPLACE) < 0)
                return errno == ENOENT ? 0 : -errno;
        *ret_detached = g_steal_pointer(&detached);
        return 0;
}

int workspace_restore(int base_fd, const char *detached, const char *name) {
        _cleanup_close_ int staging_fd = open_staging(base_fd);

        if (staging_fd < 0)
                return staging_fd;
        if (renameat2(staging_fd, detached, base_fd, name, RENAME_NOREPLACE) < 0)
                return -errno;
        return 0;
}

int workspace_remove_detached(int base_fd, const char *detached) {
        _cleanup_close_ int staging_fd = open_staging(base_fd);

        if (staging_fd < 0)
                return staging_fd;
        return rm_rf_at(staging_fd, detached);
}

void workspace_remove_detached_async(int base_fd, const char *detached, const char *name) {
        _cleanup_close_ int staging_fd = open_staging(base_fd);
        g_autofree char *what = g_strdup_printf("all of the workspace of %s (it stays in the staging area "
                                                "and goes at the next start)", name);
        g_autofree char *done = g_strdup_printf("Removed the workspace of %s.", name);

        if (staging_fd < 0) {
                log_warning("Cannot remove %s: %s", what, strerror(-staging_fd));
                return;
        }
        rm_rf_at_async(staging_fd, detached, what, done);
}

void workspace_clean_staging(int base_fd) {
        _cleanup_close_ int staging_fd = open_staging(base_fd);
        int r;

        if (staging_fd < 0)
                return;
        r = rm_rf_children(staging_fd);
        if (r < 0)
                log_warning("Cannot clean up %s in the workspace base directory: %s", STAGING_DIR,
                            strerror(-r));
}
