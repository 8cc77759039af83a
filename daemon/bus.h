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

/* Reads the delete options from call and starts a polkit-checked delete of vm; the
 * reply comes later. Shared by Manager.DeleteWorkspace and VM.Delete. */
int vm_bus_start_delete(Manager *m, sd_bus_message *call, Vm *vm, sd_bus_error *error);

/* The caller's effective uid. */
int bus_message_get_caller_uid(sd_bus_message *m, uid_t *ret);
