/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "credentials.h"
#include "fs-util.h"
#include "guest-channel.h"
#include "hypervisor.h"
#include "user-limits.h"
#include "log.h"
#include "machined.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-name.h"
#include "mvm-net.h"
#include "network.h"
#include "vm-store.h"
#include "vm-ready.h"
#include "vm-runtime.h"
#include "vm.h"
#include "volume.h"
#include "workspace.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define SLICE "microvm.slice"
#define HYPERVISOR_ENV "MICROVM_HYPERVISOR="
#define SETPRIV "/usr/bin/setpriv"
#define CAP(c) (UINT64_C(1) << (c))
#define VIRTIOFSD_CAPABILITIES                                                                        \
        (CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_DAC_READ_SEARCH) | CAP(CAP_FOWNER) |        \
         CAP(CAP_FSETID) | CAP(CAP_SETGID) | CAP(CAP_SETUID) | CAP(CAP_SETPCAP) | CAP(CAP_SYS_ADMIN) | \
         CAP(CAP_SYS_RESOURCE))
/* One virtiofsd serves one share: its threads and open files grow with the guest's. */
#define VIRTIOFSD_MEMORY_MAX (UINT64_C(1) << 30)
#define VIRTIOFSD_TASKS_MAX 256u
#define VIRTIOFSD_NOFILE 1048576u
#define HYPERVISOR_START_TIMEOUT_USEC (60 * G_USEC_PER_SEC)
#define HYPERVISOR_STOP_TIMEOUT_USEC (30 * G_USEC_PER_SEC)
/* Guest RAM is counted in the unit's cgroup; QEMU's TCG translation cache and device
 * emulation need room beyond it. */
#define HYPERVISOR_MEMORY_OVERHEAD_MIB 1536
/* What the guest prints: at info, at most this many lines per interval (journald scales
 * the burst up with the free disk space). */
#define GUEST_OUTPUT_LOG_LEVEL 6 /* LOG_INFO */
#define GUEST_OUTPUT_RATE_LIMIT_INTERVAL_USEC (10 * G_USEC_PER_SEC)
#define GUEST_OUTPUT_RATE_LIMIT_BURST 1000u

/* The SSH host keys reach the guest inside the workspace share (WORKSPACE/ssh-host-keys).
 * A credentials directory (a path its owner controls) is shared only by the Rust
 * virtiofsd, which runs as the owner; see README ("Shares"). */
static const char *const share_tags[] = { "workspace", "software", "credentials" };

typedef struct ShareSet {
        VmShare items[MVM_ELEMENTSOF(share_tags)];
        size_t n;
} ShareSet;

static void share_set_clear(ShareSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                g_free(s->items[i].source);
                g_free(s->items[i].socket);
        }
        s->n = 0;
}

static const char *const *vm_runtime_dir_base(void) {
        static const char *const base[] = { MICROVM_RUNTIME_DIR, NULL };
        return base;
}

static char *vm_runtime_dir(const char *name) {
        return g_build_filename(vm_runtime_dir_base()[0], name, NULL);
}

void vm_emit_changed(Vm *vm) {
        Manager *m = vm->manager;

        if (!m->bus)
                return;
        (void) sd_bus_emit_properties_changed(m->bus, vm->object_path, MVM_VM_INTERFACE, "State", "MainPID",
                                              "StartedAt", "Hypervisor", "FailureReason", "Autostart", "ShareServer", NULL);
}

static void vm_set_state(Vm *vm, VmState state) {
        VmState old = vm->state;

        vm->state = state;
        /* Ready follows the guest's sshd while the VM runs. */
        if (state == VM_STATE_RUNNING)
                vm_ready_watch_start(vm);
        else
                vm_ready_watch_stop(vm);
        /* machinectl lists the VMs that run (vm_finish() takes them off). */
        if (state == VM_STATE_RUNNING && old != VM_STATE_RUNNING)
                machined_register(vm->manager->bus, vm->def->name, vm->main_pid, vm->tap);
        vm_emit_changed(vm);
}

static void reply_all(GPtrArray *waiters, const sd_bus_error *error) {
        for (guint i = 0; i < waiters->len; i++) {
                sd_bus_message *call = waiters->pdata[i];
                if (error)
                        (void) sd_bus_reply_method_error(call, error);
                else
                        (void) sd_bus_reply_method_return(call, NULL);
        }
        g_ptr_array_set_size(waiters, 0);
}

static bool file_exists(const char *path) {
        struct stat st;
        return path && stat(path, &st) >= 0 && S_ISREG(st.st_mode);
}

/* [Hypervisor] KVM=: auto uses /dev/kvm where it exists; no never does (for hosts whose
 * /dev/kvm does not work); yes requires it. */
static bool kvm_available(const MvmConfig *c) {
        if (strcmp(c->kvm, "no") == 0)
                return false;
        return access("/dev/kvm", F_OK) >= 0;
}

const HypervisorBackend *vm_pick_backend(Vm *vm, sd_bus_error *error) {
        const MvmConfig *c = vm->manager->config;
        const char *choice = vm->def->hypervisor ?: c->default_hypervisor;
        const HypervisorBackend *b;

        if (strcmp(choice, MVM_HYPERVISOR_AUTO) == 0) {
                /* cloud-hypervisor is first choice where it can run at all. */
                if (access(c->cloud_hypervisor_path, X_OK) >= 0 && kvm_available(c))
                        return &hypervisor_cloud_hypervisor;
                choice = MVM_HYPERVISOR_QEMU;
        }
        b = hypervisor_from_name(choice);
        if (!b) {
                sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT, "Unknown hypervisor '%s'.", choice);
                return NULL;
        }
        return b;
}

static const char *backend_binary(Manager *m, const HypervisorBackend *b) {
        return b == &hypervisor_cloud_hypervisor ? m->config->cloud_hypervisor_path : m->config->qemu_path;
}

static const char *share_source(const ShareSet *s, const char *tag) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->items[i].tag, tag) == 0)
                        return s->items[i].source;
        g_assert_not_reached();
}

static void build_shares(Manager *m, Vm *vm, const char *runtime_dir, ShareSet *s) {
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

/* A tap joining a bridge without a MAC of its own may have flushed the neighbour
 * entries of the VMs already running. */
static void pin_running_neighbours(Manager *m) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;

                if (vm_has_network(vm) && network_vm_pin(m, vm->def->ip_address, vm->def->mac_address) < 0)
                        log_warning("Cannot pin the neighbour entry of VM %s.", vm->def->name);
        }
}

/* Brings the network up and the VM's tap. vm_start() checked that its address is one of
 * the configured subnet (which may have changed since it was created). */
static int vm_network_up(Vm *vm, uid_t vmm_uid, char **ret_tap, sd_bus_error *error) {
        Manager *m = vm->manager;
        g_autofree char *tap = NULL;
        uint32_t a;
        int r;

        if (mvm_ipv4_parse(vm->def->ip_address, &a) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "VM '%s' has no valid address.", vm->def->name);
        r = network_ensure(m, error);
        if (r < 0)
                return r;
        if (r > 0)
                vm_runtime_restore_firewall(m);
        tap = mvm_tap_name(&m->subnet, a);
        r = network_tap_add(m, tap, vmm_uid, error);
        if (r < 0)
                return r;
        r = network_vm_add(m, &(FirewallVm) { .tap = tap, .ip = vm->def->ip_address, .mac = vm->def->mac_address,
                                              .egress = vm_egress(vm) }, error);
        if (r < 0) {
                network_vm_remove(m, tap, vm->def->ip_address);
                network_tap_remove(m, tap);
                return r;
        }
        pin_running_neighbours(m);
        *ret_tap = g_steal_pointer(&tap);
        return 0;
}

