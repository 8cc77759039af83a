/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vm-store.h"
#include "fs-util.h"
#include "log.h"
#include "mvm-macro.h"
#include "mvm-name.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define DEFINITION_SIZE_MAX (64 * 1024)

int vm_store_open(const char *state_dir) {
        _cleanup_close_ int state_fd = -1;
        int fd;

        state_fd = open_root_owned_dir(state_dir);
        if (state_fd < 0)
                return state_fd;
        if (mkdirat(state_fd, "vms", 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open_dir_at(state_fd, "vms");
        return fd;
}

GPtrArray *vm_store_load_all(int dir_fd) {
        g_autoptr(GPtrArray) defs = g_ptr_array_new_with_free_func((GDestroyNotify) mvm_vmdef_free);
        DIR *d;
        int fd;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || !(d = fdopendir(fd))) {
                log_error("Cannot read the VM definitions: %m");
                if (fd >= 0)
                        close(fd);
                return g_steal_pointer(&defs);
        }
        rewinddir(d);

        for (struct dirent *de; (de = readdir(d));) {
                g_autofree char *name = NULL, *data = NULL;
                g_autoptr(GError) error = NULL;
                g_autoptr(MvmVmDef) def = NULL;
                size_t size;
                int r;

                if (de->d_name[0] == '.' || !g_str_has_suffix(de->d_name, ".json"))
                        continue;
                name = g_strndup(de->d_name, strlen(de->d_name) - strlen(".json"));
                if (!mvm_name_is_valid(name)) {
                        log_warning("Skipping %s: not a valid VM name.", de->d_name);
                        continue;
                }
                r = read_file_at(dir_fd, de->d_name, DEFINITION_SIZE_MAX, &data, &size);
                if (r < 0) {
                        log_warning("Skipping VM definition %s: cannot read it: %s", de->d_name, strerror(-r));
                        continue;
                }
                def = mvm_vmdef_from_json(data, (gssize) size, &error);
                if (!def) {
                        log_warning("Skipping VM definition %s: %s", de->d_name, error->message);
                        continue;
                }
                if (strcmp(def->name, name) != 0) {
                        log_warning("Skipping VM definition %s: it names the VM \"%s\".", de->d_name, def->name);
                        continue;
                }
                g_ptr_array_add(defs, g_steal_pointer(&def));
        }
        closedir(d);
        return g_steal_pointer(&defs);
}

int vm_store_save(int dir_fd, const MvmVmDef *def) {
        g_autofree char *json = mvm_vmdef_to_json(def);
        g_autofree char *file = g_strconcat(def->name, ".json", NULL);

        return write_file_atomic_at(dir_fd, file, json, strlen(json), 0600);
}

int vm_store_remove(int dir_fd, const char *name) {
        g_autofree char *file = g_strconcat(name, ".json", NULL);

        if (unlinkat(dir_fd, file, 0) < 0)
                return -errno;
        (void) fsync(dir_fd);
        return 0;
}
