/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "user-limits.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "vm.h"

#include <inttypes.h>

typedef struct UserUsage {
        uint64_t vms, volume_gib, running_vcpus, running_memory_mib;
} UserUsage;

static UserUsage usage_of(Manager *m, uid_t uid) {
        UserUsage u = {};
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                const Vm *vm = value;

                if (vm->def->owner != uid)
                        continue;
                u.vms++;
                u.volume_gib += vm->def->volume_gib;
                if (vm->state != VM_STATE_STOPPED && vm->state != VM_STATE_FAILED) {
                        u.running_vcpus += vm->def->vcpus;
                        u.running_memory_mib += vm->def->memory_mib;
                }
        }
        return u;
}

static int exceeded(sd_bus_error *error, const char *key, uint64_t limit, const char *what, uint64_t would_be) {
        return sd_bus_error_setf(error, MVM_ERROR_LIMIT_EXCEEDED,
                                 "That would make %" PRIu64 " %s; [Limits] %s= allows %" PRIu64 " per user.",
                                 would_be, what, key, limit);
}

int limits_check_create(Manager *m, uid_t uid, uint64_t volume_gib, sd_bus_error *error) {
        const MvmConfig *c = m->config;
        UserUsage u;

        if (uid == 0)
                return 0;
        u = usage_of(m, uid);
        if (c->max_vms_per_user > 0 && u.vms + 1 > c->max_vms_per_user)
                return exceeded(error, "MaxVMsPerUser", c->max_vms_per_user, "VMs", u.vms + 1);
        if (c->max_volume_gib_per_user > 0 && volume_gib > 0 &&
            u.volume_gib + volume_gib > c->max_volume_gib_per_user)
                return exceeded(error, "MaxVolumeGiBPerUser", c->max_volume_gib_per_user, "GiB of volumes",
                                u.volume_gib + volume_gib);
        return 0;
}

int limits_check_start(Manager *m, const Vm *vm, sd_bus_error *error) {
        const MvmConfig *c = m->config;
        UserUsage u;

        if (vm->def->owner == 0)
                return 0;
        u = usage_of(m, vm->def->owner);
        if (c->max_running_vcpus_per_user > 0 && u.running_vcpus + vm->def->vcpus > c->max_running_vcpus_per_user)
                return exceeded(error, "MaxRunningVCPUsPerUser", c->max_running_vcpus_per_user, "vCPUs running",
                                u.running_vcpus + vm->def->vcpus);
        if (c->max_running_memory_mib_per_user > 0 &&
            u.running_memory_mib + vm->def->memory_mib > c->max_running_memory_mib_per_user)
                return exceeded(error, "MaxRunningMemoryMiBPerUser", c->max_running_memory_mib_per_user,
                                "MiB of memory running", u.running_memory_mib + vm->def->memory_mib);
        return 0;
}
