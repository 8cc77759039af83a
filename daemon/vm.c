/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest-channel.h"
#include "hypervisor.h"
#include "vm.h"
#include "vm-runtime.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-net.h"

#include <stdlib.h>

static void message_unref(gpointer p) {
        sd_bus_message_unref(p);
}

Vm *vm_new(Manager *m, MvmVmDef *def) {
        Vm *vm = g_new0(Vm, 1);
        char *path = NULL;

        vm->manager = m;
        vm->def = def;
        vm->state = VM_STATE_STOPPED;
        vm->ready_fd = -1;
        vm->start_waiters = g_ptr_array_new_with_free_func(message_unref);
        vm->stop_waiters = g_ptr_array_new_with_free_func(message_unref);
        vm->launch_waiters = g_ptr_array_new_with_free_func(message_unref);
        vm->unit = vm_unit_name(def->name);
        if (sd_bus_path_encode(MVM_VM_PATH_PREFIX, def->name, &path) < 0)
                g_error("out of memory");
        /* sd-bus allocates with malloc; keep one allocator per field. */
        vm->object_path = g_strdup(path);
        free(path);
        return vm;
}

void vm_free(Vm *vm) {
        if (!vm)
                return;
        vm_start_op_cancel(vm->start_op);
        sd_event_source_disable_unref(vm->update_source);
        sd_event_source_disable_unref(vm->control_watch);
        sd_event_source_disable_unref(vm->start_timer);
        sd_bus_slot_unref(vm->stop_call);
        sd_event_source_disable_unref(vm->stop_timer);
        hypervisor_request_cancel(vm->power_off_request);
        hypervisor_request_cancel(vm->state_request);
        guest_channel_close(vm);
        sd_event_source_disable_unref(vm->ready_timer);
        sd_event_source_disable_unref(vm->ready_io);
        if (vm->ready_fd >= 0)
                close(vm->ready_fd);
        g_ptr_array_unref(vm->start_waiters);
        g_ptr_array_unref(vm->stop_waiters);
        g_ptr_array_unref(vm->launch_waiters);
        g_free(vm->failure_reason);
        g_free(vm->unit_result);
        g_free(vm->unit_state);
        g_free(vm->start_job_result);
        g_free(vm->start_error);
        g_free(vm->unit);
        g_free(vm->tap);
        g_free(vm->share_server);
        mvm_vmdef_free(vm->def);
        g_free(vm->object_path);
        g_free(vm);
}

char *vm_unit_name(const char *name) {
        return g_strdup_printf("microvm-%s.service", name);
}

/* The underscore cannot occur in VM names, so no share unit of one VM can be the unit of
 * another VM (microvm-a-fs-x would be VM "a-fs-x"). */
char *vm_share_unit_name(const char *name, const char *tag, const char *suffix) {
        return g_strdup_printf("microvm-%s-fs_%s.%s", name, tag, suffix);
}

const char *vm_state_to_string(VmState state) {
        static const char *const names[] = {
                [VM_STATE_STOPPED] = "stopped",
                [VM_STATE_STARTING] = "starting",
                [VM_STATE_RUNNING] = "running",
                [VM_STATE_STOPPING] = "stopping",
                [VM_STATE_FAILED] = "failed",
        };
        return names[state];
}

int vm_hypervisor_uid(const Vm *vm, uid_t *ret) {
        const MvmSubnet *s = &vm->manager->subnet;
        uint32_t a;

        if (!vm->def->ip_address || mvm_ipv4_parse(vm->def->ip_address, &a) < 0 || !mvm_subnet_is_vm_address(s, a) ||
            a - s->network >= VM_UID_COUNT)
                return -EINVAL;
        *ret = VM_UID_BASE + (a - s->network);
        return 0;
}

MvmEgress vm_egress(const Vm *vm) {
        /* An owner may only make a VM stricter than the config. */
        return mvm_egress_effective(vm->manager->config->egress, vm->def->egress);
}
