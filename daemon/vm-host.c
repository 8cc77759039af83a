/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a VM needs on the host while it runs, and the one teardown of it: the runtime
 * directory, its own kernel or initramfs copied with its owner's rights, the shares, the
 * tap with its firewall rules, the guest's command line. */
#include "vm-host.h"
#include "config.h"
#include "fs-util.h"
#include "guest-channel.h"
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-net.h"
#include "network.h"
#include "systemd-client.h"
#include "vm-runtime.h"
#include "vm.h"
#include "volume.h"

#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

/* The SSH host keys reach the guest inside the workspace share (WORKSPACE/ssh-host-keys).
 * A credentials directory (a path its owner controls) is shared only by the Rust
 * virtiofsd, which runs as the owner; see README ("Shares"). */
const char *const vm_share_tags[VM_N_SHARE_TAGS] = { "workspace", "software", "credentials" };

void share_set_clear(ShareSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                g_free(s->items[i].source);
                g_free(s->items[i].socket);
        }
        s->n = 0;
}

char *vm_runtime_dir(const char *name) {
        return g_build_filename(MICROVM_RUNTIME_DIR, name, NULL);
}

bool vm_host_file_exists(const char *path) {
        struct stat st;
        return path && stat(path, &st) >= 0 && S_ISREG(st.st_mode);
}

/* [Hypervisor] KVM=: auto uses /dev/kvm where it exists; no never does (for hosts whose
 * /dev/kvm does not work); yes requires it. */
bool vm_host_kvm_available(const MvmConfig *c) {
        if (strcmp(c->kvm, "no") == 0)
                return false;
        return access("/dev/kvm", F_OK) >= 0;
}

const char *share_set_source(const ShareSet *s, const char *tag) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->items[i].tag, tag) == 0)
                        return s->items[i].source;
        g_assert_not_reached();
}

void vm_host_build_shares(Manager *m, const Vm *vm, const char *runtime_dir, ShareSet *s) {
        const char *software = m->config->software_share;
        struct stat st;

        if (strcmp(software, "auto") == 0)
                software = stat("/nix/store", &st) >= 0 && S_ISDIR(st.st_mode) ? "/nix/store" : "/usr";

        /* The workspace's path cannot be swapped by its owner: its parent is root's. */
        s->items[s->n++] = (VmShare) {
                .tag = "workspace",
                .source = g_strdup(vm->def->workspace),
                .read_only = false,
                .socket = g_strdup_printf("%s/fs-workspace.sock", runtime_dir),
        };
        s->items[s->n++] = (VmShare) {
                .tag = "software",
                .source = g_strdup(software),
                .read_only = true,
                .socket = g_strdup_printf("%s/fs-software.sock", runtime_dir),
        };
        /* Checked as the owner at the start; its virtiofsd runs as the owner. */
        if (vm->def->credentials_directory)
                s->items[s->n++] = (VmShare) {
                        .tag = "credentials",
                        .source = g_strdup(vm->def->credentials_directory),
                        .read_only = false,
                        .socket = g_strdup_printf("%s/fs-credentials.sock", runtime_dir),
                };
}

static bool vm_has_network(const Vm *vm) {
        return vm->state != VM_STATE_STOPPED && vm->state != VM_STATE_FAILED && vm->tap && vm->def->ip_address &&
               vm->def->mac_address;
}

/* The VMs whose network is in place, but vm's: their rules and neighbour entries, which
 * the network worker restores when it rebuilt the tables. Borrowed strings. */
static GArray *running_vms(Manager *m, const Vm *except) {
        GArray *a = g_array_new(FALSE, FALSE, sizeof(FirewallVm));
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;
                FirewallVm f;

                if (vm == except || !vm_has_network(vm))
                        continue;
                f = (FirewallVm) { .tap = vm->tap, .ip = vm->def->ip_address, .mac = vm->def->mac_address,
                                   .egress = vm_egress(vm) };
                g_array_append_val(a, f);
        }
        return a;
}

/* Asks the network worker for the network (bridge, tables) if it is not up, then the VM's
 * tap and rules. vm_start() checked that its address is one of the configured subnet
 * (which may have changed since it was created). */
int vm_host_network_up(Vm *vm, uid_t vmm_uid, NetworkJobDone done, void *userdata, char **ret_tap,
                       NetworkJob **ret_job, sd_bus_error *error) {
        Manager *m = vm->manager;
        g_autoptr(GArray) running = NULL;
        g_autofree char *tap = NULL;
        uint32_t a;

        if (mvm_ipv4_parse(vm->def->ip_address, &a) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "VM '%s' has no valid address.", vm->def->name);
        tap = mvm_tap_name(&m->subnet, a);
        running = running_vms(m, vm);
        *ret_job = network_worker_vm_up(m->network_worker, vmm_uid,
                                        &(FirewallVm) { .tap = tap, .ip = vm->def->ip_address,
                                                        .mac = vm->def->mac_address, .egress = vm_egress(vm) },
                                        (const FirewallVm *) running->data, running->len, done, userdata);
        *ret_tap = g_steal_pointer(&tap);
        return 0;
}

