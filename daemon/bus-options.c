/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-options.h"
#include "mvm-dbus.h"
#include "mvm-keys.h"
#include "mvm-net.h"
#include "mvm-vmdef.h"
#include "volume.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

void create_options_clear(CreateOptions *o) {
        g_clear_pointer(&o->authorized_keys, g_strfreev);
        g_clear_pointer(&o->hypervisor, g_free);
        g_clear_pointer(&o->kernel, g_free);
        g_clear_pointer(&o->initramfs, g_free);
        g_clear_pointer(&o->kernel_cmdline, g_free);
        g_clear_pointer(&o->ip_address, g_free);
        g_clear_pointer(&o->egress, g_free);
        g_clear_pointer(&o->credentials_directory, g_free);
}

/* Printable ASCII only: these end up on command lines and in unit properties. */
static bool is_printable_ascii(const char *s) {
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        return false;
        return true;
}

/* An absolute, normalized path: no "." or ".." components, no "//". */
static bool is_normalized_absolute_path(const char *p) {
        g_auto(GStrv) parts = NULL;

        if (p[0] != '/' || strlen(p) > 4096 || !is_printable_ascii(p) || strstr(p, "//"))
                return false;
        parts = g_strsplit(p + 1, "/", -1);
        for (size_t i = 0; parts[i]; i++)
                if (strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
                        return false;
        return true;
}

/* Enters the variant of one option after checking it holds the expected type. */
static int enter_option(sd_bus_message *m, const char *key, const char *signature,
                        const char *type_name, sd_bus_error *error) {
        const char *contents = NULL;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (type != SD_BUS_TYPE_VARIANT || !contents || strcmp(contents, signature) != 0)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Option '%s' must be of type '%s' (%s), not '%s'.", key,
                                         signature, type_name, contents ? contents : "?");
        return sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, signature);
}

static int read_string_option(sd_bus_message *m, const char *key, char **ret, sd_bus_error *error) {
        const char *v;
        int r;

        r = enter_option(m, key, "s", "string", error);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &v);
        if (r < 0)
                return r;
        g_free(*ret);
        *ret = g_strdup(v);
        return 0;
}

static int read_authorized_keys(sd_bus_message *m, char ***ret, sd_bus_error *error) {
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
        const char *key;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key)) > 0) {
                const char *reason;

                if (keys->len >= MVM_AUTHORIZED_KEYS_MAX)
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'authorized-keys' has more than %d keys.",
                                                 MVM_AUTHORIZED_KEYS_MAX);
                reason = mvm_authorized_key_invalid_reason(key);
                if (reason)
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'authorized-keys': %s (key %u).", reason,
                                                 keys->len + 1);
                g_ptr_array_add(keys, g_strdup(key));
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        g_ptr_array_add(keys, NULL);
        *ret = (char **) g_ptr_array_free(g_steal_pointer(&keys), FALSE);
        return 0;
}

/* Walks the a{sv}: for each entry calls handle(key) positioned on the variant. */
typedef int (*OptionHandler)(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error);

static int parse_options(sd_bus_message *m, OptionHandler handle, void *userdata, sd_bus_error *error) {
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0)
                        return r;
                if (!g_hash_table_add(seen, g_strdup(key)))
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option '%s' is given twice.", key);
                r = handle(m, key, userdata, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m); /* the variant */
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m); /* the dict entry */
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Reads a number option (signature "u" or "t") and checks its range; min_text names the
 * lower bound in the message ("0 (none)"), unit follows the upper one (" MiB"). */
