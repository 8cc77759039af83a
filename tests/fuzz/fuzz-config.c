/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The config loader (/etc/microvm/microvmd.conf), from a memfd. */
#define _GNU_SOURCE
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mvm-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = NULL;
        char path[64];
        int fd = memfd_create("microvmd.conf", MFD_CLOEXEC);

        if (fd < 0)
                return 0;
        if (write(fd, data, size) == (ssize_t) size) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                c = mvm_config_load(path, &error);
        }
        close(fd);
        return 0;
}