/* The tables were (re)built at start-up: the VMs that still run get their rules back.
 * Until then their taps are shut, never open. Only while the network worker is idle. */
void vm_runtime_restore_firewall(Manager *m) {
        g_autoptr(GArray) running = running_vms(m, NULL);

        for (guint i = 0; i < running->len; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                const FirewallVm *f = &g_array_index(running, FirewallVm, i);

                if (network_vm_add(&m->network, f, &error) < 0)
                        log_error("Cannot restore the firewall rules of the VM on %s: %s", f->tap, error.message);
        }
}

/* The network settings for the guest, on its kernel command line (microvmd's own
 * parameters: the guest configures itself, no DHCP server is needed). */
static char *guest_network_cmdline(const Vm *vm) {
        Manager *m = vm->manager;
        g_auto(GStrv) dns = network_guest_dns(m->config);
        g_autofree char *gw = mvm_ipv4_to_string(mvm_subnet_gateway(&m->subnet));
        g_autofree char *dns_list = g_strjoinv(",", dns);

        return g_strdup_printf("microvm.ip=%s/%u microvm.gateway=%s microvm.mac=%s%s%s", vm->def->ip_address,
                               m->subnet.prefix, gw, vm->def->mac_address, dns_list[0] ? " microvm.dns=" : "",
                               dns_list);
}

/* The owner, so the guest has the same user with the same uid and gid as the host
 * (files in the workspace share keep their owner). NULL if the user is gone. */
static char *guest_owner_cmdline(const Vm *vm) {
        struct passwd *pw = getpwuid(vm->def->owner);

        if (!pw)
                return NULL;
        return g_strdup_printf("microvm.user=%s:%u:%u", pw->pw_name, (unsigned) pw->pw_uid, (unsigned) pw->pw_gid);
}

/* After a VM's unit is gone: its tap, and the network if nothing else runs. */
void vm_host_network_down(Vm *vm, bool keep_network) {
        Manager *m = vm->manager;

        /* A restart keeps the bridge and the tables: tearing them down for the seconds
         * until the same VM is back would only cost time (its start releases them if it
         * fails). The worker releases them only if they are up. */
        network_worker_vm_down(m->network_worker, vm->tap, vm->def->ip_address,
                               !keep_network && !manager_any_vm_active(m));
        g_clear_pointer(&vm->tap, g_free);
        g_clear_pointer(&vm->share_server, g_free);
}

/* A VM's own kernel or initramfs (CreateWorkspace options), read with its owner's rights
 * and copied into the runtime directory for the hypervisor: never a file the owner could
 * not read (another VM's volume, root's files), whatever root or a hypervisor can. */
int vm_host_copy_boot_override(const VmOwner *owner, uid_t vmm_uid, const char *runtime_dir, const char *path,
                               const char *what, const char *copy_name, char **ret_copy, sd_bus_error *error) {
        _cleanup_close_ int fd = -1, dir = -1;
        int r;

        if (!path)
                return 0;
        r = open_regular_as_user(path, owner->uid, owner->gid, &fd);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_KERNEL_NOT_FOUND,
                                         "The VM's own %s %s cannot be read by its owner %s: %s.", what, path,
                                         owner->name, r == -EINVAL ? "not a regular file" : strerror(-r));
        dir = open_dir_at(AT_FDCWD, runtime_dir);
        r = dir < 0 ? dir : copy_fd_to_new_file_at(fd, dir, copy_name, 0400, vmm_uid, vmm_uid);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot copy the VM's own %s %s: %s", what, path,
                                         strerror(-r));
        *ret_copy = g_build_filename(runtime_dir, copy_name, NULL);
        return 0;
}