static int read_number_option(sd_bus_message *m, const char *key, char signature, uint64_t min,
                              const char *min_text, uint64_t max, const char *unit, uint64_t *ret,
                              sd_bus_error *error) {
        const char sig[2] = { signature, '\0' };
        uint64_t v = 0;
        uint32_t v32;
        int r;

        r = enter_option(m, key, sig, signature == 'u' ? "uint32" : "uint64", error);
        if (r < 0)
                return r;
        if (signature == 'u') {
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT32, &v32);
                v = v32;
        } else
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT64, &v);
        if (r < 0)
                return r;
        if (v < min || v > max) {
                g_autofree char *lower = min_text ? g_strdup(min_text) : g_strdup_printf("%" PRIu64, min);
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Option '%s' must be from %s to %" PRIu64 "%s, not %" PRIu64 ".", key,
                                         lower, max, unit, v);
        }
        *ret = v;
        return 0;
}

typedef struct CreateParse {
        const MvmConfig *config;
        CreateOptions *options;
} CreateParse;

static int handle_create_option(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error) {
        CreateParse *p = userdata;
        int r;

        uint64_t v;

        if (strcmp(key, MVM_OPTION_VCPUS) == 0) {
                r = read_number_option(m, key, 'u', 1, NULL, p->config->max_vcpus, "", &v, error);
                if (r < 0)
                        return r;
                p->options->vcpus = (uint32_t) v;
        } else if (strcmp(key, MVM_OPTION_MEMORY_MIB) == 0) {
                r = read_number_option(m, key, 't', MVM_MIN_MEMORY_MIB, NULL, p->config->max_memory_mib, " MiB",
                                       &p->options->memory_mib, error);
                if (r < 0)
                        return r;
        } else if (strcmp(key, MVM_OPTION_AUTHORIZED_KEYS) == 0) {
                r = enter_option(m, key, "as", "array of strings", error);
                if (r < 0)
                        return r;
                g_clear_pointer(&p->options->authorized_keys, g_strfreev);
                r = read_authorized_keys(m, &p->options->authorized_keys, error);
                if (r < 0)
                        return r;
        } else if (strcmp(key, MVM_OPTION_HYPERVISOR) == 0) {
                r = read_string_option(m, key, &p->options->hypervisor, error);
                if (r < 0)
                        return r;
                if (!mvm_hypervisor_name_is_valid(p->options->hypervisor))
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'hypervisor' must be auto, cloud-hypervisor or qemu.");
        } else if (strcmp(key, MVM_OPTION_KERNEL) == 0 || strcmp(key, MVM_OPTION_INITRAMFS) == 0) {
                char **target = strcmp(key, MVM_OPTION_KERNEL) == 0 ? &p->options->kernel : &p->options->initramfs;

                r = read_string_option(m, key, target, error);
                if (r < 0)
                        return r;
                if (!is_normalized_absolute_path(*target))
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option '%s' must be an absolute path without '.' or '..' "
                                                 "components.", key);
        } else if (strcmp(key, MVM_OPTION_KERNEL_CMDLINE) == 0) {
                r = read_string_option(m, key, &p->options->kernel_cmdline, error);
                if (r < 0)
                        return r;
                if (!is_printable_ascii(p->options->kernel_cmdline) || strlen(p->options->kernel_cmdline) > 2048)
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'kernel-cmdline' must be printable ASCII, at most 2048 "
                                                 "characters.");
                /* A quote or a microvm.* word could replace the parameters microvmd appends. */
                if (!mvm_kernel_cmdline_is_safe(p->options->kernel_cmdline, FALSE))
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'kernel-cmdline' must not contain '\"' or set microvmd's "
                                                 "own microvm.* parameters.");
        } else if (strcmp(key, MVM_OPTION_VOLUME_GIB) == 0) {
                r = read_number_option(m, key, 't', 0, "0 (none)", VOLUME_MAX_GIB, "", &p->options->volume_gib,
                                       error);
                if (r < 0)
                        return r;
        } else if (strcmp(key, MVM_OPTION_IP_ADDRESS) == 0) {
                uint32_t a;

                r = read_string_option(m, key, &p->options->ip_address, error);
                if (r < 0)
                        return r;
                if (mvm_ipv4_parse(p->options->ip_address, &a) < 0)
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'ip-address' must be an IPv4 address like 192.168.83.7.");
        } else if (strcmp(key, MVM_OPTION_EGRESS) == 0) {
                r = read_string_option(m, key, &p->options->egress, error);
                if (r < 0)
                        return r;
                /* "open" is the admin's to give (the config), never an owner's. */
                if (!mvm_vm_egress_is_valid(p->options->egress))
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'egress' must be internet or none.");
        } else if (strcmp(key, MVM_OPTION_CREDENTIALS_DIRECTORY) == 0) {
                const char *why;

                r = read_string_option(m, key, &p->options->credentials_directory, error);
                if (r < 0)
                        return r;
                why = mvm_credentials_directory_invalid_reason(p->options->credentials_directory);
                if (why)
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Option 'credentials-directory': %s.", why);
        } else
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Unknown option '%s' (known: vcpus, memory-mib, authorized-keys, "
                                         "hypervisor, kernel, initramfs, kernel-cmdline, ip-address, volume-gib, "
                                         "egress, credentials-directory).",
                                         key);
        return 0;
}

