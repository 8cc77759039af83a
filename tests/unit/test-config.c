/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvmd.conf: the documented defaults (README.md, "The config file"), overrides, and
 * every way a file is refused. */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "mvm-config.h"

/* A temporary directory per test, holding the config file under test. */
typedef struct {
        char *dir;
        char *path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->dir = g_dir_make_tmp("mvm-test-config-XXXXXX", &error);
        g_assert_no_error(error);
        f->path = g_build_filename(f->dir, "microvmd.conf", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_autoptr(GDir) d = NULL;
        const char *name;

        /* Tests only create plain files and empty directories directly inside f->dir. */
        d = g_dir_open(f->dir, 0, NULL);
        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(f->dir, name, NULL);
                if (g_file_test(p, G_FILE_TEST_IS_DIR))
                        g_assert_cmpint(g_rmdir(p), ==, 0);
                else
                        g_assert_cmpint(g_unlink(p), ==, 0);
        }
        g_assert_cmpint(g_rmdir(f->dir), ==, 0);
        g_free(f->path);
        g_free(f->dir);
}

static void write_file(const char *path, const char *text) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(path, text, -1, &error);
        g_assert_no_error(error);
}

static MvmConfig *load_text(Fixture *f, const char *text, GError **error) {
        write_file(f->path, text);
        return mvm_config_load(f->path, error);
}

static void assert_defaults(const MvmConfig *c) {
        g_assert_nonnull(c);
        g_assert_cmpstr(c->workspace_base_dir, ==, MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        g_assert_cmpuint(c->default_vcpus, ==, 8);
        g_assert_cmpuint(c->default_memory_mib, ==, 4096);
        g_assert_cmpuint(c->max_vcpus, ==, 64);
        g_assert_cmpuint(c->max_memory_mib, ==, 65536);
}

/* A refused file: NULL, an error in our domain naming the file and (if given) the key. */
static void assert_refused(Fixture *f, const char *text, const char *must_mention) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = load_text(f, text, &error);
        g_autofree char *shown = g_strescape(text, NULL);

        if (c || !error) {
                g_test_message("config \"%s\" was accepted, expected an error", shown);
                g_test_fail();
                return;
        }
        g_assert_true(error->domain == MVM_CONFIG_ERROR);
        g_assert_nonnull(strstr(error->message, f->path));
        if (must_mention && !strstr(error->message, must_mention)) {
                g_test_message("config \"%s\": error \"%s\" does not mention \"%s\"", shown,
                               error->message, must_mention);
                g_test_fail();
        }
}

static void test_builtin_defaults(void) {
        g_autoptr(MvmConfig) c = mvm_config_new_default();

        assert_defaults(c);
        /* The build's default is the documented one unless the build moved the state dir. */
        g_assert_true(g_str_has_suffix(MICROVM_DEFAULT_WORKSPACE_BASE_DIR, "/lib/microvm/workspaces"));
        g_assert_true(g_path_is_absolute(MICROVM_DEFAULT_WORKSPACE_BASE_DIR));
        mvm_config_free(NULL);
}

static void test_missing_file(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = mvm_config_load(f->path, &error);

        g_assert_no_error(error);
        assert_defaults(c);

        /* Also when the directory holding it does not exist. */
        g_autofree char *deeper = g_build_filename(f->dir, "no-such-dir", "microvmd.conf", NULL);
        g_autoptr(MvmConfig) c2 = mvm_config_load(deeper, &error);
        g_assert_no_error(error);
        assert_defaults(c2);
}

static void test_empty_files(Fixture *f, gconstpointer data) {
        static const char *const texts[] = {
                "",
                "\n\n",
                "# only a comment\n",
                "[Manager]\n",
                "# The shipped example: everything commented out.\n"
                "[Manager]\n"
                "#WorkspaceBaseDir=/var/lib/microvm/workspaces\n"
                "#DefaultVCPUs=8\n",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(MvmConfig) c = load_text(f, texts[i], &error);
                g_assert_no_error(error);
                assert_defaults(c);
        }
}

