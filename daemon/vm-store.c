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

/* One definition file: read and parsed in a worker thread, logged in the main one. */
typedef struct LoadItem {
        char *file;             /* NAME.json */
        char *name;
        MvmVmDef *def;          /* set when it loaded */
        char *problem;          /* otherwise why not, for the log */
} LoadItem;

static void load_item_clear(LoadItem *item) {
        g_free(item->file);
        g_free(item->name);
        mvm_vmdef_free(item->def);
        g_free(item->problem);
}

static void load_one(int dir_fd, LoadItem *item) {
        g_autofree char *data = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) def = NULL;
        size_t size;
        int r;

        r = read_file_at(dir_fd, item->file, DEFINITION_SIZE_MAX, &data, &size);
        if (r < 0) {
                item->problem = g_strdup_printf("cannot read it: %s", strerror(-r));
                return;
        }
        def = mvm_vmdef_from_json(data, (gssize) size, &error);
        if (!def) {
                item->problem = g_strdup(error->message);
                return;
        }
        if (strcmp(def->name, item->name) != 0) {
                item->problem = g_strdup_printf("it names the VM \"%s\".", def->name);
                return;
        }
        item->def = g_steal_pointer(&def);
}

typedef struct LoadWorker {
        int dir_fd;
        GArray *items;          /* LoadItem */
        guint first, step;      /* this worker's items: first, first + step, ... */
} LoadWorker;

static void *load_worker(void *p) {
        LoadWorker *w = p;

        for (guint i = w->first; i < w->items->len; i += w->step)
                load_one(w->dir_fd, &g_array_index(w->items, LoadItem, i));
        return NULL;
}

/* Below this many files one thread is as fast. */
#define LOAD_PARALLEL_MIN 256
#define LOAD_THREADS_MAX 8

GPtrArray *vm_store_load_all(int dir_fd) {
        g_autoptr(GPtrArray) defs = g_ptr_array_new_with_free_func((GDestroyNotify) mvm_vmdef_free);
        g_autoptr(GArray) items = g_array_new(FALSE, TRUE, sizeof(LoadItem));
        LoadWorker workers[LOAD_THREADS_MAX];
        GThread *threads[LOAD_THREADS_MAX] = {};
        guint n_threads = 1;
        DIR *d;
        int fd;

        g_array_set_clear_func(items, (GDestroyNotify) load_item_clear);
        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || !(d = fdopendir(fd))) {
                log_error("Cannot read the VM definitions: %m");
                if (fd >= 0)
                        close(fd);
                return g_steal_pointer(&defs);
        }
        rewinddir(d);

        for (struct dirent *de; (de = readdir(d));) {
                g_autofree char *name = NULL;

                if (de->d_name[0] == '.' || !g_str_has_suffix(de->d_name, ".json"))
                        continue;
                name = g_strndup(de->d_name, strlen(de->d_name) - strlen(".json"));
                if (!mvm_name_is_valid(name)) {
                        log_warning("Skipping %s: not a valid VM name.", de->d_name);
                        continue;
                }
                g_array_append_val(items, ((LoadItem) { .file = g_strdup(de->d_name),
                                                        .name = g_steal_pointer(&name) }));
        }
        closedir(d);

        /* Thousands of definitions take a while to parse, and microvmd answers no call
         * before they are loaded: use the machine's CPUs. */
        if (items->len >= LOAD_PARALLEL_MIN)
                n_threads = CLAMP((guint) g_get_num_processors(), 1, LOAD_THREADS_MAX);
        for (guint k = 0; k < n_threads; k++) {
                workers[k] = (LoadWorker) { .dir_fd = dir_fd, .items = items, .first = k, .step = n_threads };
                if (k > 0)
                        threads[k] = g_thread_try_new("load-defs", load_worker, &workers[k], NULL);
        }
        /* The calling thread takes the first share, and that of a thread that could not
         * be made. */
        load_worker(&workers[0]);
        for (guint k = 1; k < n_threads; k++)
                if (threads[k])
                        g_thread_join(threads[k]);
                else
                        load_worker(&workers[k]);

        for (guint i = 0; i < items->len; i++) {
                LoadItem *item = &g_array_index(items, LoadItem, i);

                if (item->def)
                        g_ptr_array_add(defs, g_steal_pointer(&item->def));
                else
                        log_warning("Skipping VM definition %s: %s", item->file, item->problem);
        }
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
