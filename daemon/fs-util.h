/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* File helpers for a root daemon working in directories users can write to: every
 * function works relative to a directory fd and never follows a symlink. */

/* Opens a directory below dirfd (or an absolute path with AT_FDCWD) without following
 * a symlink in the last component. */
int open_dir_at(int dirfd, const char *name);

/* Opens path and checks it is a directory owned by root that nobody else can write,
 * so no other user can plant entries in it. */
int open_root_owned_dir(const char *path);

/* Creates (0700) or opens dirfd/name and checks it is a directory of root's that
 * nobody else can enter: a place for entries on their way in or out. */
int open_private_dir_at(int dirfd, const char *name);

/* The names in the directory at path (not . and ..), as a set of strings it owns; a
 * missing directory is empty. */
int dir_entry_names(const char *path, GHashTable **ret);

/* Removes everything below the directory fd, then nothing else: no symlink is
 * followed, no mount point is crossed (st_dev differs: left in place, -EBUSY). */
int rm_rf_children(int fd);

/* rm_rf_children() on dirfd/name, then removes name itself. Missing: 0. */
int rm_rf_at(int dirfd, const char *name);

/* rm_rf_at() in a worker thread (dirfd is duplicated). A failure is logged, naming what;
 * success logs done_message, if not NULL. */
void rm_rf_at_async(int dirfd, const char *name, const char *what, const char *done_message);

/* Writes data to dirfd/name atomically: temp file, fsync, rename, fsync of the dir. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

/* Writes data to a new file dirfd/name (fails if it exists). */
int write_new_file_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

/* Reads a regular file below dirfd, at most max bytes, not following symlinks. */
int read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_size);

/* A random lower-case suffix for temporary names. */
void random_suffix(char *buf, size_t n);

/* Connects a stream socket to the unix socket at path without following a symlink in
 * its last component (the directory may be writable by a less trusted user). Never
 * waits: -EAGAIN when the listener's backlog is full (it does not accept). The socket
 * returned is blocking. */
int connect_unix_nofollow(const char *path);

/* The first half of connect_unix_nofollow(), for a non-blocking connect: opens the
 * socket at path as O_PATH (not following a symlink in its last component) and returns
 * that fd, with in ret_address the address that reaches exactly that inode while the fd
 * stays open (/proc/self/fd/N). -ELOOP for a symlink, -ENOTSOCK for anything else. */
int unix_address_nofollow(const char *path, struct sockaddr_un *ret_address, socklen_t *ret_size);

/* Opens path for reading as user uid (with gid and the user's groups), in a child that
 * drops to them: the file is one that user could read, whatever root could. Only a
 * regular file is returned (else -EINVAL); errors are the user's (-EACCES, -ENOENT). */
int open_regular_as_user(const char *path, uid_t uid, gid_t gid, int *ret_fd);
/* The same for a directory, as an O_PATH descriptor, reached without following any
 * symbolic link (-ELOOP when a component is one); -EINVAL when it is no directory. */
int open_directory_as_user(const char *path, uid_t uid, gid_t gid, int *ret_fd);

/* Copies the open file fd into a new file dirfd/name (mode, owner uid:gid). */
int copy_fd_to_new_file_at(int fd, int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid);
