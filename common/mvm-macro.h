/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Cleanup attributes in the style of systemd's, for the code both programs share. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void mvm_freep(void *p) {
        free(*(void **) p);
}

static inline void mvm_closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void mvm_fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(mvm_freep)
#define _cleanup_close_ _cleanup_(mvm_closep)
#define _cleanup_fclose_ _cleanup_(mvm_fclosep)

#define MVM_ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Closes fd if open; returns -1 for "fd = safe_close(fd)". */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

/* Hands ownership of an fd or pointer out of a cleanup variable. */
static inline int mvm_take_fd(int *fd) {
        int r = *fd;
        *fd = -1;
        return r;
}
#define MVM_TAKE_PTR(p)                          \
        ({                                       \
                __typeof__(p) _taken_ = (p);     \
                (p) = NULL;                      \
                _taken_;                         \
        })
