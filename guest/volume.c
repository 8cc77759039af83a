/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "volume.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "mvm-macro.h"

bool guest_ext4_magic_in(const void *buf, size_t size) {
        const uint8_t *p = buf;

        if (!buf || size < GUEST_EXT4_MAGIC_OFFSET + 2)
                return false;
        p += GUEST_EXT4_MAGIC_OFFSET;
        return (uint16_t) (p[0] | (p[1] << 8)) == GUEST_EXT4_MAGIC;
}

int guest_has_ext4(const char *path) {
        uint8_t buf[GUEST_EXT4_MAGIC_OFFSET + 2];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        size_t have = 0;

        if (fd < 0)
                return -errno;
        while (have < sizeof(buf)) {
                ssize_t n = pread(fd, buf + have, sizeof(buf) - have, (off_t) have);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break; /* smaller than a superblock: no file system */
                have += (size_t) n;
        }
        return guest_ext4_magic_in(buf, have);
}