int vm_host_runtime_dir_create(const char *name, uid_t owner, sd_bus_error *error) {
        _cleanup_close_ int base_fd = -1;
        int r;

        base_fd = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        if (base_fd == -ENOENT) {
                if (mkdir(MICROVM_RUNTIME_DIR, 0755) < 0 && errno != EEXIST)
                        return sd_bus_error_set_errnof(error, errno, "Cannot create " MICROVM_RUNTIME_DIR ": %m");
                base_fd = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        }
        if (base_fd < 0)
                return sd_bus_error_set_errnof(error, -base_fd, "Cannot open " MICROVM_RUNTIME_DIR ": %s",
                                               strerror(-base_fd));
        /* Left over from a crash: nothing in it is worth keeping. */
        (void) rm_rf_at(base_fd, name);
        if (mkdirat(base_fd, name, 0700) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot create the runtime directory: %m");
        /* The hypervisor creates its sockets here; PID 1 creates the virtiofs ones. */
        if (fchownat(base_fd, name, owner, owner, AT_SYMLINK_NOFOLLOW) < 0) {
                r = -errno;
                (void) unlinkat(base_fd, name, AT_REMOVEDIR);
                return sd_bus_error_set_errnof(error, -r, "Cannot hand the runtime directory to uid %u: %s",
                                               (unsigned) owner, strerror(-r));
        }
        return 0;
}

/* In two steps: renamed out of the way at once (a start of the same VM right after
 * finds its name free), then removed in a worker thread. The hypervisor, as the VM's
 * uid, may have filled it with any number of files. */
void vm_host_runtime_dir_remove(const char *name) {
        _cleanup_close_ int base_fd = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        g_autofree char *detached = NULL, *what = NULL;
        char suffix[9];
        int r;

        if (base_fd < 0)
                return;
        random_suffix(suffix, sizeof(suffix));
        detached = g_strdup_printf("%s%s-%s", RUNTIME_REMOVING_PREFIX, name, suffix);
        if (renameat2(base_fd, name, base_fd, detached, RENAME_NOREPLACE) >= 0) {
                what = g_strdup_printf("%s/%s", MICROVM_RUNTIME_DIR, detached);
                rm_rf_at_async(base_fd, detached, what, NULL);
                return;
        }
        if (errno == ENOENT)
                return;
        r = rm_rf_at(base_fd, name); /* cannot set it aside: at once, then */
        if (r < 0)
                log_warning("Cannot remove %s/%s: %s", MICROVM_RUNTIME_DIR, name, strerror(-r));
}

void vm_host_runtime_removing_clean(void) {
        _cleanup_close_ int base_fd = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        g_autoptr(GHashTable) names = NULL;
        GHashTableIter it;
        gpointer name;

        /* What a crash or an exit left half removed. */
        if (base_fd < 0 || dir_entry_names(MICROVM_RUNTIME_DIR, &names) < 0)
                return;
        g_hash_table_iter_init(&it, names);
        while (g_hash_table_iter_next(&it, &name, NULL))
                if (g_str_has_prefix(name, RUNTIME_REMOVING_PREFIX)) {
                        g_autofree char *what = g_strdup_printf("%s/%s", MICROVM_RUNTIME_DIR, (char *) name);
                        rm_rf_at_async(base_fd, name, what, NULL);
                }
}

/* A no-op stop of a unit that may not exist: its error is expected. */
static void on_share_unit_stopped(int r, const sd_bus_error *error, void *userdata) {
}

void vm_host_stop_share_units(Manager *m, const char *name, GHashTable *loaded) {
        static const char *const suffixes[] = { "socket", "service" };

        for (size_t i = 0; i < VM_N_SHARE_TAGS; i++)
                for (size_t k = 0; k < MVM_ELEMENTSOF(suffixes); k++) {
                        g_autofree char *unit = vm_share_unit_name(name, vm_share_tags[i], suffixes[k]);

                        if ((!loaded || g_hash_table_contains(loaded, unit)) &&
                            systemd_stop_unit_async(m->systemd, unit, on_share_unit_stopped, NULL, NULL) < 0)
                                log_warning("Cannot ask PID 1 to stop %s.", unit);
                }
}

char **vm_host_unit_names(const char *name) {
        static const char *const suffixes[] = { "socket", "service" };
        GPtrArray *units = g_ptr_array_new();

        g_ptr_array_add(units, vm_unit_name(name));
        for (size_t i = 0; i < VM_N_SHARE_TAGS; i++)
                for (size_t k = 0; k < MVM_ELEMENTSOF(suffixes); k++)
                        g_ptr_array_add(units, vm_share_unit_name(name, vm_share_tags[i], suffixes[k]));
        g_ptr_array_add(units, NULL);
        return (char **) g_ptr_array_free(units, FALSE);
}

char *vm_host_kernel_cmdline(const Vm *vm, const ShareSet *shares, const char *volume) {
        const MvmVmDef *def = vm->def;
        g_autofree char *net = guest_network_cmdline(vm), *owner = guest_owner_cmdline(vm);

        return g_strdup_printf("%s microvm.name=%s microvm.workspace=%s microvm.software=%s%s%s %s%s%s%s",
                               def->kernel_cmdline ?: vm->manager->config->kernel_cmdline, def->name, def->workspace,
                               share_set_source(shares, "software"), owner ? " " : "", owner ?: "", net,
                               volume ? " microvm.volume=" VOLUME_MOUNT_POINT : "",
                               def->credentials_directory ? " microvm.credentials=" : "",
                               def->credentials_directory ?: "");
}

void vm_host_teardown(Vm *vm, bool keep_network) {
        guest_channel_close(vm);
        vm_host_stop_share_units(vm->manager, vm->def->name, NULL);
        vm_host_runtime_dir_remove(vm->def->name);
        vm_host_network_down(vm, keep_network);
}
