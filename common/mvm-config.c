/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "mvm-config.h"
#include "mvm-net.h"
#include "mvm-vmdef.h"

#include <string.h>

#define GROUP "Manager"
#define GROUP_GUEST "Guest"
#define GROUP_HYPERVISOR "Hypervisor"
#define GROUP_NETWORK "Network"
#define GROUP_LIMITS "Limits"

static const struct {
        const char *group;
        const char *key;
} known_keys[] = {
        { GROUP, "WorkspaceBaseDir" },
        { GROUP, "DefaultVCPUs" },
        { GROUP, "DefaultMemoryMiB" },
        { GROUP, "MaxVCPUs" },
        { GROUP, "MaxMemoryMiB" },
        { GROUP, "DefaultCredentialsDirectory" },
        { GROUP_GUEST, "Kernel" },
        { GROUP_GUEST, "Initramfs" },
        { GROUP_GUEST, "KernelCommandLine" },
        { GROUP_HYPERVISOR, "Default" },
        { GROUP_HYPERVISOR, "CloudHypervisor" },
        { GROUP_HYPERVISOR, "QEMU" },
        { GROUP_HYPERVISOR, "Virtiofsd" },
        { GROUP_HYPERVISOR, "SoftwareShare" },
        { GROUP_HYPERVISOR, "StartTimeoutSec" },
        { GROUP_HYPERVISOR, "StopTimeoutSec" },
        { GROUP_HYPERVISOR, "KVM" },
        { GROUP_NETWORK, "Bridge" },
        { GROUP_NETWORK, "Subnet" },
        { GROUP_NETWORK, "Uplink" },
        { GROUP_NETWORK, "DNS" },
        { GROUP_NETWORK, "NAT" },
        { GROUP_NETWORK, "AllowVMToVM" },
        { GROUP_NETWORK, "Egress" },
        { GROUP_NETWORK, "AllowedNetworks" },
        { GROUP_NETWORK, "AllowedHostPorts" },
        { GROUP_LIMITS, "MaxVMsPerUser" },
        { GROUP_LIMITS, "MaxRunningVCPUsPerUser" },
        { GROUP_LIMITS, "MaxRunningMemoryMiBPerUser" },
        { GROUP_LIMITS, "MaxVolumeGiBPerUser" },
        { GROUP_LIMITS, "VMsMemoryMaxMiB" },
        { GROUP_LIMITS, "VMsCPUWeight" },
};

G_DEFINE_QUARK(mvm-config-error-quark, mvm_config_error)

