/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* At start-up: the VMs that kept running while microvmd was away, the network they use,
 * and the VMs marked autostart. */
#include "config.h"
#include "fs-util.h"
#include "guest-build.h"
#include "guest-channel.h"
#include "hypervisor.h"
#include "log.h"
#include "manager.h"
#include "mvm-macro.h"
#include "mvm-net.h"
#include "network.h"
#include "systemd-client.h"
#include "vm-host.h"
#include "vm-ready.h"
#include "vm-runtime.h"
#include "vm-units.h"
#include "vm.h"

#include <string.h>

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

/* Whether PID 1 has any unit of ours loaded but the VMs' hypervisors (and the guest
 * builder): only then may a VM that is not running have share units left behind (a crash),
 * and only then are their names worth making for each of thousands of VMs. */
static bool share_units_loaded(Manager *m, GHashTable *loaded) {
        GHashTableIter it;
        gpointer unit;

        if (!loaded)
                return true; /* unknown: look */
        g_hash_table_iter_init(&it, loaded);
        while (g_hash_table_iter_next(&it, &unit, NULL))
                if (!g_hash_table_contains(m->units, unit) && strcmp(unit, GUEST_BUILD_UNIT) != 0)
                        return true;
        return false;
}

static void on_reconciled_state(int r, const char *detail, void *userdata) {
        Vm *vm = userdata;

        vm->state_request = NULL; /* its handle is gone */
        if (r < 0)
                log_warning("VM %s: its hypervisor does not answer on its control socket: %s", vm->def->name,
                            detail ?: strerror(-r));
        else
                log_info("VM %s: its hypervisor reports the VM %s.", vm->def->name, detail);
}

void vm_runtime_reconcile(Manager *m) {
        g_autoptr(GHashTable) loaded = NULL, runtime_dirs = NULL;
        GHashTableIter it;
        gpointer value;
        bool shares_loaded;

        /* One call for all: with thousands of VMs defined, asking PID 1 about each one
         * would keep microvmd from answering for many seconds after it starts. */
        if (systemd_list_our_units(m->systemd, &loaded) < 0)
                log_warning("Cannot list the units of PID 1; asking about each VM's.");
        vm_host_runtime_removing_clean();
        /* Likewise the runtime directories: one listing, not a look per VM. */
        if (dir_entry_names(MICROVM_RUNTIME_DIR, &runtime_dirs) < 0)
                runtime_dirs = NULL;
        shares_loaded = share_units_loaded(m, loaded);

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;
                UnitStatus st = {};
                uid_t vmm_uid;
                int r;

                /* Not loaded: only share units and the runtime directory of a crash may be left. */
                if (loaded && !g_hash_table_contains(loaded, vm->unit)) {
                        if (shares_loaded)
                                vm_host_stop_share_units(m, vm->def->name, loaded);
                        if (!runtime_dirs || g_hash_table_contains(runtime_dirs, vm->def->name))
                                vm_host_runtime_dir_remove(vm->def->name);
                        continue;
                }
                r = systemd_get_unit_status(m->systemd, vm->unit, &st);
                if (r < 0 || g_strcmp0(st.active_state, "inactive") == 0 || g_strcmp0(st.active_state, "failed") == 0) {
                        /* Not running: whatever a crash left behind goes. */
                        unit_status_clear(&st);
                        vm_host_stop_share_units(m, vm->def->name, NULL);
                        if (!runtime_dirs || g_hash_table_contains(runtime_dirs, vm->def->name))
                                vm_host_runtime_dir_remove(vm->def->name);
                        continue;
                }
                for (char **e = st.environment; e && *e; e++)
                        if (g_str_has_prefix(*e, HYPERVISOR_ENV))
                                vm->backend = hypervisor_from_name(*e + strlen(HYPERVISOR_ENV));
                vm->unit_state = g_strdup(st.active_state);
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
                /* A hypervisor found running has long been up (or never will be: its unit
                 * then fails or is stopped as any other). */
                vm->hypervisor_up = true;
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
                         vm->unit, vm->main_pid);
                /* Found, not started by us: ask the hypervisor itself how the VM is. */
                if (vm->state == VM_STATE_RUNNING && vm->backend) {
                        g_autofree char *runtime_dir = vm_runtime_dir(vm->def->name);
                        r = vm->backend->query_state(m->event, runtime_dir, on_reconciled_state, vm,
                                                     &vm->state_request);
                        if (r < 0)
                                on_reconciled_state(r, NULL, vm);
                }
                unit_status_clear(&st);
        }
}

/* After reconciling: keep the network of running VMs, remove what a crash left. */
void vm_runtime_reconcile_network(Manager *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        g_autoptr(GHashTable) in_use = g_hash_table_new(g_str_hash, g_str_equal);
        GHashTableIter it;
        gpointer value;

        /* Directly: nothing is queued for the network worker before the bus name is ours. */
        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Vm *vm = value;

                if (vm->state != VM_STATE_STOPPED && vm->state != VM_STATE_FAILED && vm->tap)
                        g_hash_table_add(in_use, vm->tap);
        }
        network_remove_stale_taps(&m->network, in_use);
        if (!manager_any_vm_active(m)) {
                if (network_has_state())
                        network_release(&m->network);
                return;
        }
        if (network_ensure(&m->network, &error) < 0) {
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