/* The README's example file, values as documented, loads to the defaults. */
static void test_documented_example(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = load_text(f,
                "[Manager]\n"
                "# Where workspaces are created; must be an absolute path to a directory owned by root.\n"
                "WorkspaceBaseDir=" MICROVM_DEFAULT_WORKSPACE_BASE_DIR "\n"
                "# Size of a new VM when the caller does not say.\n"
                "DefaultVCPUs=8\n"
                "DefaultMemoryMiB=4096\n"
                "# The largest size a caller may ask for.\n"
                "MaxVCPUs=64\n"
                "MaxMemoryMiB=65536\n", &error);

        g_assert_no_error(error);
        assert_defaults(c);
}

static void test_override_all(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = load_text(f,
                "[Manager]\n"
                "WorkspaceBaseDir=/srv/microvm/ws\n"
                "DefaultVCPUs=2\n"
                "DefaultMemoryMiB=1024\n"
                "MaxVCPUs=16\n"
                "MaxMemoryMiB=32768\n", &error);

        g_assert_no_error(error);
        g_assert_nonnull(c);
        g_assert_cmpstr(c->workspace_base_dir, ==, "/srv/microvm/ws");
        g_assert_cmpuint(c->default_vcpus, ==, 2);
        g_assert_cmpuint(c->default_memory_mib, ==, 1024);
        g_assert_cmpuint(c->max_vcpus, ==, 16);
        g_assert_cmpuint(c->max_memory_mib, ==, 32768);
}

