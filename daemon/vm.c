/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vm.h"
#include "manager.h"
#include "mvm-dbus.h"

#include <stdlib.h>

Vm *vm_new(Manager *m, MvmVmDef *def) {
        Vm *vm = g_new0(Vm, 1);
        char *path = NULL;

        vm->manager = m;
        vm->def = def;
        vm->state = VM_STATE_STOPPED;
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
        mvm_vmdef_free(vm->def);
        g_free(vm->object_path);
        g_free(vm);
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