int create_options_parse(sd_bus_message *m, const MvmConfig *config, CreateOptions *ret,
                         sd_bus_error *error) {
        CreateOptions o = {
                .vcpus = config->default_vcpus,
                .memory_mib = config->default_memory_mib,
        };
        CreateParse p = { .config = config, .options = &o };
        int r;

        r = parse_options(m, handle_create_option, &p, error);
        if (r < 0) {
                create_options_clear(&o);
                return r;
        }
        if (!o.authorized_keys)
                o.authorized_keys = g_new0(char *, 1);
        *ret = o;
        return 0;
}

typedef struct BoolOption {
        const char *key;
        bool *value;
} BoolOption;

static int handle_bool_option(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error) {
        BoolOption *o = userdata;
        int b, r;

        if (!o->key || strcmp(key, o->key) != 0) {
                if (o->key)
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "Unknown option '%s' (known: %s).", key, o->key);
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Unknown option '%s' (this call takes none).", key);
        }
        r = enter_option(m, key, "b", "boolean", error);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_BOOLEAN, &b);
        if (r < 0)
                return r;
        *o->value = b;
        return 0;
}

int bool_option_parse(sd_bus_message *m, const char *key, bool *value, sd_bus_error *error) {
        BoolOption o = { .key = key, .value = value };

        return parse_options(m, handle_bool_option, &o, error);
}

int delete_options_parse(sd_bus_message *m, DeleteOptions *ret, sd_bus_error *error) {
        DeleteOptions o = { .remove_files = false };
        int r;

        r = bool_option_parse(m, MVM_OPTION_REMOVE_FILES, &o.remove_files, error);
        if (r < 0)
                return r;
        *ret = o;
        return 0;
}

typedef struct LogsOptions {
        bool *follow;
        uint64_t *lines;
} LogsOptions;

static int handle_logs_option(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error) {
        LogsOptions *o = userdata;
        int b, r;

        if (strcmp(key, MVM_OPTION_FOLLOW) == 0) {
                r = enter_option(m, key, "b", "boolean", error);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_BOOLEAN, &b);
                if (r < 0)
                        return r;
                *o->follow = b;
        } else if (strcmp(key, MVM_OPTION_LINES) == 0) {
                r = enter_option(m, key, "t", "uint64", error);
                if (r < 0)
                        return r;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT64, o->lines);
                if (r < 0)
                        return r;
        } else
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                         "Unknown option '%s' (known: follow, lines).", key);
        return 0;
}

int logs_options_parse(sd_bus_message *m, bool *follow, uint64_t *lines, sd_bus_error *error) {
        LogsOptions o = { .follow = follow, .lines = lines };

        *follow = false;
        *lines = 0;
        return parse_options(m, handle_logs_option, &o, error);
}
