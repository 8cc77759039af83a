/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "mvm-vmdef.h"

typedef struct Manager Manager;

/* The lifecycle states of the API; in this version every VM is stopped. */
typedef enum VmState {
        VM_STATE_STOPPED,
        VM_STATE_STARTING,
        VM_STATE_RUNNING,
        VM_STATE_STOPPING,
        VM_STATE_FAILED,
} VmState;

typedef struct Vm {
        Manager *manager;
        MvmVmDef *def;
        VmState state;
        char *object_path;
} Vm;

Vm *vm_new(Manager *m, MvmVmDef *def);
void vm_free(Vm *vm);

const char *vm_state_to_string(VmState state);