static void test_guest_hypervisor_network(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) d = mvm_config_new_default();
        g_autoptr(MvmConfig) c = load_text(f,
                "[Guest]\n"
                "Kernel=/boot/vmlinuz-test\n"
                "Initramfs=/boot/initrd-test\n"
                "KernelCommandLine= console=ttyS0 quiet \n"
                "[Hypervisor]\n"
                "Default=qemu\n"
                "CloudHypervisor=/opt/ch/cloud-hypervisor\n"
                "QEMU=/opt/qemu/qemu-system-x86_64\n"
                "Virtiofsd=/usr/libexec/virtiofsd\n"
                "SoftwareShare=/opt/tools\n"
                "StartTimeoutSec=20\n"
                "StopTimeoutSec=30\n"
                "KVM=no\n"
                "[Network]\n"
                "Bridge=vmbr0\n"
                "Subnet=10.20.0.0/16\n"
                "Uplink=eth1\n"
                "DNS=9.9.9.9, 1.1.1.1\n"
                "NAT=false\n"
                "AllowVMToVM=true\n"
                "Egress=open\n"
                "AllowedNetworks=192.168.1.0/24, 10.1.2.3\n"
                "AllowedHostPorts=tcp:3128 UDP:053\n"
                "[Limits]\n"
                "MaxVMsPerUser=0\n"
                "MaxRunningVCPUsPerUser=4\n"
                "MaxRunningMemoryMiBPerUser=8192\n"
                "MaxVolumeGiBPerUser=10\n"
                "VMsMemoryMaxMiB=16384\n"
                "VMsCPUWeight=50\n", &error);

        g_assert_no_error(error);
        g_assert_nonnull(c);
        g_assert_cmpstr(c->kernel, ==, "/boot/vmlinuz-test");
        g_assert_cmpstr(c->initramfs, ==, "/boot/initrd-test");
        g_assert_cmpstr(c->kernel_cmdline, ==, "console=ttyS0 quiet");
        g_assert_cmpstr(c->default_hypervisor, ==, "qemu");
        g_assert_cmpstr(c->cloud_hypervisor_path, ==, "/opt/ch/cloud-hypervisor");
        g_assert_cmpstr(c->qemu_path, ==, "/opt/qemu/qemu-system-x86_64");
        g_assert_cmpstr(c->virtiofsd_path, ==, "/usr/libexec/virtiofsd");
        g_assert_cmpstr(c->software_share, ==, "/opt/tools");
        g_assert_cmpuint(c->start_timeout_sec, ==, 20);
        g_assert_cmpuint(c->stop_timeout_sec, ==, 30);
        g_assert_cmpstr(c->kvm, ==, "no");
        g_assert_cmpstr(c->bridge, ==, "vmbr0");
        g_assert_cmpstr(c->subnet, ==, "10.20.0.0/16");
        g_assert_cmpstr(c->uplink, ==, "eth1");
        g_assert_nonnull(c->dns);
        g_assert_cmpuint(g_strv_length(c->dns), ==, 2);
        g_assert_cmpstr(c->dns[0], ==, "9.9.9.9");
        g_assert_cmpstr(c->dns[1], ==, "1.1.1.1");
        g_assert_false(c->nat);
        g_assert_true(c->allow_vm_to_vm);
        g_assert_cmpint(c->egress, ==, MVM_EGRESS_OPEN);
        g_assert_cmpuint(g_strv_length(c->allowed_networks), ==, 2);
        g_assert_cmpstr(c->allowed_networks[0], ==, "192.168.1.0/24");
        g_assert_cmpstr(c->allowed_networks[1], ==, "10.1.2.3/32");
        g_assert_cmpuint(g_strv_length(c->allowed_host_ports), ==, 2);
        g_assert_cmpstr(c->allowed_host_ports[0], ==, "tcp:3128");
        g_assert_cmpstr(c->allowed_host_ports[1], ==, "udp:53");
        g_assert_cmpuint(c->max_vms_per_user, ==, 0);
        g_assert_cmpuint(c->max_running_vcpus_per_user, ==, 4);
        g_assert_cmpuint(c->max_running_memory_mib_per_user, ==, 8192);
        g_assert_cmpuint(c->max_volume_gib_per_user, ==, 10);
        g_assert_cmpuint(c->vms_memory_max_mib, ==, 16384);
        g_assert_cmpuint(c->vms_cpu_weight, ==, 50);

        /* The documented defaults. */
        g_assert_cmpstr(d->kernel_cmdline, ==, "console=ttyS0 panic=-1");
        g_assert_cmpstr(d->default_hypervisor, ==, "auto");
        g_assert_cmpstr(d->virtiofsd_path, ==, "auto");
        g_assert_cmpstr(d->default_credentials_directory, ==, "");
        g_assert_cmpstr(d->software_share, ==, "auto");
        g_assert_cmpuint(d->start_timeout_sec, ==, 60);
        g_assert_cmpuint(d->stop_timeout_sec, ==, 150);
        g_assert_cmpstr(d->kvm, ==, "auto");
        g_assert_cmpstr(d->bridge, ==, "microbr");
        g_assert_cmpstr(d->subnet, ==, "192.168.83.0/24");
        g_assert_cmpstr(d->uplink, ==, "auto");
        g_assert_null(d->dns);
        g_assert_true(d->nat);
        g_assert_false(d->allow_vm_to_vm);
        g_assert_cmpint(d->egress, ==, MVM_EGRESS_INTERNET);
        g_assert_cmpuint(d->max_vms_per_user, ==, 16);
        g_assert_cmpuint(d->max_running_vcpus_per_user, ==, 16);
        g_assert_cmpuint(d->max_running_memory_mib_per_user, ==, 32768);
        g_assert_cmpuint(d->max_volume_gib_per_user, ==, 256);
        g_assert_cmpuint(d->vms_memory_max_mib, ==, 0);
        g_assert_cmpuint(d->vms_cpu_weight, ==, 100);
        g_assert_cmpstr(mvm_egress_to_string(d->egress), ==, "internet");
        g_assert_nonnull(d->allowed_networks);
        g_assert_cmpuint(g_strv_length(d->allowed_networks), ==, 0);
        g_assert_nonnull(d->allowed_host_ports);
        g_assert_cmpuint(g_strv_length(d->allowed_host_ports), ==, 0);
}