MvmConfig *mvm_config_new_default(void) {
        MvmConfig *c = g_new0(MvmConfig, 1);

        c->workspace_base_dir = g_strdup(MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        c->default_vcpus = 8;
        c->default_memory_mib = 4096;
        c->max_vcpus = 64;
        c->max_memory_mib = 65536;
        c->kernel = g_strdup(MICROVM_STATE_DIR "/guest/vmlinuz");
        c->initramfs = g_strdup(MICROVM_STATE_DIR "/guest/initrd.img");
        c->kernel_cmdline = g_strdup("console=ttyS0 panic=-1");
        c->default_hypervisor = g_strdup(MVM_HYPERVISOR_AUTO);
        c->cloud_hypervisor_path = g_strdup("/usr/bin/cloud-hypervisor");
        c->qemu_path = g_strdup("/usr/bin/qemu-system-x86_64");
        c->virtiofsd_path = g_strdup("auto");
        c->default_credentials_directory = g_strdup("");
        c->software_share = g_strdup("auto");
        c->start_timeout_sec = 60;
        c->stop_timeout_sec = 150;
        c->kvm = g_strdup("auto");
        c->bridge = g_strdup("microbr");
        c->subnet = g_strdup("192.168.83.0/24");
        c->uplink = g_strdup("auto");
        c->dns = NULL;
        c->nat = TRUE;
        c->allow_vm_to_vm = FALSE;
        c->egress = MVM_EGRESS_INTERNET;
        c->allowed_networks = g_new0(char *, 1);
        c->allowed_host_ports = g_new0(char *, 1);
        /* One user cannot take the machine: a typical workstation has 8 to 32 threads and
         * 16 to 64 GiB; VMs are small by default. */
        c->max_vms_per_user = 16;
        c->max_running_vcpus_per_user = 16;
        c->max_running_memory_mib_per_user = 32768;
        c->max_volume_gib_per_user = 256;
        c->vms_memory_max_mib = 0;
        c->vms_cpu_weight = 100;
        return c;
}

void mvm_config_free(MvmConfig *c) {
        if (!c)
                return;
        g_free(c->workspace_base_dir);
        g_free(c->kernel);
        g_free(c->initramfs);
        g_free(c->kernel_cmdline);
        g_free(c->default_hypervisor);
        g_free(c->cloud_hypervisor_path);
        g_free(c->qemu_path);
        g_free(c->virtiofsd_path);
        g_free(c->default_credentials_directory);
        g_free(c->software_share);
        g_free(c->kvm);
        g_free(c->bridge);
        g_free(c->subnet);
        g_free(c->uplink);
        g_strfreev(c->dns);
        g_strfreev(c->allowed_networks);
        g_strfreev(c->allowed_host_ports);
        g_free(c);
}

gboolean mvm_hypervisor_name_is_valid(const char *s) {
        return g_strcmp0(s, MVM_HYPERVISOR_AUTO) == 0 ||
               g_strcmp0(s, MVM_HYPERVISOR_CLOUD_HYPERVISOR) == 0 ||
               g_strcmp0(s, MVM_HYPERVISOR_QEMU) == 0;
}

const char *mvm_egress_to_string(MvmEgress e) {
        switch (e) {
        case MVM_EGRESS_NONE:
                return "none";
        case MVM_EGRESS_INTERNET:
                return "internet";
        case MVM_EGRESS_OPEN:
                return "open";
        }
        return "none";
}

int mvm_egress_from_string(const char *s) {
        for (int e = MVM_EGRESS_NONE; e <= MVM_EGRESS_OPEN; e++)
                if (g_strcmp0(s, mvm_egress_to_string(e)) == 0)
                        return e;
        return -1;
}

gboolean mvm_kernel_cmdline_is_safe(const char *s, gboolean allow_quotes) {
        g_auto(GStrv) words = NULL;
        unsigned quotes = 0;

        if (!s)
                return TRUE;
        for (const char *p = s; *p; p++)
                quotes += *p == '"';
        if (quotes > 0 && (!allow_quotes || quotes % 2 != 0))
                return FALSE;
        words = g_strsplit_set(s, " \t\n\r\v\f\"", -1);
        for (size_t i = 0; words[i]; i++)
                if (g_str_has_prefix(words[i], "microvm."))
                        return FALSE;
        return TRUE;
}

MvmEgress mvm_egress_effective(MvmEgress configured, const char *own) {
        int e = own ? mvm_egress_from_string(own) : -1;

        return e >= 0 && e < (int) configured ? (MvmEgress) e : configured;
}

/* Reads an absolute path; "auto_ok" also allows the word "auto". */
static gboolean read_path(GKeyFile *kf, const char *path, const char *group, const char *key,
                          gboolean auto_ok, char **value, GError **error) {
        g_autofree char *s = NULL;

        if (!g_key_file_has_key(kf, group, key, NULL))
                return TRUE;
        s = g_key_file_get_string(kf, group, key, NULL);
        if (s)
                g_strstrip(s);
        if (!s || !(g_path_is_absolute(s) || (auto_ok && strcmp(s, "auto") == 0))) {
                g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: [%s] %s must be an absolute path%s", path,
                            group, key, auto_ok ? " or \"auto\"" : "");
                return FALSE;
        }
        g_free(*value);
        *value = g_steal_pointer(&s);
        return TRUE;
}

