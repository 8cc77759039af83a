/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The credentials directory: a directory of the VM's owner (the agent's logins and
 * configuration) shared read-write with the VM and the guest user's $HOME. */

#include <systemd/sd-bus.h>
#include <sys/types.h>

#include "virtiofsd.h"

/* Whether path may be the credentials directory of a VM of uid, with this virtiofsd:
 * only the Rust virtiofsd, which runs as the owner, may serve a path its owner controls
 * (org.microvm.Error.NotSupported with the C one); the path must be well-formed and reach,
 * as the owner and without any symbolic link, a directory the owner owns
 * (org.microvm.Error.InvalidArgument). Never reads anything in it. */
int credentials_directory_check(const Virtiofsd *virtiofsd, const char *path, uid_t uid, gid_t gid,
                                sd_bus_error *error);
