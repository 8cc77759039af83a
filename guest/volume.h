/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The persistent volume: microvmd's one virtio-blk disk, /dev/vda, a sparse raw image that
 * is all zeros at the first start. microvm-init formats it with ext4 when it has no file
 * system yet and mounts it at microvm.volume=. */

#include <stdbool.h>
#include <stddef.h>

#define GUEST_VOLUME_DEVICE "/dev/vda"
#define GUEST_VOLUME_LABEL "microvm-volume"

/* The superblock starts at byte 1024; its s_magic (little-endian) 56 bytes into it. The
 * same magic marks ext2 and ext3, which the ext4 driver mounts as well. */
#define GUEST_EXT4_MAGIC_OFFSET (1024 + 56)
#define GUEST_EXT4_MAGIC 0xEF53

/* Whether buf, the first size bytes of a device, has the ext2/3/4 superblock magic. */
bool guest_ext4_magic_in(const void *buf, size_t size);

/* Whether the device or file at path has it: 1 yes, 0 no (or too small), -errno when it
 * cannot be read. */
int guest_has_ext4(const char *path);