/* The tables were (re)built: the VMs that still run get their rules back. Until then
 * their taps are shut, never open. */
void vm_runtime_restore_firewall(Manager *m) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                if (!vm_has_network(vm))
                        continue;
                if (network_vm_add(m, &(FirewallVm) { .tap = vm->tap, .ip = vm->def->ip_address,
                                                      .mac = vm->def->mac_address, .egress = vm_egress(vm) },
                                   &error) < 0)
                        log_error("Cannot restore the firewall rules of VM %s: %s", vm->def->name, error.message);
        }
}

/* The network settings for the guest, on its kernel command line (microvmd's own
 * parameters: the guest configures itself, no DHCP server is needed). */
static char *guest_network_cmdline(Vm *vm) {
        Manager *m = vm->manager;
        g_auto(GStrv) dns = network_guest_dns(m);
        g_autofree char *gw = mvm_ipv4_to_string(mvm_subnet_gateway(&m->subnet));
        g_autofree char *dns_list = g_strjoinv(",", dns);

        return g_strdup_printf("microvm.ip=%s/%u microvm.gateway=%s microvm.mac=%s%s%s", vm->def->ip_address,
                               m->subnet.prefix, gw, vm->def->mac_address, dns_list[0] ? " microvm.dns=" : "",
                               dns_list);
}

/* The owner, so the guest has the same user with the same uid and gid as the host
 * (files in the workspace share keep their owner). NULL if the user is gone. */
static char *guest_owner_cmdline(Vm *vm) {
        struct passwd *pw = getpwuid(vm->def->owner);

        if (!pw)
                return NULL;
        return g_strdup_printf("microvm.user=%s:%u:%u", pw->pw_name, (unsigned) pw->pw_uid, (unsigned) pw->pw_gid);
}

/* For a VM found running after a restart of microvmd: what serves its shares now (the
 * binary was not replaced in between, or its units would say otherwise). */
static void vm_describe_share_server(Vm *vm) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *owner = manager_user_name(vm->def->owner);
        const Virtiofsd *virtiofsd;

        if (manager_get_virtiofsd(vm->manager, &virtiofsd, &error) < 0)
                return;
        g_free(vm->share_server);
        vm->share_server = virtiofsd_describe(virtiofsd, owner);
}

/* After a VM's unit is gone: its tap, and the network if nothing else runs. */
static void vm_network_down(Vm *vm, bool keep_network) {
        Manager *m = vm->manager;

        if (vm->tap) {
                if (vm->def->ip_address)
                        network_vm_remove(m, vm->tap, vm->def->ip_address);
                network_tap_remove(m, vm->tap);
        }
        g_clear_pointer(&vm->tap, g_free);
        g_clear_pointer(&vm->share_server, g_free);
        /* A restart keeps the bridge and the tables: tearing them down for the seconds
         * until the same VM is back would only cost time (its start releases them if it
         * fails). */
        if (!keep_network && m->network_up && !manager_any_vm_active(m))
                network_release(m);
}

/* A VM's own kernel or initramfs (CreateWorkspace options), read with its owner's rights
 * and copied into the runtime directory for the hypervisor: never a file the owner could
 * not read (another VM's volume, root's files), whatever root or a hypervisor can. */
static int copy_boot_override(Vm *vm, uid_t vmm_uid, const char *runtime_dir, const char *path, const char *what,
                              const char *copy_name, char **ret_copy, sd_bus_error *error) {
        struct passwd *owner;
        _cleanup_close_ int fd = -1, dir = -1;
        g_autofree char *owner_name = NULL;
        int r;

        if (!path)
                return 0;
        owner_name = manager_user_name(vm->def->owner);
        owner = getpwuid(vm->def->owner);
        if (!owner)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "The user %s does not exist.", owner_name);
        r = open_regular_as_user(path, owner->pw_uid, owner->pw_gid, &fd);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_KERNEL_NOT_FOUND,
                                         "The VM's own %s %s cannot be read by its owner %s: %s.", what, path,
                                         owner_name, r == -EINVAL ? "not a regular file" : strerror(-r));
        dir = open_dir_at(AT_FDCWD, runtime_dir);
        r = dir < 0 ? dir : copy_fd_to_new_file_at(fd, dir, copy_name, 0400, vmm_uid, vmm_uid);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot copy the VM's own %s %s: %s", what, path,
                                         strerror(-r));
        *ret_copy = g_build_filename(runtime_dir, copy_name, NULL);
        return 0;
}

