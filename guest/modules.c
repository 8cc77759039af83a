/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "modules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "mvm-macro.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_compressed(const char *path) {
        return ends_with(path, ".ko.xz") || ends_with(path, ".ko.zst") || ends_with(path, ".ko.gz");
}

static bool has_dotdot(const char *path) {
        for (const char *p = path; (p = strstr(p, "..")); p += 2)
                if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                        return true;
        return false;
}

int guest_module_candidates(const char *modules_dir, const char *release, const char *line,
                            char *ret[static GUEST_MODULE_CANDIDATES_MAX]) {
        size_t len;
        int n = 0;

        for (int i = 0; i < GUEST_MODULE_CANDIDATES_MAX; i++)
                ret[i] = NULL;
        line += strspn(line, " \t");
        len = strcspn(line, "\r\n");
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
                len--;
        if (len == 0 || line[0] == '#')
                return 0;

        _cleanup_free_ char *entry = strndup(line, len);
        if (!entry)
                return -ENOMEM;
        if (has_dotdot(entry) || strpbrk(entry, " \t"))
                return -EINVAL;

        bool is_path = strchr(entry, '/') || ends_with(entry, ".ko") || is_compressed(entry);
        if (entry[0] == '/') {
                ret[n] = strdup(entry);
                if (!ret[n++])
                        goto oom;
        } else if (is_path) {
                if (asprintf(&ret[n++], "%s/%s/%s", modules_dir, release, entry) < 0 ||
                    asprintf(&ret[n++], "%s/%s", modules_dir, entry) < 0)
                        goto oom;
        } else {
                if (asprintf(&ret[n++], "%s/%s.ko", modules_dir, entry) < 0 ||
                    asprintf(&ret[n++], "%s/%s/%s.ko", modules_dir, release, entry) < 0)
                        goto oom;
        }
        return n;
oom:
        /* asprintf leaves its pointer undefined on failure */
        ret[n - 1] = NULL;
        for (int i = 0; i < GUEST_MODULE_CANDIDATES_MAX; i++) {
                free(ret[i]);
                ret[i] = NULL;
        }
        return -ENOMEM;
}

/* 0 when loaded (or already there), else a negative errno after logging. */
static int load_one(const char *line, char *const candidates[], int n) {
        for (int i = 0; i < n; i++) {
                _cleanup_close_ int fd = open(candidates[i], O_RDONLY | O_CLOEXEC);

                if (fd < 0) {
                        if (errno == ENOENT)
                                continue;
                        int r = -errno;
                        guest_log_error("cannot open module %s: %s", candidates[i], strerror(errno));
                        return r;
                }
                int flags = is_compressed(candidates[i]) ? MODULE_INIT_COMPRESSED_FILE : 0;
                if (syscall(SYS_finit_module, fd, "", flags) < 0 && errno != EEXIST) {
                        int r = -errno;
                        guest_log_error("cannot load module %s: %s", candidates[i], strerror(errno));
                        return r;
                }
                return 0;
        }
        guest_log_error("module %s not found in the initramfs", line);
        return -ENOENT;
}

int guest_load_modules(const char *modules_dir, const char *load_order) {
        _cleanup_fclose_ FILE *f = fopen(load_order, "re");
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        struct utsname u;
        int loaded = 0;

        if (!f) {
                int r = -errno;
                guest_log_error("cannot read %s: %s", load_order, strerror(errno));
                return r;
        }
        if (uname(&u) < 0)
                u.release[0] = '\0';
        while (getline(&line, &size, f) >= 0) {
                char *candidates[GUEST_MODULE_CANDIDATES_MAX];
                int n = guest_module_candidates(modules_dir, u.release, line, candidates);

                line[strcspn(line, "\r\n")] = '\0';
                if (n < 0) {
                        guest_log_error("%s: ignoring the line \"%s\": %s", load_order, line, strerror(-n));
                        continue;
                }
                if (n > 0 && load_one(line, candidates, n) == 0)
                        loaded++;
                for (int i = 0; i < n; i++)
                        free(candidates[i]);
        }
        return loaded;
}