static void test_guest_hypervisor_network_refused(Fixture *f, gconstpointer data) {
        assert_refused(f, "[Guest]\nKernel=vmlinuz\n", "Kernel");
        assert_refused(f, "[Hypervisor]\nDefault=firecracker\n", "Default");
        assert_refused(f, "[Hypervisor]\nSoftwareShare=usr\n", "SoftwareShare");
        assert_refused(f, "[Hypervisor]\nStopTimeoutSec=0\n", "StopTimeoutSec");
        assert_refused(f, "[Hypervisor]\nStartTimeoutSec=3601\n", "StartTimeoutSec");
        assert_refused(f, "[Hypervisor]\nKVM=maybe\n", "KVM");
        assert_refused(f, "[Network]\nBridge=this-name-is-too-long\n", "Bridge");
        assert_refused(f, "[Network]\nBridge=mvt0\n", "Bridge");
        assert_refused(f, "[Network]\nBridge=a/b\n", "Bridge");
        assert_refused(f, "[Network]\nSubnet=192.168.83.1/24\n", "Subnet");
        assert_refused(f, "[Network]\nSubnet=192.168.83.0/31\n", "Subnet");
        assert_refused(f, "[Network]\nSubnet=10.0.0.0/8\n", "Subnet");
        assert_refused(f, "[Network]\nSubnet=192.168.83.0\n", "Subnet");
        assert_refused(f, "[Network]\nUplink=eth 0\n", "Uplink");
        assert_refused(f, "[Network]\nDNS=1.1.1.1,dns.example\n", "DNS");
        assert_refused(f, "[Network]\nNAT=maybe\n", "NAT");
        assert_refused(f, "[Network]\nAllowVMToVM=2\n", "AllowVMToVM");
        assert_refused(f, "[Guest]\nKernelCommandLine=console=ttyS0 microvm.user=root:0:0\n", "KernelCommandLine");
        assert_refused(f, "[Guest]\nKernelCommandLine=console=ttyS0 x=\"a b\n", "KernelCommandLine");
        assert_refused(f, "[Network]\nEgress=all\n", "Egress");
        assert_refused(f, "[Limits]\nMaxVMsPerUser=-1\n", "MaxVMsPerUser");
        assert_refused(f, "[Limits]\nMaxRunningVCPUsPerUser=many\n", "MaxRunningVCPUsPerUser");
        assert_refused(f, "[Limits]\nMaxVolumesPerUser=3\n", "MaxVolumesPerUser");
        assert_refused(f, "[Limits]\nVMsCPUWeight=0\n", "VMsCPUWeight");
        assert_refused(f, "[Limits]\nVMsCPUWeight=10001\n", "VMsCPUWeight");
        assert_refused(f, "[Network]\nEgress=\n", "Egress");
        assert_refused(f, "[Network]\nAllowedNetworks=192.168.1.1/24\n", "AllowedNetworks");
        assert_refused(f, "[Network]\nAllowedNetworks=192.168.1.0/33\n", "AllowedNetworks");
        assert_refused(f, "[Network]\nAllowedNetworks=mirror.example\n", "AllowedNetworks");
        assert_refused(f, "[Network]\nAllowedNetworks=fd00::/8\n", "AllowedNetworks");
        assert_refused(f, "[Network]\nAllowedHostPorts=3128\n", "AllowedHostPorts");
        assert_refused(f, "[Network]\nAllowedHostPorts=tcp:0\n", "AllowedHostPorts");
        assert_refused(f, "[Network]\nAllowedHostPorts=tcp:65536\n", "AllowedHostPorts");
        assert_refused(f, "[Network]\nAllowedHostPorts=sctp:22\n", "AllowedHostPorts");
        assert_refused(f, "[Network]\nAllowedHostPorts=tcp:22-80\n", "AllowedHostPorts");
}