static int runtime_dir_create(const char *name, uid_t owner, sd_bus_error *error) {
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

static void runtime_dir_remove(const char *name) {
        _cleanup_close_ int base_fd = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        int r;

        if (base_fd < 0)
                return;
        r = rm_rf_at(base_fd, name);
        if (r < 0)
                log_warning("Cannot remove %s/%s: %s", MICROVM_RUNTIME_DIR, name, strerror(-r));
}

/* Stops every share unit of the VM, or only those in loaded (a set of unit names) when
 * it is not NULL; the missing ones are fine. */
static void stop_share_units(Manager *m, const char *name, GHashTable *loaded) {
        static const char *const suffixes[] = { "socket", "service" };

        for (size_t i = 0; i < MVM_ELEMENTSOF(share_tags); i++)
                for (size_t k = 0; k < MVM_ELEMENTSOF(suffixes); k++) {
                        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                        g_autofree char *unit = vm_share_unit_name(name, share_tags[i], suffixes[k]);

                        if (!loaded || g_hash_table_contains(loaded, unit))
                                (void) systemd_stop_unit(m, unit, &error);
                }
}

/* The units of the VM's last run must be gone before new ones of the same names are
 * created (a VM started right after it failed or stopped). */
static int wait_units_gone(Vm *vm, sd_bus_error *error) {
        g_autoptr(GPtrArray) units = g_ptr_array_new_with_free_func(g_free);
        static const char *const suffixes[] = { "socket", "service" };

        g_ptr_array_add(units, vm_unit_name(vm->def->name));
        for (size_t i = 0; i < MVM_ELEMENTSOF(share_tags); i++)
                for (size_t k = 0; k < MVM_ELEMENTSOF(suffixes); k++)
                        g_ptr_array_add(units, vm_share_unit_name(vm->def->name, share_tags[i], suffixes[k]));
        /* One deadline for all of them: a stuck VM must not block microvmd for long. */
        uint64_t deadline = (uint64_t) g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        for (guint i = 0; i < units->len; i++) {
                uint64_t now = (uint64_t) g_get_monotonic_time();
                int r = systemd_wait_unit_gone(vm->manager, units->pdata[i], now < deadline ? deadline - now : 0);
                if (r == -EBUSY)
                        return sd_bus_error_setf(error, MVM_ERROR_BUSY,
                                                 "The unit %s of VM '%s' is still running; stop it first.",
                                                 (char *) units->pdata[i], vm->def->name);
                if (r < 0)
                        return sd_bus_error_setf(error, MVM_ERROR_BUSY,
                                                 "The unit %s of VM '%s' is still shutting down; try again.",
                                                 (char *) units->pdata[i], vm->def->name);
        }
        return 0;
}

typedef struct ShareUnitData {
        Vm *vm;
        const VmShare *share;
        const char *hypervisor_unit;
        uid_t vmm_uid;          /* the VM's hypervisor: the only one that may connect */
        const Virtiofsd *virtiofsd;
        const char *owner_name; /* runs the Rust virtiofsd */
} ShareUnitData;

static int unit_property_u32(sd_bus_message *msg, const char *name, uint32_t value) {
        return sd_bus_message_append(msg, "(sv)", name, "u", value);
}

/* RestrictAddressFamilies= (bas): an allow list (or a deny list) of one family. */
static int unit_property_families(sd_bus_message *msg, bool allow, const char *family) {
        return sd_bus_message_append(msg, "(sv)", "RestrictAddressFamilies", "(bas)", allow, 1, family);
}

/* SystemCallFilter= (bas): an allow list (or a deny list) of one set. */
static int unit_property_syscall_filter(sd_bus_message *msg, bool allow, const char *set) {
        return sd_bus_message_append(msg, "(sv)", "SystemCallFilter", "(bas)", allow, 1, set);
}

/* What a hypervisor never needs, so that an escaped one has less to work with: other
 * processes (it sees only its own), IPC, the clock, namespaces, foreign syscall ABIs and
 * IP (its network is the tap's file descriptor). MemoryDenyWriteExecute= cannot be set:
 * QEMU's TCG writes the code it runs. */
static int unit_property_isolation(sd_bus_message *msg, bool inet_ioctls) {
        static const uint8_t any4[4] = {}, any6[16] = {};
        char *native[] = { (char *) "native", NULL };
        int r;

        if ((r = unit_property_string(msg, "ProtectProc", "invisible")) < 0 ||
            (r = unit_property_bool(msg, "PrivateIPC", true)) < 0 ||
            (r = unit_property_u32(msg, "UMask", 0077)) < 0 ||
            /* Its sockets are unix ones; the tap is a file descriptor. cloud-hypervisor
             * also opens an IP socket to bring the tap up by ioctl (nothing it could send
             * on it gets out: IPAddressDeny=any). */
            (r = unit_property_families(msg, true, "AF_UNIX")) < 0 ||
            (inet_ioctls && (r = unit_property_families(msg, true, "AF_INET")) < 0) ||
            (inet_ioctls && (r = unit_property_families(msg, true, "AF_INET6")) < 0) ||
            /* The usual set of a service (setpriv needs its setuid calls); what is left out
             * fails with EPERM instead of killing the hypervisor. */
            (r = unit_property_syscall_filter(msg, true, "@system-service")) < 0 ||
            (r = sd_bus_message_append(msg, "(sv)", "SystemCallErrorNumber", "i", EPERM)) < 0 ||
            (r = unit_property_bool(msg, "ProtectClock", true)) < 0 ||
            (r = unit_property_u64(msg, "RestrictNamespaces", 0)) < 0 ||
            (r = unit_property_strv(msg, "SystemCallArchitectures", native)) < 0 ||
            (r = sd_bus_message_open_container(msg, 'r', "sv")) < 0 ||
            (r = sd_bus_message_append(msg, "s", "IPAddressDeny")) < 0 ||
            (r = sd_bus_message_open_container(msg, 'v', "a(iayu)")) < 0 ||
            (r = sd_bus_message_open_container(msg, 'a', "(iayu)")) < 0 ||
            (r = sd_bus_message_open_container(msg, 'r', "iayu")) < 0 ||
            (r = sd_bus_message_append(msg, "i", AF_INET)) < 0 ||
            (r = sd_bus_message_append_array(msg, 'y', any4, sizeof(any4))) < 0 ||
            (r = sd_bus_message_append(msg, "u", 0)) < 0 ||
            (r = sd_bus_message_close_container(msg)) < 0 ||
            (r = sd_bus_message_open_container(msg, 'r', "iayu")) < 0 ||
            (r = sd_bus_message_append(msg, "i", AF_INET6)) < 0 ||
            (r = sd_bus_message_append_array(msg, 'y', any6, sizeof(any6))) < 0 ||
            (r = sd_bus_message_append(msg, "u", 0)) < 0 ||
            (r = sd_bus_message_close_container(msg)) < 0 ||
            (r = sd_bus_message_close_container(msg)) < 0 ||
            (r = sd_bus_message_close_container(msg)) < 0 ||
            (r = sd_bus_message_close_container(msg)) < 0)
                return r;
        return 0;
}

/* The serial console is the hypervisor's standard output, written by the guest: it is
 * logged as it is, never with a level the guest chose ("<0>" would be an emergency that
 * journald sends to every terminal), and a guest writing as fast as it can is cut off
 * by journald's rate limit for the unit instead of flooding the journal. */
static int unit_property_guest_output(sd_bus_message *msg) {
        int r;

        if ((r = unit_property_bool(msg, "SyslogLevelPrefix", false)) < 0 ||
            (r = sd_bus_message_append(msg, "(sv)", "SyslogLevel", "i", GUEST_OUTPUT_LOG_LEVEL)) < 0 ||
            (r = unit_property_u64(msg, "LogRateLimitIntervalUSec", GUEST_OUTPUT_RATE_LIMIT_INTERVAL_USEC)) < 0 ||
            (r = sd_bus_message_append(msg, "(sv)", "LogRateLimitBurst", "u", GUEST_OUTPUT_RATE_LIMIT_BURST)) < 0)
                return r;
        return 0;
}

static int append_common_service_properties(sd_bus_message *msg, const char *hypervisor_unit) {
        char *part_of[] = { (char *) hypervisor_unit, NULL };
        int r;

        if ((r = unit_property_string(msg, "Slice", SLICE)) < 0 ||
            (r = unit_property_string(msg, "CollectMode", "inactive-or-failed")) < 0 ||
            (r = unit_property_strv(msg, "PartOf", part_of)) < 0 ||
            (r = unit_property_string(msg, "ProtectSystem", "strict")) < 0 ||
            (r = unit_property_bool(msg, "PrivateTmp", true)) < 0 ||
            (r = unit_property_bool(msg, "NoNewPrivileges", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectKernelTunables", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectKernelModules", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectKernelLogs", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectControlGroups", true)) < 0 ||
            (r = unit_property_bool(msg, "RestrictSUIDSGID", true)) < 0 ||
            (r = unit_property_bool(msg, "LockPersonality", true)) < 0 ||
            (r = unit_property_bool(msg, "RestrictRealtime", true)) < 0 ||
            (r = unit_property_guest_output(msg)) < 0)
                return r;
        return 0;
}

static int build_share_socket_unit(sd_bus_message *msg, void *data) {
        ShareUnitData *d = data;
        g_autofree char *description = g_strdup_printf("microVM %s: virtiofs socket of share %s",
                                                       d->vm->def->name, d->share->tag);
        char *part_of[] = { (char *) d->hypervisor_unit, NULL };
        int r;

        if ((r = unit_property_string(msg, "Description", description)) < 0 ||
            (r = sd_bus_message_append(msg, "(sv)", "Listen", "a(ss)", 1, "Stream", d->share->socket)) < 0 ||
            /* Only this VM's hypervisor may connect: the socket is in its runtime directory,
             * which no other uid can enter (PID 1 cannot make it owned by a uid without a
             * user database entry). */
            (r = sd_bus_message_append(msg, "(sv)", "SocketMode", "u", 0666)) < 0 ||
            (r = unit_property_bool(msg, "RemoveOnStop", true)) < 0 ||
            (r = unit_property_string(msg, "CollectMode", "inactive-or-failed")) < 0 ||
            (r = unit_property_strv(msg, "PartOf", part_of)) < 0)
                return r;
        return 0;
}

/* Who runs a share's virtiofsd. QEMU's C virtiofsd runs as root with the capabilities
 * it uses: file ownership and permissions on the guest's behalf, its namespace sandbox
 * (SYS_ADMIN), dropping its own capabilities (SETPCAP) and the file limit. The Rust
 * virtiofsd runs as the VM's owner, with the owner's groups and no capabilities (it gets
 * those of a user namespace of its own for its sandbox): the guest can do in a share at
 * most what the owner could on the host. */
static int append_virtiofsd_identity(sd_bus_message *msg, const Virtiofsd *virtiofsd, const char *owner) {
        int r;

        if (!virtiofsd_runs_as_owner(virtiofsd)) {
                if ((r = unit_property_u64(msg, "CapabilityBoundingSet", VIRTIOFSD_CAPABILITIES)) < 0 ||
                    (r = unit_property_string(msg, "ProtectProc", "invisible")) < 0)
                        return r;
                return 0;
        }
        if ((r = unit_property_string(msg, "User", owner)) < 0 ||
            (r = unit_property_u64(msg, "CapabilityBoundingSet", 0)) < 0)
                return r;
        return 0;
}

static int build_share_service_unit(sd_bus_message *msg, void *data) {
        ShareUnitData *d = data;
        g_autofree char *description = g_strdup_printf("microVM %s: virtiofsd for share %s", d->vm->def->name,
                                                       d->share->tag);
        /* It pivots into the share in namespaces of its own and gets the listening socket
         * from PID 1 (socket activation). */
        g_auto(GStrv) argv = virtiofsd_argv(d->virtiofsd, d->share->source, d->share->read_only);
        char *native[] = { (char *) "native", NULL };
        char *paths[] = { d->share->source, NULL };
        /* Only a credentials directory served with its owner's rights may lie in a home. */
        bool home = virtiofsd_runs_as_owner(d->virtiofsd) && strcmp(d->share->tag, "credentials") == 0;
        int r;

        if ((r = unit_property_string(msg, "Description", description)) < 0 ||
            (r = unit_property_exec(msg, "ExecStart", argv)) < 0 ||
            (r = append_virtiofsd_identity(msg, d->virtiofsd, d->owner_name)) < 0 ||
            (r = unit_property_string(msg, "ProtectHome", home ? "no" : "yes")) < 0 ||
            /* Read-only shares are read-only here, on the host, not only by the guest's
             * mount (and the Rust virtiofsd refuses writes itself: --readonly). */
            (r = unit_property_strv(msg, d->share->read_only ? "ReadOnlyPaths" : "ReadWritePaths", paths)) < 0 ||
            (r = unit_property_bool(msg, "PrivateNetwork", true)) < 0 ||
            (r = unit_property_bool(msg, "PrivateDevices", true)) < 0 ||
            /* It ends by itself when the hypervisor goes; a stop must not linger. */
            (r = unit_property_u64(msg, "TimeoutStopUSec", 5 * G_USEC_PER_SEC)) < 0 ||
            (r = unit_property_families(msg, true, "AF_UNIX")) < 0 ||
            (r = unit_property_strv(msg, "SystemCallArchitectures", native)) < 0 ||
            (r = unit_property_bool(msg, "MemoryDenyWriteExecute", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectClock", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectHostname", true)) < 0 ||
            (r = unit_property_bool(msg, "PrivateIPC", true)) < 0 ||
            (r = unit_property_u64(msg, "MemoryMax", VIRTIOFSD_MEMORY_MAX)) < 0 ||
            (r = unit_property_u64(msg, "TasksMax", VIRTIOFSD_TASKS_MAX)) < 0 ||
            (r = unit_property_u64(msg, "LimitNOFILE", VIRTIOFSD_NOFILE)) < 0 ||
            (r = unit_property_u64(msg, "LimitNOFILESoft", VIRTIOFSD_NOFILE)) < 0 ||
            (r = append_common_service_properties(msg, d->hypervisor_unit)) < 0)
                return r;
        return 0;
}

/* A socket unit with its service as the auxiliary unit, in one call. */
static int start_share_units(Manager *m, ShareUnitData *d, sd_bus_error *error) {
        g_autofree char *socket_unit = vm_share_unit_name(d->vm->def->name, d->share->tag, "socket");
        g_autofree char *service_unit = vm_share_unit_name(d->vm->def->name, d->share->tag, "service");

        return systemd_start_transient_unit_with_aux(m, socket_unit, build_share_socket_unit, service_unit,
                                                     build_share_service_unit, d, NULL, NULL, error);
}

/* The hypervisor's command line, run by setpriv as the VM's own uid and gid (and the group
 * kvm, for /dev/kvm, root:kvm 0660): systemd's User= needs a user database entry, which
 * these uids do not have. The uid change drops every capability. */
static GPtrArray *hypervisor_exec_argv(uid_t uid, char **argv) {
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
        struct group *kvm = getgrnam("kvm");

        g_ptr_array_add(a, g_strdup(SETPRIV));
        g_ptr_array_add(a, g_strdup_printf("--reuid=%u", (unsigned) uid));
        g_ptr_array_add(a, g_strdup_printf("--regid=%u", (unsigned) uid));
        g_ptr_array_add(a, kvm ? g_strdup_printf("--groups=%u", (unsigned) kvm->gr_gid) : g_strdup("--clear-groups"));
        g_ptr_array_add(a, g_strdup("--inh-caps=-all"));
        g_ptr_array_add(a, g_strdup("--"));
        for (char **p = argv; p && *p; p++)
                g_ptr_array_add(a, g_strdup(*p));
        g_ptr_array_add(a, NULL);
        return a;
}

typedef struct HypervisorUnitData {
        Vm *vm;
        const HypervisorBackend *backend;
        char **argv;
        const char *runtime_dir;
        const ShareSet *shares;
        const char *volume;
        uid_t vmm_uid;
} HypervisorUnitData;

static int build_hypervisor_unit(sd_bus_message *msg, void *data) {
        HypervisorUnitData *d = data;
        const MvmVmDef *def = d->vm->def;
        g_autofree char *description = g_strdup_printf("microVM %s (%s)", def->name, d->backend->name);
        g_autofree char *control = g_strdup_printf("%s/%s", d->runtime_dir, d->backend->control_socket);
        g_autofree char *env = g_strdup_printf(HYPERVISOR_ENV "%s", d->backend->name);
        g_autoptr(GPtrArray) deps = g_ptr_array_new_with_free_func(g_free);
        /* Type=exec returns once the hypervisor runs; this returns once it listens. The
         * path is plain (VM names are [a-z0-9-]) and the script has no "$" or ";": PID 1
         * writes it to the transient unit file and reads it back on reload. */
        g_autofree char *wait_script = g_strdup_printf("while [ ! -S %s ]\ndo sleep 0.1\ndone", control);
        char *wait_argv[] = { (char *) "/bin/sh", (char *) "-c", wait_script, NULL };
        /* As the VM's uid too: root here has no capability to look into its directory. */
        g_autoptr(GPtrArray) wait_exec = hypervisor_exec_argv(d->vmm_uid, wait_argv);
        char *envv[] = { env, NULL };
        char *rw[] = { (char *) d->runtime_dir, (char *) d->volume, NULL };
        g_autoptr(GPtrArray) exec = hypervisor_exec_argv(d->vmm_uid, d->argv);
        int r;

        for (size_t i = 0; i < d->shares->n; i++)
                g_ptr_array_add(deps, vm_share_unit_name(def->name, d->shares->items[i].tag, "socket"));
        g_ptr_array_add(deps, NULL);

        if ((r = unit_property_string(msg, "Description", description)) < 0 ||
            (r = unit_property_string(msg, "Type", "exec")) < 0 ||
            (r = unit_property_exec(msg, "ExecStart", (char **) exec->pdata)) < 0 ||
            (r = unit_property_exec(msg, "ExecStartPost", (char **) wait_exec->pdata)) < 0 ||

            (r = unit_property_strv(msg, "Environment", envv)) < 0 ||
            (r = unit_property_strv(msg, "After", (char **) deps->pdata)) < 0 ||
            (r = unit_property_strv(msg, "BindsTo", (char **) deps->pdata)) < 0 ||
            (r = unit_property_string(msg, "Slice", SLICE)) < 0 ||
            (r = unit_property_string(msg, "CollectMode", "inactive-or-failed")) < 0 ||
            (r = unit_property_u64(msg, "TimeoutStartUSec", HYPERVISOR_START_TIMEOUT_USEC)) < 0 ||
            (r = unit_property_u64(msg, "TimeoutStopUSec", HYPERVISOR_STOP_TIMEOUT_USEC)) < 0 ||
            (r = unit_property_u64(msg, "MemoryMax",
                                   (def->memory_mib + HYPERVISOR_MEMORY_OVERHEAD_MIB) * 1024 * 1024)) < 0 ||
            (r = unit_property_u64(msg, "TasksMax", 64 + 4 * (uint64_t) def->vcpus)) < 0 ||
            /* setpriv needs these two to become the VM's uid; the hypervisor then has none:
             * its devices and sockets are handed to it. */
            (r = unit_property_u64(msg, "CapabilityBoundingSet",
                                   (UINT64_C(1) << CAP_SETUID) | (UINT64_C(1) << CAP_SETGID))) < 0 ||
            (r = unit_property_string(msg, "ProtectSystem", "strict")) < 0 ||
            (r = unit_property_string(msg, "ProtectHome", "yes")) < 0 ||
            (r = unit_property_bool(msg, "PrivateTmp", true)) < 0 ||
            (r = unit_property_bool(msg, "NoNewPrivileges", true)) < 0 ||
            (r = unit_property_strv(msg, "ReadWritePaths", rw)) < 0 ||
            (r = unit_property_string(msg, "DevicePolicy", "closed")) < 0 ||
            (r = sd_bus_message_append(msg, "(sv)", "DeviceAllow", "a(ss)", 2, "/dev/kvm", "rw", "/dev/net/tun",
                                       "rw")) < 0 ||
            (r = unit_property_bool(msg, "ProtectKernelTunables", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectKernelModules", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectKernelLogs", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectControlGroups", true)) < 0 ||
            (r = unit_property_bool(msg, "ProtectHostname", true)) < 0 ||
            (r = unit_property_bool(msg, "RestrictSUIDSGID", true)) < 0 ||
            (r = unit_property_bool(msg, "RestrictRealtime", true)) < 0 ||
            (r = unit_property_bool(msg, "LockPersonality", true)) < 0 ||
            (r = unit_property_guest_output(msg)) < 0 ||
            (r = unit_property_isolation(msg, strcmp(d->backend->name, "cloud-hypervisor") == 0)) < 0)
                return r;
        return 0;
}

static void vm_finish(Vm *vm, VmState state, const char *reason);

static void on_start_job(Manager *m, const char *unit, const char *result, void *userdata) {
        Vm *vm = userdata;
        g_autofree char *reason = NULL;
        UnitStatus st = {};

        vm->start_job_pending = false;
        if (strcmp(result, "done") == 0) {
                if (vm->state != VM_STATE_STARTING)
                        return; /* PID 1's signals were faster */
                if (systemd_get_unit_status(m, unit, &st) >= 0) {
                        vm->main_pid = st.main_pid;
                        vm->started_at = st.active_enter_usec;
                        unit_status_clear(&st);
                }
                if (vm->started_at == 0)
                        vm->started_at = (uint64_t) g_get_real_time();
                log_info("VM %s is running (%s, PID %u).", vm->def->name, vm->backend->name, vm->main_pid);
                vm_set_state(vm, VM_STATE_RUNNING);
                reply_all(vm->start_waiters, NULL);
                return;
        }
        if (vm->state == VM_STATE_STOPPED || vm->state == VM_STATE_FAILED)
                return;
        if (vm->stop_requested) {
                vm_finish(vm, VM_STATE_STOPPED, NULL);
                return;
        }
        if (strcmp(result, "timeout") == 0)
                reason = g_strdup_printf("the hypervisor did not come up within %u s; see 'microvm-client logs %s'",
                                         (unsigned) (HYPERVISOR_START_TIMEOUT_USEC / G_USEC_PER_SEC), vm->def->name);
        else
                reason = g_strdup_printf("the hypervisor unit %s did not start (job %s, result %s); see "
                                         "'microvm-client logs %s'", unit, result, vm->unit_result ?: "unknown",
                                         vm->def->name);
        vm->start_timed_out = strcmp(result, "timeout") == 0;
        vm_finish(vm, VM_STATE_FAILED, reason);
}

int vm_start(Vm *vm, sd_bus_message *call, bool wait, sd_bus_error *error) {
        Manager *m = vm->manager;
        const MvmConfig *c = m->config;
        const MvmVmDef *def = vm->def;
        g_autofree char *runtime_dir = vm_runtime_dir(def->name);
        g_autofree char *unit = vm_unit_name(def->name);
        g_autofree char *cmdline = NULL, *net_cmdline = NULL, *tap = NULL, *owner_param = NULL, *volume = NULL;
        g_auto(GStrv) argv = NULL;
        _cleanup_(share_set_clear) ShareSet shares = {};
        const HypervisorBackend *backend;
        /* The config's, checked here; a VM's own are read as its owner once the runtime
         * directory exists (no existence oracle for root's view of the file system). */
        const char *kernel = c->kernel;
        const char *initramfs = c->initramfs;
        g_autofree char *own_kernel = NULL, *own_initramfs = NULL, *owner_name = NULL;
        const Virtiofsd *virtiofsd;
        struct passwd *owner;
        uid_t vmm_uid;
        int r;

        if (vm->state == VM_STATE_STARTING || vm->state == VM_STATE_RUNNING)
                return sd_bus_error_setf(error, MVM_ERROR_ALREADY_RUNNING, "VM '%s' is already %s.", def->name,
                                         vm_state_to_string(vm->state));
        if (vm->state == VM_STATE_STOPPING)
                return sd_bus_error_setf(error, MVM_ERROR_BUSY, "VM '%s' is stopping; try again when it has stopped.",
                                         def->name);

        r = limits_check_start(m, vm, error);
        if (r < 0)
                return r;
        /* The address gives the VM its identity and its tap. */
        if (!def->mac_address || vm_hypervisor_uid(vm, &vmm_uid) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "VM '%s' has no address in the subnet %s (created before networking or "
                                         "before the subnet changed); delete it and create it again.",
                                         def->name, c->subnet);
        backend = vm_pick_backend(vm, error);
        if (!backend)
                return -EINVAL;
        if (access(backend_binary(m, backend), X_OK) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_HYPERVISOR_NOT_FOUND, "%s not found at %s.", backend->name,
                                         backend_binary(m, backend));
        if (access(SETPRIV, X_OK) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_HYPERVISOR_NOT_FOUND,
                                         SETPRIV " (util-linux) not found: it starts the hypervisor as the VM's uid.");
        r = manager_get_virtiofsd(m, &virtiofsd, error);
        if (r < 0)
                return r;
        owner = getpwuid(def->owner);
        if (!owner)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "The owner of VM '%s' (uid %u) has no user "
                                         "database entry.", def->name, (unsigned) def->owner);
        owner_name = g_strdup(owner->pw_name);
        /* Again at every start: the owner may have replaced it since. */
        if (def->credentials_directory) {
                r = credentials_directory_check(virtiofsd, def->credentials_directory, def->owner, owner->pw_gid,
                                                error);
                if (r < 0)
                        return r;
        }
        if (backend->needs_kvm && !kvm_available(c))
                return sd_bus_error_setf(error, MVM_ERROR_NO_KVM, "%s needs KVM, %s; use the qemu hypervisor.",
                                         backend->name,
                                         strcmp(c->kvm, "no") == 0 ? "which [Hypervisor] KVM=no turns off" :
                                                                     "and this machine has no /dev/kvm");
        if (strcmp(c->kvm, "yes") == 0 && !kvm_available(c))
                return sd_bus_error_setf(error, MVM_ERROR_NO_KVM,
                                         "[Hypervisor] KVM=yes, but this machine has no /dev/kvm.");
        if (!def->kernel && !file_exists(kernel))
                return sd_bus_error_setf(error, MVM_ERROR_KERNEL_NOT_FOUND,
                                         "The guest kernel %s does not exist (set [Guest] Kernel= in %s).", kernel,
                                         MICROVM_CONFIG_FILE);
        if (!def->initramfs && initramfs && !file_exists(initramfs))
                return sd_bus_error_setf(error, MVM_ERROR_KERNEL_NOT_FOUND,
                                         "The guest initramfs %s does not exist (set [Guest] Initramfs= in %s).",
                                         initramfs, MICROVM_CONFIG_FILE);

        r = wait_units_gone(vm, error);
        if (r < 0)
                return r;
        r = runtime_dir_create(def->name, vmm_uid, error);
        if (r < 0)
                return r;
        r = copy_boot_override(vm, vmm_uid, runtime_dir, def->kernel, "kernel", "vmlinuz", &own_kernel, error);
        if (r >= 0)
                r = copy_boot_override(vm, vmm_uid, runtime_dir, def->initramfs, "initramfs", "initrd.img",
                                       &own_initramfs, error);
        if (r < 0)
                goto fail;
        if (own_kernel)
                kernel = own_kernel;
        if (own_initramfs)
                initramfs = own_initramfs;
        build_shares(m, vm, runtime_dir, &shares);
        if (def->volume_gib > 0) {
                volume = volume_path(def->name);
                r = volume_ensure(def->name, def->volume_gib, vmm_uid, vmm_uid);
                if (r < 0) {
                        sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot create the volume %s: %s", volume,
                                          strerror(-r));
                        goto fail;
                }
        }
        r = vm_network_up(vm, vmm_uid, &tap, error);
        if (r < 0)
                goto fail;

        net_cmdline = guest_network_cmdline(vm);
        owner_param = guest_owner_cmdline(vm);
        cmdline = g_strdup_printf("%s microvm.name=%s microvm.workspace=%s microvm.software=%s%s%s %s%s%s%s",
                                  def->kernel_cmdline ?: c->kernel_cmdline, def->name, def->workspace,
                                  share_source(&shares, "software"), owner_param ? " " : "", owner_param ?: "", net_cmdline,
                                  volume ? " microvm.volume=" VOLUME_MOUNT_POINT : "",
                                  def->credentials_directory ? " microvm.credentials=" : "",
                                  def->credentials_directory ?: "");
        VmLaunch launch = {
                .name = def->name,
                .binary = backend_binary(m, backend),
                .vcpus = def->vcpus,
                .memory_mib = def->memory_mib,
                .kernel = kernel,
                .initramfs = initramfs,
                .cmdline = cmdline,
                .runtime_dir = runtime_dir,
                .shares = shares.items,
                .n_shares = shares.n,
                .kvm = kvm_available(c),
                .tap = tap,
                .mac = def->mac_address,
                .volume = volume,
        };
        argv = backend->build_argv(&launch);
        if (!backend->needs_kvm && !launch.kvm)
                log_warning("No KVM: VM %s runs under %s with software emulation (TCG), slowly.", def->name,
                            backend->name);

        for (size_t i = 0; i < shares.n; i++) {
                ShareUnitData d = {
                        .vm = vm, .share = &shares.items[i], .hypervisor_unit = unit, .vmm_uid = vmm_uid,
                        .virtiofsd = virtiofsd, .owner_name = owner_name,
                };

                r = start_share_units(m, &d, error);
                if (r < 0)
                        goto fail;
        }

        /* Before the hypervisor: QEMU connects at once. Without it the VM runs, but every
         * stop is systemd's (no guest can say it listens to the power button). */
        r = guest_channel_open(vm, runtime_dir, backend->guest_channel_socket, vmm_uid, false);
        if (r < 0)
                log_warning("VM %s: cannot listen on its guest channel: %s", def->name, strerror(-r));

        HypervisorUnitData hd = {
                .vm = vm, .backend = backend, .argv = argv, .runtime_dir = runtime_dir, .shares = &shares, .volume = volume,
                .vmm_uid = vmm_uid,
        };
        r = systemd_start_transient_unit(m, unit, build_hypervisor_unit, &hd, on_start_job, vm, error);
        if (r < 0)
                goto fail;

        log_info("Starting VM %s with %s (%s on %s).", def->name, backend->name, def->ip_address, tap);
        vm->backend = backend;
        g_free(vm->share_server);
        vm->share_server = virtiofsd_describe(virtiofsd, owner_name);
        g_free(vm->tap);
        vm->tap = g_steal_pointer(&tap);
        vm->start_job_pending = true;
        vm->stop_requested = false;
        vm->main_pid = 0;
        vm->started_at = 0;
        g_clear_pointer(&vm->failure_reason, g_free);
        g_clear_pointer(&vm->unit_result, g_free);
        vm_set_state(vm, VM_STATE_STARTING);

        if (call) {
                if (wait)
                        g_ptr_array_add(vm->start_waiters, sd_bus_message_ref(call));
                else
                        (void) sd_bus_reply_method_return(call, NULL);
        }
        return 1;

fail:
        if (!sd_bus_error_is_set(error))
                sd_bus_error_set_errnof(error, -r, "Cannot start VM '%s': %s", def->name, strerror(-r));
        else if (!g_str_has_prefix(error->name, "org.microvm.Error.")) {
                /* PID 1 refused a unit: say which VM, keep its reason. */
                _cleanup_(sd_bus_error_free) sd_bus_error wrapped = SD_BUS_ERROR_NULL;
                sd_bus_error_setf(&wrapped, MVM_ERROR_UNIT_FAILED, "systemd refused to start VM '%s': %s", def->name,
                                  error->message);
                sd_bus_error_free(error);
                sd_bus_error_move(error, &wrapped);
        }
        guest_channel_close(vm);
        stop_share_units(m, def->name, NULL);
        runtime_dir_remove(def->name);
        if (tap) {
                network_vm_remove(m, tap, def->ip_address);
                network_tap_remove(m, tap);
        }
        if (m->network_up && !manager_any_vm_active(m))
                network_release(m);
        return r < 0 ? r : -EIO;
}

static char *describe_exit(Vm *vm) {
        const char *result = vm->unit_result;

        if (!result || strcmp(result, "success") == 0)
                return NULL;
        if (strcmp(result, "signal") == 0 || strcmp(result, "core-dump") == 0)
                return g_strdup_printf("the hypervisor was killed by signal %s%s",
                                       sigabbrev_np(vm->exit_status) ?: "?",
                                       strcmp(result, "core-dump") == 0 ? " (core dumped)" : "");
        if (strcmp(result, "exit-code") == 0)
                return g_strdup_printf("the hypervisor exited with status %d", vm->exit_status);
        return g_strdup_printf("the hypervisor unit failed (%s)", result);
}

/* The hypervisor's unit is gone: clean up and settle the state. */
static void vm_finish(Vm *vm, VmState state, const char *reason) {
        Manager *m = vm->manager;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool restart = vm->restart_requested && state == VM_STATE_STOPPED;
        bool timed_out = vm->start_timed_out;

        vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
        guest_channel_close(vm);
        stop_share_units(m, vm->def->name, NULL);
        runtime_dir_remove(vm->def->name);
        vm->backend = NULL;
        vm->main_pid = 0;
        vm->started_at = 0;
        vm->stop_requested = false;
        vm->restart_requested = false;
        vm->start_job_pending = false;
        vm->start_timed_out = false;
        g_free(vm->failure_reason);
        vm->failure_reason = state == VM_STATE_FAILED ? g_strdup(reason ?: "the hypervisor failed") : NULL;
        vm->state = state; /* before the network goes: it asks which VMs still run */
        machined_unregister(m->bus, vm->def->name);
        vm_network_down(vm, restart);
        if (state == VM_STATE_FAILED)
                log_warning("VM %s failed: %s", vm->def->name, vm->failure_reason);
        else
                log_info("VM %s stopped.", vm->def->name);
        vm_set_state(vm, state);

        reply_all(vm->stop_waiters, NULL);
        if (restart) {
                if (vm_start(vm, NULL, true, &error) < 0)
                        reply_all(vm->start_waiters, &error);
                return;
        }
        if (vm->start_waiters->len > 0) {
                sd_bus_error_setf(&error,
                                  timed_out ? MVM_ERROR_TIMEOUT :
                                  state == VM_STATE_FAILED ? MVM_ERROR_UNIT_FAILED : MVM_ERROR_FAILED,
                                  "VM '%s' %s: %s", vm->def->name,
                                  state == VM_STATE_FAILED ? "failed to start" : "was stopped while starting",
                                  vm->failure_reason ?: "stopped");
                reply_all(vm->start_waiters, &error);
        }
}

void vm_runtime_on_unit_changed(Manager *m, const char *unit, const UnitStatus *changes) {
        g_autofree char *name = NULL, *reason = NULL;
        Vm *vm;

        if (!g_str_has_prefix(unit, "microvm-") || !g_str_has_suffix(unit, ".service"))
                return;
        name = g_strndup(unit + strlen("microvm-"), strlen(unit) - strlen("microvm-") - strlen(".service"));
        if (!mvm_name_is_valid(name))
                return; /* a share's unit */
        vm = manager_get_vm(m, name);
        if (!vm)
                return;

        if (changes->result) {
                g_free(vm->unit_result);
                vm->unit_result = g_strdup(changes->result);
        }
        if (changes->has_exec_main) {
                vm->exit_code = changes->exec_main_code;
                vm->exit_status = changes->exec_main_status;
        }
        if (changes->has_main_pid && changes->main_pid != 0 && changes->main_pid != vm->main_pid) {
                vm->main_pid = changes->main_pid;
                vm_emit_changed(vm);
        }

        if (vm->state == VM_STATE_STOPPED || vm->state == VM_STATE_FAILED)
                return;
        if (g_strcmp0(changes->active_state, "active") == 0 && vm->state == VM_STATE_STARTING &&
            !vm->start_job_pending) {
                /* Found starting at start-up, without our job to tell. */
                if (vm->started_at == 0)
                        vm->started_at = (uint64_t) g_get_real_time();
                vm_set_state(vm, VM_STATE_RUNNING);
                return;
        }
        if (!changes->removed && g_strcmp0(changes->active_state, "inactive") != 0 &&
            g_strcmp0(changes->active_state, "failed") != 0)
                return;
        if (vm->start_job_pending)
                return; /* on_start_job() settles it */

        if (vm->stop_requested)
                vm_finish(vm, VM_STATE_STOPPED, NULL);
        else if ((reason = describe_exit(vm)))
                vm_finish(vm, VM_STATE_FAILED, reason);
        else
                vm_finish(vm, VM_STATE_STOPPED, NULL); /* the guest powered off */
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *unit = vm_unit_name(vm->def->name);

        log_warning("VM %s did not power off within %" PRIu64 " s; stopping its unit.", vm->def->name,
                    vm->manager->config->stop_timeout_sec);
        vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
        if (systemd_stop_unit(vm->manager, unit, &error) < 0)
                log_error("Cannot stop %s: %s", unit, error.message);
        return 0;
}

static void on_power_off_failed(Manager *m, const char *vm_name, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *unit = vm_unit_name(vm_name);
        Vm *vm = manager_get_vm(m, vm_name);

        if (!vm || vm->state != VM_STATE_STOPPING)
                return;
        log_warning("VM %s: %s; stopping its unit.", vm_name, message);
        vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
        if (systemd_stop_unit(m, unit, &error) < 0)
                log_error("Cannot stop %s: %s", unit, error.message);
}

/* A guest found running that never said it listens to the power button. */
static void stop_unit_now(Vm *vm) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *unit = vm_unit_name(vm->def->name);

        if (vm->state != VM_STATE_STOPPING)
                return;
        vm->stop_timer = sd_event_source_disable_unref(vm->stop_timer);
        if (systemd_stop_unit(vm->manager, unit, &error) < 0)
                log_error("Cannot stop %s: %s", unit, error.message);
}

