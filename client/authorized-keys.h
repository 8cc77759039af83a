/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* The SSH public keys microvm-client sends as the authorized-keys option of
 * CreateWorkspace. */

/* The directory searched when no --key is given: $HOME/.ssh (or the home directory
 * from the password database). Returns NULL with error set when it cannot be found. */
char *client_default_ssh_dir(GError **error);

/* Reads the keys of key_files (NULL-terminated), or, when key_files is NULL or empty,
 * of every file ~/.ssh/NAME.pub in sorted order. Each non-empty line that is not a
 * comment is one key and must be a valid OpenSSH public key line. Returns an array of
 * newly allocated strings (possibly empty), or NULL with a one-line error naming the
 * file. */
GPtrArray *client_collect_authorized_keys(char **key_files, GError **error);