/* Empty, an absolute path, or "~/PATH" in the owner's home; checked as a credentials
 * directory would be (a home of /home/NAME stands in for "~"). */
static gboolean read_default_credentials_directory(GKeyFile *kf, const char *path, MvmConfig *c,
                                                   GError **error) {
        g_autofree char *s = NULL, *example = NULL;
        const char *why;

        if (!g_key_file_has_key(kf, GROUP, "DefaultCredentialsDirectory", NULL))
                return TRUE;
        s = g_key_file_get_string(kf, GROUP, "DefaultCredentialsDirectory", NULL);
        if (s)
                g_strstrip(s);
        if (s && s[0] != '\0') {
                example = g_str_has_prefix(s, "~/") ? g_strconcat("/home/NAME", s + 1, NULL) : g_strdup(s);
                why = mvm_credentials_directory_invalid_reason(example);
                if (why || strcmp(s, "~/") == 0) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] DefaultCredentialsDirectory must be empty, an absolute path or "
                                    "~/PATH: %s", path, GROUP, why ?: "it names the home itself");
                        return FALSE;
                }
        }
        g_free(c->default_credentials_directory);
        c->default_credentials_directory = s ? g_steal_pointer(&s) : g_strdup("");
        return TRUE;
}

static gboolean read_uint(GKeyFile *kf, const char *path, const char *group, const char *key,
                             uint64_t min, uint64_t max, uint64_t *value, GError **error) {
        g_autofree char *s = NULL;
        char *end = NULL;
        guint64 v;

        s = g_key_file_get_value(kf, group, key, NULL);
        if (!s)
                return TRUE; /* not set: keep the default */
        g_strstrip(s);
        if (!g_ascii_isdigit(s[0]) ||
            (v = g_ascii_strtoull(s, &end, 10), *end != '\0') ||
            v < min || v > max) {
                g_set_error(error, MVM_CONFIG_ERROR, 0,
                            "%s: [%s] %s=%s is not a number from %" G_GUINT64_FORMAT
                            " to %" G_GUINT64_FORMAT, path, group, key, s, min, max);
                return FALSE;
        }
        *value = v;
        return TRUE;
}

static gboolean read_bool(GKeyFile *kf, const char *path, const char *group, const char *key,
                          gboolean *value, GError **error) {
        g_autoptr(GError) local = NULL;
        gboolean b;

        if (!g_key_file_has_key(kf, group, key, NULL))
                return TRUE;
        b = g_key_file_get_boolean(kf, group, key, &local);
        if (local) {
                g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: [%s] %s must be true or false", path, group, key);
                return FALSE;
        }
        *value = b;
        return TRUE;
}