/* The power button again: pressed just before the guest opened it, it was lost. */
static int press_power_button_again(Vm *vm) {
        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);

        if (vm->state != VM_STATE_STOPPING || !vm->backend)
                return 0;
        return vm->backend->power_off(vm->manager, vm->def->name, runtime_dir, on_power_off_failed);
}

int vm_stop(Vm *vm, sd_bus_message *call, bool force, sd_bus_error *error) {
        Manager *m = vm->manager;
        g_autofree char *unit = vm_unit_name(vm->def->name);
        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);
        int r;

        if (vm->state == VM_STATE_STOPPED || vm->state == VM_STATE_FAILED)
                return sd_bus_error_setf(error, MVM_ERROR_NOT_RUNNING, "VM '%s' is not running.", vm->def->name);

        if (force) {
                r = systemd_kill_unit(m, unit, SIGKILL, error);
                if (r < 0)
                        return r;
        } else if (!vm->stop_requested) {
                if (vm->state == VM_STATE_STARTING || !vm->backend)
                        r = systemd_stop_unit(m, unit, error);
                else if (!guest_channel_armed(vm) && !guest_channel_facts_unknown(vm)) {
                        /* Nothing would hear the button: the guest is still booting (its
                         * root is ephemeral and it mounts a volume only once it listens). */
                        log_info("VM %s: its guest does not listen to the power button yet; stopping its unit.",
                                 vm->def->name);
                        r = systemd_stop_unit(m, unit, error);
                } else {
                        r = vm->backend->power_off(m, vm->def->name, runtime_dir, on_power_off_failed);
                        if (r < 0) {
                                log_warning("VM %s: cannot press the power button (%s); stopping its unit.",
                                            vm->def->name, strerror(-r));
                                r = systemd_stop_unit(m, unit, error);
                        } else {
                                r = sd_event_add_time_relative(m->event, &vm->stop_timer, CLOCK_MONOTONIC,
                                                               m->config->stop_timeout_sec * G_USEC_PER_SEC, 0,
                                                               on_stop_timeout, vm);
                                if (r >= 0 && guest_channel_press_until_heard(vm, press_power_button_again,
                                                                              stop_unit_now) < 0)
                                        log_warning("VM %s: cannot repeat the power button.", vm->def->name);
                        }
                }
                if (r < 0)
                        return r;
        }

        vm->stop_requested = true;
        if (vm->state == VM_STATE_RUNNING)
                vm_set_state(vm, VM_STATE_STOPPING);
        if (call)
                g_ptr_array_add(vm->stop_waiters, sd_bus_message_ref(call));
        return 1;
}