static void test_egress_keys(Fixture *f, gconstpointer data) {
        static const char *const policies[] = { "none", "internet", "open" };
        g_autoptr(GError) error = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(policies); i++) {
                g_autofree char *text = g_strdup_printf("[Network]\nEgress= %s \n", policies[i]);
                g_autoptr(MvmConfig) c = load_text(f, text, &error);

                g_assert_no_error(error);
                g_assert_cmpstr(mvm_egress_to_string(c->egress), ==, policies[i]);
                g_assert_cmpint(mvm_egress_from_string(policies[i]), ==, c->egress);
        }
        /* Ordered from the strictest: a VM's own choice may only lower the config's. */
        g_assert_cmpint(MVM_EGRESS_NONE, <, MVM_EGRESS_INTERNET);
        g_assert_cmpint(MVM_EGRESS_INTERNET, <, MVM_EGRESS_OPEN);
        g_assert_cmpint(mvm_egress_effective(MVM_EGRESS_OPEN, "none"), ==, MVM_EGRESS_NONE);
        g_assert_cmpint(mvm_egress_effective(MVM_EGRESS_OPEN, "internet"), ==, MVM_EGRESS_INTERNET);
        g_assert_cmpint(mvm_egress_effective(MVM_EGRESS_OPEN, NULL), ==, MVM_EGRESS_OPEN);
        g_assert_cmpint(mvm_egress_effective(MVM_EGRESS_NONE, "internet"), ==, MVM_EGRESS_NONE);
        g_assert_cmpint(mvm_egress_effective(MVM_EGRESS_INTERNET, "open"), ==, MVM_EGRESS_INTERNET);
        g_assert_cmpint(mvm_egress_effective(MVM_EGRESS_INTERNET, "bogus"), ==, MVM_EGRESS_INTERNET);
        g_assert_cmpint(mvm_egress_from_string("Internet"), ==, -1);
        g_assert_cmpint(mvm_egress_from_string(NULL), ==, -1);

        /* Empty lists are allowed and mean none. */
        g_autoptr(MvmConfig) c = load_text(f, "[Network]\nAllowedNetworks=\nAllowedHostPorts=\n", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_strv_length(c->allowed_networks), ==, 0);
        g_assert_cmpuint(g_strv_length(c->allowed_host_ports), ==, 0);
}

/* Empty, an absolute path or ~/PATH; anything a credentials directory could not be is
 * refused with the reason. */
static void test_default_credentials_directory(Fixture *f, gconstpointer data) {
        static const char *const good[][2] = {
                { "", "" },
                { "~/.local/share/microvm/credentials", "~/.local/share/microvm/credentials" },
                { " /srv/agents/alice ", "/srv/agents/alice" },
        };
        static const char *const bad[] = {
                "~", "~/", "~alice/x", "relative/dir", "/usr/share/x", "/home/a b", "~/../x", "/", "/etc",
                "/home/alice/", "~//x",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *text = g_strdup_printf("[Manager]\nDefaultCredentialsDirectory=%s\n", good[i][0]);
                g_autoptr(MvmConfig) c = load_text(f, text, &error);

                g_assert_no_error(error);
                g_assert_cmpstr(c->default_credentials_directory, ==, good[i][1]);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *text = g_strdup_printf("[Manager]\nDefaultCredentialsDirectory=%s\n", bad[i]);
                g_autoptr(MvmConfig) c = load_text(f, text, &error);

                g_assert_null(c);
                g_assert_error(error, MVM_CONFIG_ERROR, 0);
                g_assert_nonnull(strstr(error->message, "DefaultCredentialsDirectory"));
        }
}

