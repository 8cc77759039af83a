/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-vmdef.h"
#include "mvm-config.h"
#include "mvm-json.h"
#include "mvm-name.h"
#include "mvm-net.h"

#include <json-glib/json-glib.h>
#include <string.h>

G_DEFINE_QUARK(mvm-vmdef-error-quark, mvm_vmdef_error)

void mvm_vmdef_free(MvmVmDef *d) {
        if (!d)
                return;
        g_free(d->name);
        g_free(d->workspace);
        g_free(d->hypervisor);
        g_free(d->kernel);
        g_free(d->initramfs);
        g_free(d->kernel_cmdline);
        g_free(d->ip_address);
        g_free(d->mac_address);
        g_free(d->egress);
        g_free(d->credentials_directory);
        g_free(d);
}

bool mvm_vm_egress_is_valid(const char *s) {
        return g_strcmp0(s, "internet") == 0 || g_strcmp0(s, "none") == 0;
}

const char *mvm_credentials_directory_invalid_reason(const char *path) {
        /* The guest's own directories, the host's shares and microvmd's state: a share
         * mounted over one of them would hide or replace what the guest needs. */
        static const char *const reserved[] = { "/usr", "/nix", "/etc", "/proc", "/sys", "/dev", "/run",
                                                "/tmp", "/bin", "/sbin", "/lib", "/lib64", "/boot",
                                                "/var/lib/microvm", "/root" };
        size_t n;

        if (!path || path[0] != '/')
                return "it must be an absolute path";
        n = strlen(path);
        if (n > 255)
                return "it is longer than 255 bytes";
        if (n == 1)
                return "it must not be /";
        for (const char *p = path; *p; p++)
                if (!g_ascii_isalnum(*p) && !strchr("/._+-@", *p))
                        return "it may only contain letters, digits and / . _ + - @";
        if (path[n - 1] == '/' || strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../") ||
            g_str_has_suffix(path, "/.") || g_str_has_suffix(path, "/.."))
                return "it must be normalised (no //, /./, /../ or trailing /)";
        for (size_t i = 0; i < G_N_ELEMENTS(reserved); i++) {
                size_t k = strlen(reserved[i]);
                if (strncmp(path, reserved[i], k) == 0 && (path[k] == '\0' || path[k] == '/'))
                        return "it lies in a directory the guest has of its own or gets from the host";
        }
        return NULL;
}

static void add_optional_string(JsonBuilder *b, const char *member, const char *value) {
        if (!value)
                return;
        json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, value);
}

char *mvm_vmdef_to_json(const MvmVmDef *d) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "format-version");
        json_builder_add_int_value(b, MVM_VMDEF_FORMAT_VERSION);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, d->name);
        json_builder_set_member_name(b, "owner");
        json_builder_add_int_value(b, (gint64) d->owner);
        json_builder_set_member_name(b, "vcpus");
        json_builder_add_int_value(b, (gint64) d->vcpus);
        json_builder_set_member_name(b, "memory-mib");
        json_builder_add_int_value(b, (gint64) d->memory_mib);
        json_builder_set_member_name(b, "workspace");
        json_builder_add_string_value(b, d->workspace);
        json_builder_set_member_name(b, "created-at");
        json_builder_add_int_value(b, (gint64) d->created_at);
        json_builder_set_member_name(b, "autostart");
        json_builder_add_boolean_value(b, d->autostart);
        add_optional_string(b, "hypervisor", d->hypervisor);
        add_optional_string(b, "kernel", d->kernel);
        add_optional_string(b, "initramfs", d->initramfs);
        add_optional_string(b, "kernel-cmdline", d->kernel_cmdline);
        add_optional_string(b, "ip-address", d->ip_address);
        add_optional_string(b, "mac-address", d->mac_address);
        add_optional_string(b, "egress", d->egress);
        add_optional_string(b, "credentials-directory", d->credentials_directory);
        if (d->volume_gib > 0) {
                json_builder_set_member_name(b, "volume-gib");
                json_builder_add_int_value(b, (gint64) d->volume_gib);
        }
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        return g_strconcat(text, "\n", NULL);
}

static gboolean get_int(JsonObject *o, const char *member, gint64 min, gint64 max,
                        gint64 *ret, GError **error) {
        JsonNode *n = json_object_get_member(o, member);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"%s\" is missing or not an integer", member);
                return FALSE;
        }
        *ret = json_node_get_int(n);
        if (*ret < min || *ret > max) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"%s\" is out of range", member);
                return FALSE;
        }
        return TRUE;
}

static const char *get_string(JsonObject *o, const char *member, GError **error) {
        JsonNode *n = json_object_get_member(o, member);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"%s\" is missing or not a string", member);
                return NULL;
        }
        return json_node_get_string(n);
}

/* json-glib reads more than JSON; refuse anything but one object, and \u0000 escapes. */
static gboolean is_single_object(const char *data, size_t n) {
        size_t i = 0, depth = 0;
        gboolean in_string = FALSE;

        while (i < n && g_ascii_isspace(data[i])) i++;
        if (i >= n || data[i] != '{') return FALSE;
        for (; i < n; i++) {
                char c = data[i];
                if (in_string) {
                        if (c == '\\') {
                                if (i + 5 < n && data[i + 1] == 'u' && strncmp(data + i + 2, "0000", 4) == 0)
                                        return FALSE;
                                i++;
                        } else if (c == '"')
                                in_string = FALSE;
                        continue;
                }
                if (c == '"') in_string = TRUE;
                else if (c == '{' || c == '[') depth++;
                else if ((c == '}' || c == ']') && --depth == 0) { i++; break; }
        }
        while (i < n && g_ascii_isspace(data[i])) i++;
        return i == n;
}