/* Words separated by spaces or commas; empty words dropped. */
static char **split_list(const char *s) {
        g_auto(GStrv) parts = g_strsplit_set(s, " ,\t", -1);
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

        for (size_t i = 0; parts[i]; i++)
                if (parts[i][0])
                        g_ptr_array_add(out, g_strdup(parts[i]));
        g_ptr_array_add(out, NULL);
        return (char **) g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/* "tcp:N" or "udp:N", N from 1 to 65535; normalised (no leading zeros). */
static char *parse_host_port(const char *s) {
        const char *colon = strchr(s, ':');
        g_autofree char *proto = NULL;
        guint64 port;
        char *end = NULL;

        if (!colon)
                return NULL;
        proto = g_ascii_strdown(s, colon - s);
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
                return NULL;
        if (!g_ascii_isdigit(colon[1]) || strlen(colon + 1) > 5)
                return NULL;
        port = g_ascii_strtoull(colon + 1, &end, 10);
        if (*end != '\0' || port < 1 || port > 65535)
                return NULL;
        return g_strdup_printf("%s:%u", proto, (unsigned) port);
}

static gboolean read_egress(GKeyFile *kf, const char *path, MvmConfig *c, GError **error) {
        g_autofree char *egress = g_key_file_get_string(kf, GROUP_NETWORK, "Egress", NULL);
        g_autofree char *networks = g_key_file_get_string(kf, GROUP_NETWORK, "AllowedNetworks", NULL);
        g_autofree char *ports = g_key_file_get_string(kf, GROUP_NETWORK, "AllowedHostPorts", NULL);

        if (egress) {
                int e = mvm_egress_from_string(g_strstrip(egress));
                if (e < 0) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] Egress must be internet, none or open, not \"%s\"", path,
                                    GROUP_NETWORK, egress);
                        return FALSE;
                }
                c->egress = e;
        }
        if (networks) {
                g_auto(GStrv) words = split_list(networks);
                g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

                for (size_t i = 0; words[i]; i++) {
                        MvmSubnet n;
                        if (mvm_cidr_parse(words[i], &n) < 0) {
                                g_set_error(error, MVM_CONFIG_ERROR, 0,
                                            "%s: [%s] AllowedNetworks: \"%s\" is not an IPv4 network "
                                            "A.B.C.D/N (no host bits set) or address", path, GROUP_NETWORK,
                                            words[i]);
                                return FALSE;
                        }
                        g_ptr_array_add(out, mvm_cidr_to_string(&n));
                }
                g_ptr_array_add(out, NULL);
                g_strfreev(c->allowed_networks);
                c->allowed_networks = (char **) g_ptr_array_free(g_steal_pointer(&out), FALSE);
        }
        if (ports) {
                g_auto(GStrv) words = split_list(ports);
                g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);

                for (size_t i = 0; words[i]; i++) {
                        char *p = parse_host_port(words[i]);
                        if (!p) {
                                g_set_error(error, MVM_CONFIG_ERROR, 0,
                                            "%s: [%s] AllowedHostPorts: \"%s\" is not tcp:PORT or udp:PORT "
                                            "(PORT from 1 to 65535)", path, GROUP_NETWORK, words[i]);
                                return FALSE;
                        }
                        g_ptr_array_add(out, p);
                }
                g_ptr_array_add(out, NULL);
                g_strfreev(c->allowed_host_ports);
                c->allowed_host_ports = (char **) g_ptr_array_free(g_steal_pointer(&out), FALSE);
        }
        return TRUE;
}

static gboolean read_network(GKeyFile *kf, const char *path, MvmConfig *c, GError **error) {
        g_autofree char *bridge = g_key_file_get_string(kf, GROUP_NETWORK, "Bridge", NULL);
        g_autofree char *subnet = g_key_file_get_string(kf, GROUP_NETWORK, "Subnet", NULL);
        g_autofree char *uplink = g_key_file_get_string(kf, GROUP_NETWORK, "Uplink", NULL);
        g_autofree char *dns = g_key_file_get_string(kf, GROUP_NETWORK, "DNS", NULL);
        MvmSubnet sub;

        if (bridge) {
                g_strstrip(bridge);
                if (!mvm_ifname_is_valid(bridge) || g_str_has_prefix(bridge, MVM_TAP_PREFIX)) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] Bridge must be an interface name of 1 to 15 characters "
                                    "(A-Z a-z 0-9 - _ .), not starting with \"" MVM_TAP_PREFIX "\"",
                                    path, GROUP_NETWORK);
                        return FALSE;
                }
                g_free(c->bridge);
                c->bridge = g_steal_pointer(&bridge);
        }
        if (subnet) {
                g_strstrip(subnet);
                if (mvm_subnet_parse(subnet, &sub) < 0) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] Subnet must be an IPv4 network address with a prefix from 16 "
                                    "to 30, like 192.168.83.0/24", path, GROUP_NETWORK);
                        return FALSE;
                }
                g_free(c->subnet);
                c->subnet = g_steal_pointer(&subnet);
        }
        if (uplink) {
                g_strstrip(uplink);
                if (strcmp(uplink, "auto") != 0 && !mvm_ifname_is_valid(uplink)) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] Uplink must be \"auto\" or an interface name", path, GROUP_NETWORK);
                        return FALSE;
                }
                g_free(c->uplink);
                c->uplink = g_steal_pointer(&uplink);
        }
        if (dns) {
                g_auto(GStrv) parts = g_strsplit_set(g_strstrip(dns), " ,", -1);
                g_autoptr(GPtrArray) servers = g_ptr_array_new_with_free_func(g_free);

                if (strcmp(dns, "auto") != 0) {
                        for (size_t i = 0; parts[i]; i++) {
                                uint32_t a;

                                if (parts[i][0] == '\0')
                                        continue;
                                if (mvm_ipv4_parse(parts[i], &a) < 0) {
                                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                                    "%s: [%s] DNS must be \"auto\" or IPv4 addresses, not \"%s\"",
                                                    path, GROUP_NETWORK, parts[i]);
                                        return FALSE;
                                }
                                g_ptr_array_add(servers, mvm_ipv4_to_string(a));
                        }
                        g_ptr_array_add(servers, NULL);
                        g_strfreev(c->dns);
                        c->dns = (char **) g_ptr_array_free(g_steal_pointer(&servers), FALSE);
                }
        }
        return read_bool(kf, path, GROUP_NETWORK, "NAT", &c->nat, error) &&
               read_bool(kf, path, GROUP_NETWORK, "AllowVMToVM", &c->allow_vm_to_vm, error) &&
               read_egress(kf, path, c, error);
}

