/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "credentials.h"
#include "fs-util.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-vmdef.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int credentials_directory_check(const Virtiofsd *virtiofsd, const char *path, uid_t uid, gid_t gid,
                                sd_bus_error *error) {
        _cleanup_close_ int fd = -1;
        const char *why = mvm_credentials_directory_invalid_reason(path);
        struct stat st;
        int r;

        if (why)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT, "Credentials directory %s: %s.", path,
                                         why);
        /* The C virtiofsd runs as root: served by it, a directory its owner can replace by a
         * symbolic link would give the guest whatever the link points to. */
        if (!virtiofsd_runs_as_owner(virtiofsd))
                return sd_bus_error_setf(error, MVM_ERROR_NOT_SUPPORTED,
                                         "A credentials directory needs the Rust virtiofsd, which runs as the VM's "
                                         "owner; %s is QEMU's C virtiofsd, which runs as root.",
                                         virtiofsd->path ?: "virtiofsd");
        /* As the owner: no oracle for what root could reach, and no link followed. */
        r = open_directory_as_user(path, uid, gid, &fd);
        if (r == -ELOOP)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Credentials directory %s: a symbolic link is in its path; name the "
                                         "directory itself.", path);
        if (r == -ENOENT)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Credentials directory %s does not exist; create it first.", path);
        if (r == -EINVAL || r == -ENOTDIR)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Credentials directory %s is not a directory.", path);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT, "Credentials directory %s: %s.", path,
                                         strerror(-r));
        if (fstat(fd, &st) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot check %s: %m", path);
        if (st.st_uid != uid)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Credentials directory %s is not yours (it belongs to uid %u).", path,
                                         (unsigned) st.st_uid);
        return 0;
}
