/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "fs-util.h"
#include "mvm-macro.h"
#include "volume.h"

#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>

#define VOLUMES_DIR "volumes"

char *volume_path(const char *name) {
        return g_strdup_printf(MICROVM_STATE_DIR "/" VOLUMES_DIR "/%s.img", name);
}

/* 0711: the hypervisor's user reaches its own image, nobody lists the others. */
static int volumes_dir_open(void) {
        _cleanup_close_ int state_fd = open_root_owned_dir(MICROVM_STATE_DIR);

        if (state_fd < 0)
                return state_fd;
        if (mkdirat(state_fd, VOLUMES_DIR, 0711) < 0 && errno != EEXIST)
                return -errno;
        return open_dir_at(state_fd, VOLUMES_DIR);
}

bool volume_exists(const char *name) {
        _cleanup_close_ int dir = volumes_dir_open();
        g_autofree char *file = g_strconcat(name, ".img", NULL);
        struct stat st;

        return dir >= 0 && fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

int volume_ensure(const char *name, uint64_t size_gib, uid_t uid, gid_t gid) {
        _cleanup_close_ int dir = volumes_dir_open(), fd = -1;
        g_autofree char *file = g_strconcat(name, ".img", NULL);
        struct stat st;

        if (dir < 0)
                return dir;
        fd = openat(dir, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* New: sparse, so it takes no space until the guest writes. */
        if (st.st_size == 0 && ftruncate(fd, (off_t) (size_gib << 30)) < 0)
                return -errno;
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0600) < 0)
                return -errno;
        return 0;
}

int volume_remove(const char *name) {
        _cleanup_close_ int dir = volumes_dir_open();
        g_autofree char *file = g_strconcat(name, ".img", NULL);

        if (dir < 0)
                return dir == -ENOENT ? 0 : dir;
        if (unlinkat(dir, file, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
