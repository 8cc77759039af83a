/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Vm Vm;

extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable vm_vtable[];

int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                   void **found, sd_bus_error *error);
int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                       sd_bus_error *error);

/* What a caller can do to a VM; each is one polkit action for the owner, and
 * manage-any for everyone else. */
typedef enum VmVerb {
        VM_VERB_DELETE,
        VM_VERB_START,
        VM_VERB_STOP,
        VM_VERB_RESTART,
        VM_VERB_SET_AUTOSTART,
        VM_VERB_GET_LOGS,
        VM_VERB_OPEN_CONSOLE,
} VmVerb;

/* Reads the verb's arguments from call, asks polkit (auth_verify()), then acts. A method
 * handler's answer: while polkit is asked it returns 1 with no reply, and the call is
 * dispatched again, from the top, once polkit has answered. Shared by the Manager's
 * methods (which take the name first) and the VM's. */
int vm_bus_request(Manager *m, sd_bus_message *call, Vm *vm, VmVerb verb, sd_bus_error *error);

/* The caller's effective uid. */
int bus_message_get_caller_uid(sd_bus_message *m, uid_t *ret);
