/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Kernel modules from the initramfs, loaded with finit_module(2) in the order of its
 * load-order file (the initramfs builder writes it, dependencies first):
 * /modules/load-order, or else /lib/modules/load-order. Modules are loaded before the
 * software share covers /usr (and with it /lib, a link to usr/lib). A line is one module:
 *
 *   /modules/6.1.0-56-cloud-amd64/virtio_net.ko   absolute: used as it is
 *   kernel/drivers/net/virtio_net.ko              relative to DIR/RELEASE/, else DIR/
 *   virtio_net                                    DIR/virtio_net.ko, else DIR/RELEASE/virtio_net.ko
 *
 * where DIR is the load-order file's directory and RELEASE the running kernel's. Blank
 * lines and lines starting with '#' are skipped. Compressed modules (.ko.xz, .ko.zst,
 * .ko.gz) need a kernel that decompresses them itself (6.4 or later). */

#include <stddef.h>

/* Where the load-order file is looked for, in this order. */
#define GUEST_MODULES_DIRS { "/modules", "/lib/modules" }
#define GUEST_MODULE_CANDIDATES_MAX 2

/* The files a load-order line may mean, most likely first, into ret (malloc'd strings;
 * unused ones NULL). Returns how many (0: nothing to load on this line) or -EINVAL for a
 * line that is not a module (a ".." component, for one). */
int guest_module_candidates(const char *modules_dir, const char *release, const char *line,
                            char *ret[static GUEST_MODULE_CANDIDATES_MAX]);

/* Loads every module listed in LOAD_ORDER; logs each failure. Returns how many modules
 * are loaded (already loaded ones count), or a negative errno when the list cannot be read. */
int guest_load_modules(const char *modules_dir, const char *load_order);