static gboolean get_optional_string(JsonObject *o, const char *member, gboolean is_path, char **ret,
                                    GError **error) {
        const char *s;

        if (!json_object_has_member(o, member))
                return TRUE;
        s = get_string(o, member, error);
        if (!s)
                return FALSE;
        if (is_path && !g_path_is_absolute(s)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"%s\" is not an absolute path", member);
                return FALSE;
        }
        *ret = g_strdup(s);
        return TRUE;
}

MvmVmDef *mvm_vmdef_from_json(const char *data, gssize length, GError **error) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(MvmVmDef) d = g_new0(MvmVmDef, 1);
        g_autoptr(GError) local = NULL;
        JsonNode *root;
        JsonObject *o;
        const char *s;
        gint64 v;

        if (length < 0)
                length = (gssize) strlen(data);
        /* json-glib accepts embedded NULs up to the first one; a definition never has any. */
        if (memchr(data, '\0', (size_t) length)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "the file contains a NUL byte");
                return NULL;
        }
        if (!is_single_object(data, (size_t) length)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "not a single JSON object");
                return NULL;
        }
        if (!mvm_json_depth_ok(data, (size_t) length, MVM_JSON_MAX_DEPTH)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "nested deeper than %d levels", MVM_JSON_MAX_DEPTH);
                return NULL;
        }
        /* Not left to json-glib: 1.10 saturates an overflowing integer and accepts it. */
        if (!mvm_json_integers_fit(data, (size_t) length)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "an integer does not fit in 64 bits");
                return NULL;
        }
        if (!json_parser_load_from_data(parser, data, length, &local)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "not valid JSON: %s", local->message);
                return NULL;
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "not a JSON object");
                return NULL;
        }
        o = json_node_get_object(root);

        if (!get_int(o, "format-version", 1, 1, &v, error))
                return NULL;

        if (!(s = get_string(o, "name", error)))
                return NULL;
        if (!mvm_name_is_valid(s)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"name\" is not a valid VM name");
                return NULL;
        }
        d->name = g_strdup(s);

        /* uid_t is 32 bit and (uid_t) -1 means "no user". */
        if (!get_int(o, "owner", 0, (gint64) UINT32_MAX - 1, &v, error))
                return NULL;
        d->owner = (uid_t) v;
        if (!get_int(o, "vcpus", 1, UINT32_MAX, &v, error))
                return NULL;
        d->vcpus = (uint32_t) v;
        if (!get_int(o, "memory-mib", 1, G_MAXINT64, &v, error))
                return NULL;
        d->memory_mib = (uint64_t) v;
        if (!get_int(o, "created-at", 0, G_MAXINT64, &v, error))
                return NULL;
        d->created_at = (uint64_t) v;

        if (!(s = get_string(o, "workspace", error)))
                return NULL;
        if (!g_path_is_absolute(s)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"workspace\" is not an absolute path");
                return NULL;
        }
        d->workspace = g_strdup(s);

        if (json_object_has_member(o, "autostart")) {
                JsonNode *n = json_object_get_member(o, "autostart");
                if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
                        g_set_error(error, MVM_VMDEF_ERROR, 0, "\"autostart\" is not a boolean");
                        return NULL;
                }
                d->autostart = json_node_get_boolean(n);
        }
        if (!get_optional_string(o, "hypervisor", FALSE, &d->hypervisor, error) ||
            !get_optional_string(o, "kernel", TRUE, &d->kernel, error) ||
            !get_optional_string(o, "initramfs", TRUE, &d->initramfs, error) ||
            !get_optional_string(o, "kernel-cmdline", FALSE, &d->kernel_cmdline, error) ||
            !get_optional_string(o, "ip-address", FALSE, &d->ip_address, error) ||
            !get_optional_string(o, "mac-address", FALSE, &d->mac_address, error) ||
            !get_optional_string(o, "egress", FALSE, &d->egress, error) ||
            !get_optional_string(o, "credentials-directory", TRUE, &d->credentials_directory, error))
                return NULL;
        if (d->credentials_directory && mvm_credentials_directory_invalid_reason(d->credentials_directory)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"credentials-directory\": %s",
                            mvm_credentials_directory_invalid_reason(d->credentials_directory));
                return NULL;
        }
        if (d->egress && !mvm_vm_egress_is_valid(d->egress)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"egress\" is not internet or none");
                return NULL;
        }
        if (d->ip_address) {
                uint32_t a;
                if (mvm_ipv4_parse(d->ip_address, &a) < 0) {
                        g_set_error(error, MVM_VMDEF_ERROR, 0, "\"ip-address\" is not an IPv4 address");
                        return NULL;
                }
        }
        if (d->mac_address && !mvm_mac_is_valid(d->mac_address)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"mac-address\" is not a MAC address");
                return NULL;
        }
        if (json_object_has_member(o, "volume-gib")) {
                if (!get_int(o, "volume-gib", 1, G_MAXINT32, &v, error))
                        return NULL;
                d->volume_gib = (uint64_t) v;
        }
        if (d->hypervisor && !mvm_hypervisor_name_is_valid(d->hypervisor)) {
                g_set_error(error, MVM_VMDEF_ERROR, 0, "\"hypervisor\" is not auto, cloud-hypervisor or qemu");
                return NULL;
        }

        return g_steal_pointer(&d);
}
