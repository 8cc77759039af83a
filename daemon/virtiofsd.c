/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "child.h"
#include "log.h"
#include "virtiofsd.h"

#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void virtiofsd_done(Virtiofsd *v) {
        g_clear_pointer(&v->path, g_free);
        v->kind = VIRTIOFSD_UNKNOWN;
}

VirtiofsdKind virtiofsd_kind_from_version(const char *output) {
        static const char prefix[] = "virtiofsd ";
        const char *rest;

        if (!output || strncmp(output, prefix, strlen(prefix)) != 0)
                return VIRTIOFSD_UNKNOWN;
        rest = output + strlen(prefix);
        if (strncmp(rest, "version ", strlen("version ")) == 0 && g_ascii_isdigit(rest[strlen("version ")]))
                return VIRTIOFSD_C;
        if (g_ascii_isdigit(rest[0]))
                return VIRTIOFSD_RUST;
        return VIRTIOFSD_UNKNOWN;
}

const char *virtiofsd_kind_to_string(VirtiofsdKind kind) {
        switch (kind) {
        case VIRTIOFSD_C:
                return "C";
        case VIRTIOFSD_RUST:
                return "rust";
        default:
                return "unknown";
        }
}

static const char *resolve(const char *configured) {
        if (strcmp(configured, VIRTIOFSD_AUTO) != 0)
                return configured;
        if (access(VIRTIOFSD_RUST_PATH, X_OK) == 0)
                return VIRTIOFSD_RUST_PATH;
        return VIRTIOFSD_QEMU_PATH;
}

int virtiofsd_probe(Virtiofsd *v, const char *configured) {
        const char *path = resolve(configured);
        g_autofree char *out = NULL;
        g_autoptr(GError) error = NULL;
        const char *argv[] = { path, "--version", NULL };
        struct stat st;
        int status;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
                return -ENOENT;
        if (v->path && strcmp(v->path, path) == 0 && v->dev == st.st_dev && v->ino == st.st_ino &&
            v->mtime_nsec == (long long) st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec)
                return 0;

        /* A few milliseconds, once per binary: not worth an asynchronous child. */
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, child_setup_unblock_signals, NULL, &out, NULL,
                          &status, &error)) {
                log_error("Cannot run %s --version: %s", path, error->message);
                return -ENOEXEC;
        }
        virtiofsd_done(v);
        v->kind = virtiofsd_kind_from_version(out);
        if (v->kind == VIRTIOFSD_UNKNOWN) {
                log_error("%s --version printed neither QEMU's nor the Rust virtiofsd's version.", path);
                return -EPROTO;
        }
        v->path = g_strdup(path);
        v->dev = st.st_dev;
        v->ino = st.st_ino;
        v->mtime_nsec = (long long) st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        log_info("virtiofsd: %s (%s).", path, virtiofsd_kind_to_string(v->kind));
        return 0;
}

bool virtiofsd_runs_as_owner(const Virtiofsd *v) {
        return v->kind == VIRTIOFSD_RUST;
}

char **virtiofsd_argv(const Virtiofsd *v, const char *source, bool read_only) {
        GPtrArray *a = g_ptr_array_new();

        g_ptr_array_add(a, g_strdup(v->path));
        /* The listening socket from PID 1: the hypervisor connects to a socket that exists
         * before either of them runs. */
        g_ptr_array_add(a, g_strdup("--fd=3"));
        if (v->kind == VIRTIOFSD_RUST) {
                /* Unprivileged, it maps only its own uid into the user namespace it pivots
                 * into the share in; read-only shares are refused writes by virtiofsd itself. */
                g_ptr_array_add(a, g_strdup_printf("--shared-dir=%s", source));
                g_ptr_array_add(a, g_strdup("--sandbox=namespace"));
                g_ptr_array_add(a, g_strdup("--cache=auto"));
                if (read_only)
                        g_ptr_array_add(a, g_strdup("--readonly"));
        } else {
                /* No read-only switch here: its unit makes the share read-only on the host.
                 * Without CAP_MKNOD and CAP_SETFCAP no guest creates device nodes or file
                 * capabilities on the host. */
                g_ptr_array_add(a, g_strdup("-o"));
                g_ptr_array_add(a, g_strdup_printf("source=%s", source));
                g_ptr_array_add(a, g_strdup("-o"));
                g_ptr_array_add(a, g_strdup("sandbox=namespace"));
                g_ptr_array_add(a, g_strdup("-o"));
                g_ptr_array_add(a, g_strdup("cache=auto"));
                g_ptr_array_add(a, g_strdup("-o"));
                g_ptr_array_add(a, g_strdup("modcaps=-mknod:-setfcap"));
        }
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, FALSE);
}

char *virtiofsd_describe(const Virtiofsd *v, const char *owner_name) {
        return g_strdup_printf("virtiofsd (%s), as %s", virtiofsd_kind_to_string(v->kind),
                               virtiofsd_runs_as_owner(v) ? owner_name : "root");
}