MvmConfig *mvm_config_load(const char *path, GError **error) {
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
        for (size_t i = 0; groups[i]; i++) {
                gboolean known_group = FALSE;

                for (size_t k = 0; k < G_N_ELEMENTS(known_keys); k++)
                        known_group = known_group || strcmp(groups[i], known_keys[k].group) == 0;
                if (!known_group) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: unknown group [%s]",
                                    path, groups[i]);
                        return NULL;
                }
                g_clear_pointer(&keys, g_strfreev);
                keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);
                for (size_t j = 0; keys && keys[j]; j++) {
                        gboolean known = FALSE;
                        for (size_t k = 0; k < G_N_ELEMENTS(known_keys); k++)
                                known = known || (strcmp(groups[i], known_keys[k].group) == 0 &&
                                                  strcmp(keys[j], known_keys[k].key) == 0);
                        if (!known) {
                                g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: unknown key [%s] %s",
                                            path, groups[i], keys[j]);
                                return NULL;
                        }
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
        if (!read_uint(kf, path, GROUP, "MaxVCPUs", 1, 4096, &v, error))
                return NULL;
        c->max_vcpus = (uint32_t) v;
        v = c->max_memory_mib;
        if (!read_uint(kf, path, GROUP, "MaxMemoryMiB", MVM_MIN_MEMORY_MIB, UINT64_C(1) << 30, &v, error))
                return NULL;
        c->max_memory_mib = v;
        v = c->default_vcpus;
        if (!read_uint(kf, path, GROUP, "DefaultVCPUs", 1, c->max_vcpus, &v, error))
                return NULL;
        c->default_vcpus = (uint32_t) v;
        v = c->default_memory_mib;
        if (!read_uint(kf, path, GROUP, "DefaultMemoryMiB", MVM_MIN_MEMORY_MIB, c->max_memory_mib, &v, error))
                return NULL;
        c->default_memory_mib = v;

        if (!read_default_credentials_directory(kf, path, c, error))
                return NULL;
        if (!read_path(kf, path, GROUP_GUEST, "Kernel", FALSE, &c->kernel, error) ||
            !read_path(kf, path, GROUP_GUEST, "Initramfs", FALSE, &c->initramfs, error) ||
            !read_path(kf, path, GROUP_HYPERVISOR, "CloudHypervisor", FALSE, &c->cloud_hypervisor_path, error) ||
            !read_path(kf, path, GROUP_HYPERVISOR, "QEMU", FALSE, &c->qemu_path, error) ||
            !read_path(kf, path, GROUP_HYPERVISOR, "Virtiofsd", TRUE, &c->virtiofsd_path, error) ||
            !read_path(kf, path, GROUP_HYPERVISOR, "SoftwareShare", TRUE, &c->software_share, error))
                return NULL;
        if (g_key_file_has_key(kf, GROUP_GUEST, "KernelCommandLine", NULL)) {
                g_autofree char *s = g_key_file_get_string(kf, GROUP_GUEST, "KernelCommandLine", NULL);
                if (!s) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: [%s] KernelCommandLine is not valid UTF-8",
                                    path, GROUP_GUEST);
                        return NULL;
                }
                if (!mvm_kernel_cmdline_is_safe(s, TRUE)) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] KernelCommandLine must not set microvmd's own microvm.* "
                                    "parameters or leave a double quote open", path, GROUP_GUEST);
                        return NULL;
                }
                g_free(c->kernel_cmdline);
                c->kernel_cmdline = g_strstrip(g_steal_pointer(&s));
        }
        if (g_key_file_has_key(kf, GROUP_HYPERVISOR, "Default", NULL)) {
                g_autofree char *s = g_key_file_get_string(kf, GROUP_HYPERVISOR, "Default", NULL);
                if (s)
                        g_strstrip(s);
                if (!mvm_hypervisor_name_is_valid(s)) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0,
                                    "%s: [%s] Default must be auto, cloud-hypervisor or qemu", path,
                                    GROUP_HYPERVISOR);
                        return NULL;
                }
                g_free(c->default_hypervisor);
                c->default_hypervisor = g_steal_pointer(&s);
        }
        if (!read_uint(kf, path, GROUP_HYPERVISOR, "StartTimeoutSec", 1, 3600, &c->start_timeout_sec, error))
                return NULL;
        if (!read_uint(kf, path, GROUP_HYPERVISOR, "StopTimeoutSec", 1, 3600, &c->stop_timeout_sec, error))
                return NULL;
        if (g_key_file_has_key(kf, GROUP_HYPERVISOR, "KVM", NULL)) {
                g_autofree char *s = g_key_file_get_string(kf, GROUP_HYPERVISOR, "KVM", NULL);
                if (s)
                        g_strstrip(s);
                if (g_strcmp0(s, "auto") != 0 && g_strcmp0(s, "yes") != 0 && g_strcmp0(s, "no") != 0) {
                        g_set_error(error, MVM_CONFIG_ERROR, 0, "%s: [%s] KVM must be auto, yes or no", path,
                                    GROUP_HYPERVISOR);
                        return NULL;
                }
                g_free(c->kvm);
                c->kvm = g_steal_pointer(&s);
        }

        if (!read_network(kf, path, c, error))
                return NULL;
        if (!read_uint(kf, path, GROUP_LIMITS, "MaxVMsPerUser", 0, 1u << 20, &c->max_vms_per_user, error) ||
            !read_uint(kf, path, GROUP_LIMITS, "MaxRunningVCPUsPerUser", 0, 1u << 20, &c->max_running_vcpus_per_user,
                       error) ||
            !read_uint(kf, path, GROUP_LIMITS, "MaxRunningMemoryMiBPerUser", 0, UINT64_C(1) << 40,
                       &c->max_running_memory_mib_per_user, error) ||
            !read_uint(kf, path, GROUP_LIMITS, "MaxVolumeGiBPerUser", 0, UINT64_C(1) << 30,
                       &c->max_volume_gib_per_user, error) ||
            !read_uint(kf, path, GROUP_LIMITS, "VMsMemoryMaxMiB", 0, UINT64_C(1) << 40, &c->vms_memory_max_mib,
                       error) ||
            !read_uint(kf, path, GROUP_LIMITS, "VMsCPUWeight", 1, 10000, &c->vms_cpu_weight, error))
                return NULL;

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
