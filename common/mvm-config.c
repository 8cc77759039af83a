/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "mvm-config.h"

#include <string.h>

#define GROUP "Manager"

G_DEFINE_QUARK(mvm-config-error-quark, mvm_config_error)

MvmConfig *mvm_config_new_default(void) {
        MvmConfig *c = g_new0(MvmConfig, 1);

        c->workspace_base_dir = g_strdup(MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        c->default_vcpus = 8;
        c->default_memory_mib = 4096;
        c->max_vcpus = 64;
        c->max_memory_mib = 65536;
        return c;
}

void mvm_config_free(MvmConfig *c) {
        if (!c)
                return;
        g_free(c->workspace_base_dir);
        g_free(c);
}

static gboolean read_uint(GKeyFile *kf, const char *path, const char *key, uint64_t min,
                          uint64_t max, uint64_t *value, GError **error) {
        g_autofree char *s = NULL;
        char *end = NULL;
        guint64 v;

        s = g_key_file_get_value(kf, GROUP, key, NULL);
        if (!s)
                return TRUE; /* not set: keep the default */
        g_strstrip(s);
        if (!g_ascii_isdigit(s[0]) ||
            (v = g_ascii_strtoull(s, &end, 10), *end != '\0') ||
            v < min || v > max) {
                g_set_error(error, MVM_CONFIG_ERROR, 0,
                            "%s: [%s] %s=%s is not a number from %" G_GUINT64_FORMAT
                            " to %" G_GUINT64_FORMAT, path, GROUP, key, s, min, max);
                return FALSE;
        }
        *value = v;
        return TRUE;
}

MvmConfig *mvm_config_load(const char *path, GError **error) {
        static const char *const known_keys[] = {
                "WorkspaceBaseDir", "DefaultVCPUs", "DefaultMemoryMiB", "MaxVCPUs", "MaxMemoryMiB",
        };
        g_autoptr(MvmConfig) c = mvm_config_new_default();
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;
        g_auto(GStrv) groups = NULL, keys = NULL;
        uint64_t v;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_TRANSLATIONS, &local)) {
                if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return g_steal_pointer(&c);
                g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: %s", path, local->message);
                return NULL;
        }

        /* A misspelt key silently ignored is a surprise; refuse it. */
        groups = g_key_file_get_groups(kf, NULL);
        for (size_t i = 0; groups[i]; i++)
                if (strcmp(groups[i], GROUP) != 0) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: unknown group [%s]",
                                    path, groups[i]);
                        return NULL;
                }
        keys = g_key_file_get_keys(kf, GROUP, NULL, NULL);
        for (size_t i = 0; keys && keys[i]; i++) {
                gboolean known = FALSE;
                for (size_t k = 0; k < G_N_ELEMENTS(known_keys); k++)
                        known = known || strcmp(keys[i], known_keys[k]) == 0;
                if (!known) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: unknown key [%s] %s",
                                    path, GROUP, keys[i]);
                        return NULL;
                }
        }

        if (g_key_file_has_key(kf, GROUP, "WorkspaceBaseDir", NULL)) {
                g_autofree char *dir = g_key_file_get_string(kf, GROUP, "WorkspaceBaseDir", NULL);
                g_autofree char *canon = NULL;

                if (!dir || !g_path_is_absolute(dir)) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] WorkspaceBaseDir must be an absolute path", path, GROUP);
                        return NULL;
                }
                canon = g_canonicalize_filename(dir, "/");
                if (g_str_has_prefix(canon, "//"))
                        memmove(canon, canon + 1, strlen(canon));
                if (strcmp(canon, "/") == 0) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] WorkspaceBaseDir must not be /", path, GROUP);
                        return NULL;
                }
                g_free(c->workspace_base_dir);
                c->workspace_base_dir = g_steal_pointer(&canon);
        }

        v = c->max_vcpus;
        if (!read_uint(kf, path, "MaxVCPUs", 1, 4096, &v, error))
                return NULL;
        c->max_vcpus = (uint32_t) v;
        v = c->max_memory_mib;
        if (!read_uint(kf, path, "MaxMemoryMiB", MVM_MIN_MEMORY_MIB, UINT64_C(1) << 30, &v, error))
                return NULL;
        c->max_memory_mib = v;
        v = c->default_vcpus;
        if (!read_uint(kf, path, "DefaultVCPUs", 1, c->max_vcpus, &v, error))
                return NULL;
        c->default_vcpus = (uint32_t) v;
        v = c->default_memory_mib;
        if (!read_uint(kf, path, "DefaultMemoryMiB", MVM_MIN_MEMORY_MIB, c->max_memory_mib, &v, error))
                return NULL;
        c->default_memory_mib = v;

        /* Defaults larger than a lowered maximum would make every plain create fail. */
        if (c->default_vcpus > c->max_vcpus || c->default_memory_mib > c->max_memory_mib) {
                g_set_error(error, MVM_CONFIG_ERROR, 0,
                            "%s: the defaults (DefaultVCPUs=%u, DefaultMemoryMiB=%" G_GUINT64_FORMAT
                            ") exceed the maximums (MaxVCPUs=%u, MaxMemoryMiB=%" G_GUINT64_FORMAT ")",
                            path, c->default_vcpus, c->default_memory_mib, c->max_vcpus, c->max_memory_mib);
                return NULL;
        }
        return g_steal_pointer(&c);
}
