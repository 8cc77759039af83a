/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Which virtiofsd serves the shares, and its command line. Two kinds exist: QEMU's C
 * virtiofsd (QEMU up to 7.2, Debian 12), which must run as root, and the Rust virtiofsd
 * (package virtiofsd, Debian 13), which runs as an ordinary user in a user namespace of
 * its own and has a read-only mode. */

#include <stdbool.h>
#include <sys/types.h>

typedef enum VirtiofsdKind {
        VIRTIOFSD_UNKNOWN,
        VIRTIOFSD_C,
        VIRTIOFSD_RUST,
} VirtiofsdKind;

typedef struct Virtiofsd {
        char *path;             /* the binary; NULL before a successful probe */
        VirtiofsdKind kind;
        /* What the probe saw, so a replaced binary is probed again. */
        dev_t dev;
        ino_t ino;
        long long mtime_nsec;
} Virtiofsd;

#define VIRTIOFSD_AUTO "auto"
/* Where "auto" looks, in this order: the Rust virtiofsd's place, then QEMU's. */
#define VIRTIOFSD_RUST_PATH "/usr/libexec/virtiofsd"
#define VIRTIOFSD_QEMU_PATH "/usr/lib/qemu/virtiofsd"

void virtiofsd_done(Virtiofsd *v);

/* The kind, from what `virtiofsd --version` printed: QEMU's says "virtiofsd version 7.2.0
 * (...)", the Rust one "virtiofsd 1.13.2". */
VirtiofsdKind virtiofsd_kind_from_version(const char *output);

const char *virtiofsd_kind_to_string(VirtiofsdKind kind);

/* Finds the binary ("auto" or a path) and asks it which kind it is; runs it only when it
 * changed since the last probe. -ENOENT: no binary; -EPROTO: it answered like neither. */
int virtiofsd_probe(Virtiofsd *v, const char *configured);

/* The command line serving source on the listening socket fd 3 (socket activation), in
 * namespaces of its own; NULL-terminated, free with g_strfreev. */
char **virtiofsd_argv(const Virtiofsd *v, const char *source, bool read_only);

/* Whether this kind runs as the VM's owner (true) or must run as root (false). */
bool virtiofsd_runs_as_owner(const Virtiofsd *v);

/* "virtiofsd (rust), as alice" or "virtiofsd (C), as root", for the ShareServer property. */
char *virtiofsd_describe(const Virtiofsd *v, const char *owner_name);
