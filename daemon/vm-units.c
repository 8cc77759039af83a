/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the transient units of a VM are: the hypervisor's service and each share's
 * virtiofsd socket and service, as property lists for PID 1, with the sandboxing each
 * gets. Nothing here talks to anyone. */
#include "vm-units.h"
#include "hypervisor.h"
#include "systemd-client.h"
#include "vm.h"

#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/socket.h>

#define SLICE "microvm.slice"
#define CAP(c) (UINT64_C(1) << (c))
#define VIRTIOFSD_CAPABILITIES                                                                        \
        (CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_DAC_READ_SEARCH) | CAP(CAP_FOWNER) |        \
         CAP(CAP_FSETID) | CAP(CAP_SETGID) | CAP(CAP_SETUID) | CAP(CAP_SETPCAP) | CAP(CAP_SYS_ADMIN) | \
         CAP(CAP_SYS_RESOURCE))
/* One virtiofsd serves one share: its threads and open files grow with the guest's. */
#define VIRTIOFSD_MEMORY_MAX (UINT64_C(1) << 30)
#define VIRTIOFSD_TASKS_MAX 256u
#define VIRTIOFSD_NOFILE 1048576u
#define HYPERVISOR_STOP_TIMEOUT_USEC (30 * G_USEC_PER_SEC)
/* Guest RAM is counted in the unit's cgroup; QEMU's TCG translation cache and device
 * emulation need room beyond it. */
#define HYPERVISOR_MEMORY_OVERHEAD_MIB 1536
/* What the guest prints: at info, at most this many lines per interval (journald scales
 * the burst up with the free disk space). */
#define GUEST_OUTPUT_LOG_LEVEL 6 /* LOG_INFO */
#define GUEST_OUTPUT_RATE_LIMIT_INTERVAL_USEC (10 * G_USEC_PER_SEC)
#define GUEST_OUTPUT_RATE_LIMIT_BURST 1000u

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

int vm_unit_share_socket(sd_bus_message *msg, void *data) {
        ShareUnitData *d = data;
        g_autofree char *description = g_strdup_printf("microVM %s: virtiofs socket of share %s",
                                                       d->def->name, d->share->tag);
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

int vm_unit_share_service(sd_bus_message *msg, void *data) {
        ShareUnitData *d = data;
        g_autofree char *description = g_strdup_printf("microVM %s: virtiofsd for share %s", d->def->name,
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

int vm_unit_hypervisor(sd_bus_message *msg, void *data) {
        HypervisorUnitData *d = data;
        const MvmVmDef *def = d->def;
        g_autofree char *description = g_strdup_printf("microVM %s (%s)", def->name, d->backend->name);
        g_autofree char *env = g_strdup_printf(HYPERVISOR_ENV "%s", d->backend->name);
        g_autoptr(GPtrArray) deps = g_ptr_array_new_with_free_func(g_free);
        char *envv[] = { env, NULL };
        char *rw[] = { (char *) d->runtime_dir, (char *) d->volume, NULL };
        g_autoptr(GPtrArray) exec = hypervisor_exec_argv(d->vmm_uid, d->argv);
        int r;

        for (size_t i = 0; i < d->shares->n; i++)
                g_ptr_array_add(deps, vm_share_unit_name(def->name, d->shares->items[i].tag, "socket"));
        g_ptr_array_add(deps, NULL);

        if ((r = unit_property_string(msg, "Description", description)) < 0 ||
            /* The start job ends once the hypervisor runs; microvmd itself waits for its
             * control socket (vm-runtime.c): no second sandboxed process per start. */
            (r = unit_property_string(msg, "Type", "exec")) < 0 ||
            (r = unit_property_exec(msg, "ExecStart", (char **) exec->pdata)) < 0 ||

            (r = unit_property_strv(msg, "Environment", envv)) < 0 ||
            (r = unit_property_strv(msg, "After", (char **) deps->pdata)) < 0 ||
            (r = unit_property_strv(msg, "BindsTo", (char **) deps->pdata)) < 0 ||
            (r = unit_property_string(msg, "Slice", SLICE)) < 0 ||
            (r = unit_property_string(msg, "CollectMode", "inactive-or-failed")) < 0 ||
            (r = unit_property_u64(msg, "TimeoutStartUSec", d->start_timeout_usec)) < 0 ||
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