/* Each key alone changes only its own field. */
static void test_override_each(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = NULL;

        c = load_text(f, "[Manager]\nWorkspaceBaseDir=/srv/ws\n", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->workspace_base_dir, ==, "/srv/ws");
        g_assert_cmpuint(c->default_vcpus, ==, 8);
        g_assert_cmpuint(c->default_memory_mib, ==, 4096);
        g_assert_cmpuint(c->max_vcpus, ==, 64);
        g_assert_cmpuint(c->max_memory_mib, ==, 65536);
        g_clear_pointer(&c, mvm_config_free);

        c = load_text(f, "[Manager]\nDefaultVCPUs=3\n", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->workspace_base_dir, ==, MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        g_assert_cmpuint(c->default_vcpus, ==, 3);
        g_assert_cmpuint(c->default_memory_mib, ==, 4096);
        g_assert_cmpuint(c->max_vcpus, ==, 64);
        g_assert_cmpuint(c->max_memory_mib, ==, 65536);
        g_clear_pointer(&c, mvm_config_free);

        c = load_text(f, "[Manager]\nDefaultMemoryMiB=2048\n", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->workspace_base_dir, ==, MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        g_assert_cmpuint(c->default_vcpus, ==, 8);
        g_assert_cmpuint(c->default_memory_mib, ==, 2048);
        g_assert_cmpuint(c->max_vcpus, ==, 64);
        g_assert_cmpuint(c->max_memory_mib, ==, 65536);
        g_clear_pointer(&c, mvm_config_free);

        c = load_text(f, "[Manager]\nMaxVCPUs=128\n", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->workspace_base_dir, ==, MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        g_assert_cmpuint(c->default_vcpus, ==, 8);
        g_assert_cmpuint(c->default_memory_mib, ==, 4096);
        g_assert_cmpuint(c->max_vcpus, ==, 128);
        g_assert_cmpuint(c->max_memory_mib, ==, 65536);
        g_clear_pointer(&c, mvm_config_free);

        c = load_text(f, "[Manager]\nMaxMemoryMiB=1048576\n", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->workspace_base_dir, ==, MICROVM_DEFAULT_WORKSPACE_BASE_DIR);
        g_assert_cmpuint(c->default_vcpus, ==, 8);
        g_assert_cmpuint(c->default_memory_mib, ==, 4096);
        g_assert_cmpuint(c->max_vcpus, ==, 64);
        g_assert_cmpuint(c->max_memory_mib, ==, 1048576);
}

/* Edge values that are allowed: the smallest sizes, defaults equal to the maximums,
 * a raised maximum allowing a larger default, blanks around '=' and the value. */
static void test_edge_values(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = NULL;

        c = load_text(f,
                      "[Manager]\nDefaultVCPUs=1\nMaxVCPUs=1\n"
                      "DefaultMemoryMiB=128\nMaxMemoryMiB=128\n", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(c->default_vcpus, ==, 1);
        g_assert_cmpuint(c->max_vcpus, ==, 1);
        g_assert_cmpuint(c->default_memory_mib, ==, MVM_MIN_MEMORY_MIB);
        g_assert_cmpuint(c->max_memory_mib, ==, MVM_MIN_MEMORY_MIB);
        g_clear_pointer(&c, mvm_config_free);

        c = load_text(f, "[Manager]\nDefaultVCPUs=64\nDefaultMemoryMiB=65536\n", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(c->default_vcpus, ==, 64);
        g_assert_cmpuint(c->default_memory_mib, ==, 65536);
        g_clear_pointer(&c, mvm_config_free);

        /* The order of the keys in the file does not matter. */
        c = load_text(f, "[Manager]\nDefaultVCPUs=100\nDefaultMemoryMiB=100000\n"
                         "MaxVCPUs=256\nMaxMemoryMiB=262144\n", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(c->default_vcpus, ==, 100);
        g_assert_cmpuint(c->max_vcpus, ==, 256);
        g_assert_cmpuint(c->default_memory_mib, ==, 100000);
        g_assert_cmpuint(c->max_memory_mib, ==, 262144);
        g_clear_pointer(&c, mvm_config_free);

        c = load_text(f, "[Manager]\nDefaultVCPUs = 4\nMaxVCPUs=32   \n", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(c->default_vcpus, ==, 4);
        g_assert_cmpuint(c->max_vcpus, ==, 32);
}

static void test_unknown_group(Fixture *f, gconstpointer data) {
        assert_refused(f, "[Other]\nDefaultVCPUs=4\n", "Other");
        assert_refused(f, "[Manager]\nDefaultVCPUs=4\n[Other]\n", "Other");
        assert_refused(f, "[manager]\nDefaultVCPUs=4\n", "manager");
        assert_refused(f, "[Manager ]\n", NULL);
        assert_refused(f, "[Networking]\n", "Networking");
}

static void test_unknown_key(Fixture *f, gconstpointer data) {
        assert_refused(f, "[Manager]\nFoo=1\n", "Foo");
        assert_refused(f, "[Manager]\nWorkspaceBasedir=/srv/ws\n", "WorkspaceBasedir");
        assert_refused(f, "[Manager]\nMaxVcpus=4\n", "MaxVcpus");
        assert_refused(f, "[Manager]\nDefaultVCPUs=4\nDefaultMemory=1024\n", "DefaultMemory");
        /* A localized variant is not a known key either. */
        assert_refused(f, "[Manager]\nDefaultVCPUs[de]=4\n", "DefaultVCPUs[de]");
}

static void test_bad_numbers(Fixture *f, gconstpointer data) {
        static const char *const keys[] = { "DefaultVCPUs", "DefaultMemoryMiB", "MaxVCPUs", "MaxMemoryMiB" };
        static const char *const bad[] = {
                "abc", "-1", "0", "8x", "x8", "", " ", "1.5", "1e3", "0x10", "+8", "8 8", "8G",
                "\xc3\xa9", "99999999999999999999", "18446744073709551615", "18446744073709551616",
                "4294967296", "4294967297",
        };

        for (size_t k = 0; k < G_N_ELEMENTS(keys); k++)
                for (size_t b = 0; b < G_N_ELEMENTS(bad); b++) {
                        g_autofree char *text = g_strdup_printf("[Manager]\n%s=%s\n", keys[k], bad[b]);
                        assert_refused(f, text, keys[k]);
                }

        /* Below the minimum memory. */
        assert_refused(f, "[Manager]\nDefaultMemoryMiB=127\n", "DefaultMemoryMiB");
        assert_refused(f, "[Manager]\nMaxMemoryMiB=127\n", "MaxMemoryMiB");
        assert_refused(f, "[Manager]\nDefaultMemoryMiB=1\n", "DefaultMemoryMiB");
        /* Above the default maximums. */
        assert_refused(f, "[Manager]\nDefaultVCPUs=65\n", "DefaultVCPUs");
        assert_refused(f, "[Manager]\nDefaultMemoryMiB=65537\n", "DefaultMemoryMiB");
        /* Absurd maximums. */
        assert_refused(f, "[Manager]\nMaxVCPUs=1000000\n", "MaxVCPUs");
        assert_refused(f, "[Manager]\nMaxMemoryMiB=9223372036854775807\n", "MaxMemoryMiB");
}

/* Lowering a maximum below the (unchanged) default cannot leave a config where every
 * plain create fails. */
static void test_defaults_above_max(Fixture *f, gconstpointer data) {
        assert_refused(f, "[Manager]\nMaxVCPUs=4\n", NULL);
        assert_refused(f, "[Manager]\nMaxMemoryMiB=2048\n", NULL);
        assert_refused(f, "[Manager]\nDefaultVCPUs=8\nMaxVCPUs=4\n", NULL);
        assert_refused(f, "[Manager]\nMaxVCPUs=4\nDefaultVCPUs=5\n", NULL);
        assert_refused(f, "[Manager]\nDefaultMemoryMiB=4096\nMaxMemoryMiB=4095\n", NULL);
}

static void test_workspace_relative(Fixture *f, gconstpointer data) {
        static const char *const dirs[] = { "srv/ws", "./ws", "ws", "~/ws", "../ws", "", "$HOME/ws" };

        for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
                g_autofree char *text = g_strdup_printf("[Manager]\nWorkspaceBaseDir=%s\n", dirs[i]);
                assert_refused(f, text, "WorkspaceBaseDir");
        }
}

static void test_workspace_root(Fixture *f, gconstpointer data) {
        static const char *const dirs[] = {
                "/", "//", "///", "////", "/.", "/./", "/..", "/../..", "/srv/..", "/srv/../",
                "/srv/ws/../..", "//srv/..", "/./././",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
                g_autofree char *text = g_strdup_printf("[Manager]\nWorkspaceBaseDir=%s\n", dirs[i]);
                assert_refused(f, text, "WorkspaceBaseDir");
        }
}

static void test_workspace_canonicalized(Fixture *f, gconstpointer data) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "/srv//ws/", "/srv/ws" },
                { "/srv/ws/", "/srv/ws" },
                { "/srv/./ws", "/srv/ws" },
                { "/srv/x/../ws", "/srv/ws" },
                { "/srv/ws/.", "/srv/ws" },
                { "///srv///ws///", "/srv/ws" },
                { "//srv/ws", "/srv/ws" },
                { "/srv/my workspaces", "/srv/my workspaces" },
                { "/srv/w\xc3\xa9", "/srv/w\xc3\xa9" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autofree char *text = g_strdup_printf("[Manager]\nWorkspaceBaseDir=%s\n", cases[i].in);
                g_autoptr(MvmConfig) c = load_text(f, text, &error);

                g_assert_no_error(error);
                if (g_strcmp0(c->workspace_base_dir, cases[i].out) != 0) {
                        g_test_message("WorkspaceBaseDir=%s: expected %s, got %s", cases[i].in,
                                       cases[i].out, c->workspace_base_dir);
                        g_test_fail();
                }
        }
}

/* A file that exists but cannot be read or parsed is an error, never the defaults. */
static void test_unreadable(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmConfig) c = NULL;

        g_assert_cmpint(g_mkdir(f->path, 0755), ==, 0);
        c = mvm_config_load(f->path, &error);
        g_assert_null(c);
        g_assert_nonnull(error);
        g_assert_true(error->domain == MVM_CONFIG_ERROR);
        g_assert_nonnull(strstr(error->message, f->path));
        g_assert_cmpint(g_rmdir(f->path), ==, 0);
}

static void test_not_a_key_file(Fixture *f, gconstpointer data) {
        assert_refused(f, "this is not a key file\n", NULL);
        assert_refused(f, "DefaultVCPUs=4\n", NULL);               /* key before any group */
        assert_refused(f, "[Manager\nDefaultVCPUs=4\n", NULL);
        assert_refused(f, "{\"DefaultVCPUs\": 4}\n", NULL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        g_test_add_func("/config/builtin-defaults", test_builtin_defaults);
        ADD("/config/missing-file", test_missing_file);
        ADD("/config/empty-files", test_empty_files);
        ADD("/config/documented-example", test_documented_example);
        ADD("/config/override-all", test_override_all);
        ADD("/config/override-each", test_override_each);
        ADD("/config/edge-values", test_edge_values);
        ADD("/config/unknown-group", test_unknown_group);
        ADD("/config/guest-hypervisor-network", test_guest_hypervisor_network);
        ADD("/config/guest-hypervisor-network-refused", test_guest_hypervisor_network_refused);
        ADD("/config/egress-keys", test_egress_keys);
        ADD("/config/default-credentials-directory", test_default_credentials_directory);
        ADD("/config/unknown-key", test_unknown_key);
        ADD("/config/bad-numbers", test_bad_numbers);
        ADD("/config/defaults-above-max", test_defaults_above_max);
        ADD("/config/workspace-relative", test_workspace_relative);
        ADD("/config/workspace-root", test_workspace_root);
        ADD("/config/workspace-canonicalized", test_workspace_canonicalized);
        ADD("/config/unreadable", test_unreadable);
        ADD("/config/not-a-key-file", test_not_a_key_file);
#undef ADD

        return g_test_run();
}
