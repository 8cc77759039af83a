/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Workspaces: BASE/NAME, owned by the VM's owner, with ssh-host-keys/ inside.
 *
 * The daemon is root and the owner is not, so a workspace is built in BASE/.staging
 * (root only, 0700) where no user can plant anything, handed to the owner there, and
 * only then moved into place with one rename. Removal moves it back into the staging
 * area first and never follows a symlink the owner may have created. */

#define WORKSPACE_HOST_KEYS_DIR "ssh-host-keys"
#define WORKSPACE_HOST_KEY "ssh_host_ed25519_key"
#define WORKSPACE_AUTHORIZED_KEYS "authorized_keys"

/* Opens (creating if missing) the base directory, which must be owned by root and
 * writable by nobody else. */
int workspace_open_base(const char *path);

bool workspace_exists(int base_fd, const char *name);

/* Builds the workspace for name in the staging area, owned by uid:gid. On success
 * *ret_staging_name names it for workspace_commit() or workspace_abort(). */
int workspace_prepare(int base_fd, const char *base_path, const char *name, uid_t uid,
                      gid_t gid, char *const *authorized_keys, char **ret_staging_name);

/* Moves the prepared workspace to BASE/NAME; -EEXIST if something is there. */
int workspace_commit(int base_fd, const char *staging_name, const char *name);

void workspace_abort(int base_fd, const char *staging_name);

/* Takes BASE/NAME out of place (reversible with workspace_restore until the removal
 * is finished by workspace_remove_detached). Missing: 0 and *ret_detached NULL. */
int workspace_detach(int base_fd, const char *name, char **ret_detached);
int workspace_restore(int base_fd, const char *detached, const char *name);
int workspace_remove_detached(int base_fd, const char *detached);
/* The same in a worker thread, the outcome logged: a user's tree may be large, and
 * microvmd's loop must not wait for it. The tree is already out of the way (detached). */
void workspace_remove_detached_async(int base_fd, const char *detached, const char *name);

/* Removes what crashed calls left in the staging area. */
void workspace_clean_staging(int base_fd);
