/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Persistent volumes: one sparse raw image per VM that has one, in
 * /var/lib/microvm/volumes/NAME.img, owned by the hypervisors' user. The guest formats
 * it on first start and mounts it on /var. */

#define VOLUME_MAX_GIB 1024u
#define VOLUME_MOUNT_POINT "/var"

char *volume_path(const char *name);
bool volume_exists(const char *name);

/* Creates the image (sparse, size_gib) if it is missing, owned by uid:gid. */
int volume_ensure(const char *name, uint64_t size_gib, uid_t uid, gid_t gid);

/* Missing: 0. */
int volume_remove(const char *name);