int vm_restart(Vm *vm, sd_bus_message *call, sd_bus_error *error) {
        int r;

        if (vm->state == VM_STATE_STOPPED || vm->state == VM_STATE_FAILED)
                return vm_start(vm, call, true, error);
        r = vm_stop(vm, NULL, false, error);
        if (r < 0)
                return r;
        vm->restart_requested = true;
        if (call)
                g_ptr_array_add(vm->start_waiters, sd_bus_message_ref(call));
        return 1;
}

static void on_reconciled_state(Manager *m, const char *vm_name, int r, const char *state) {
        if (r < 0)
                log_warning("VM %s: its hypervisor does not answer on its control socket: %s", vm_name, strerror(-r));
        else
                log_info("VM %s: its hypervisor reports the VM %s.", vm_name, state);
}

void vm_runtime_reconcile(Manager *m) {
        g_autoptr(GHashTable) loaded = NULL, runtime_dirs = NULL;
        GHashTableIter it;
        gpointer value;

        /* One call for all: with thousands of VMs defined, asking PID 1 about each one
         * would keep microvmd from answering for many seconds after it starts. */
        if (systemd_list_our_units(m, &loaded) < 0)
                log_warning("Cannot list the units of PID 1; asking about each VM's.");
        /* Likewise one listing of the runtime directories, not a look for each VM's. */
        if (dir_entry_names(MICROVM_RUNTIME_DIR, &runtime_dirs) < 0)
                runtime_dirs = NULL;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;
                g_autofree char *unit = vm_unit_name(vm->def->name);
                UnitStatus st = {};
                uid_t vmm_uid;
                int r;

                /* Not loaded: only share units and the runtime directory of a crash may be left. */
                if (loaded && !g_hash_table_contains(loaded, unit)) {
                        stop_share_units(m, vm->def->name, loaded);
                        if (!runtime_dirs || g_hash_table_contains(runtime_dirs, vm->def->name))
                                runtime_dir_remove(vm->def->name);
                        continue;
                }
                r = systemd_get_unit_status(m, unit, &st);
                if (r < 0 || g_strcmp0(st.active_state, "inactive") == 0 || g_strcmp0(st.active_state, "failed") == 0) {
                        /* Not running: whatever a crash left behind goes. */
                        unit_status_clear(&st);
                        stop_share_units(m, vm->def->name, NULL);
                        if (!runtime_dirs || g_hash_table_contains(runtime_dirs, vm->def->name))
                                runtime_dir_remove(vm->def->name);
                        continue;
                }
                for (char **e = st.environment; e && *e; e++)
                        if (g_str_has_prefix(*e, HYPERVISOR_ENV))
                                vm->backend = hypervisor_from_name(*e + strlen(HYPERVISOR_ENV));
                vm->main_pid = st.main_pid;
                vm->started_at = st.active_enter_usec;
                vm_describe_share_server(vm);
                if (vm->def->ip_address) {
                        uint32_t a;
                        if (mvm_ipv4_parse(vm->def->ip_address, &a) >= 0)
                                vm->tap = mvm_tap_name(&m->subnet, a);
                }
                /* The hypervisor reconnects; its guest says again what holds. */
                if (vm->backend && vm_hypervisor_uid(vm, &vmm_uid) >= 0) {
                        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);
                        r = guest_channel_open(vm, runtime_dir, vm->backend->guest_channel_socket, vmm_uid, true);
                        if (r < 0)
                                log_warning("VM %s: cannot listen on its guest channel: %s", vm->def->name,
                                            strerror(-r));
                }
                if (strcmp(st.active_state, "active") == 0 || strcmp(st.active_state, "reloading") == 0) {
                        vm->state = VM_STATE_RUNNING;
                        vm_ready_watch_start(vm);
                }
                else if (strcmp(st.active_state, "deactivating") == 0) {
                        vm->state = VM_STATE_STOPPING;
                        vm->stop_requested = true;
                } else
                        vm->state = VM_STATE_STARTING;
                log_info("VM %s is %s (found its unit %s, PID %u).", vm->def->name, vm_state_to_string(vm->state),
                         unit, vm->main_pid);
                /* Found, not started by us: ask the hypervisor itself how the VM is. */
                if (vm->state == VM_STATE_RUNNING && vm->backend) {
                        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);
                        r = vm->backend->query_state(m, vm->def->name, runtime_dir, on_reconciled_state);
                        if (r < 0)
                                on_reconciled_state(m, vm->def->name, r, NULL);
                }
                unit_status_clear(&st);
        }
}

/* After reconciling: keep the network of running VMs, remove what a crash left. */
void vm_runtime_reconcile_network(Manager *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        network_remove_stale_taps(m);
        if (!manager_any_vm_active(m)) {
                if (network_has_state())
                        network_release(m);
                return;
        }
        if (network_ensure(m, &error) < 0) {
                log_error("Cannot restore the network of the running VMs: %s", error.message);
                return;
        }
        vm_runtime_restore_firewall(m);
}

void vm_runtime_autostart(Manager *m) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                if (!vm->def->autostart || vm->state != VM_STATE_STOPPED)
                        continue;
                if (vm_start(vm, NULL, false, &error) < 0)
                        log_error("Cannot autostart VM %s: %s", vm->def->name, error.message);
        }
}
