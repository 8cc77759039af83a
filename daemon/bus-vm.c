/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "bus-options.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "vm-store.h"
#include "vm.h"
#include "workspace.h"

#include <string.h>

typedef struct DeleteRequest {
        char *name;
        DeleteOptions options;
} DeleteRequest;

static void delete_request_free(DeleteRequest *req) {
        g_free(req->name);
        g_free(req);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DeleteRequest, delete_request_free)

int vm_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                   void **found, sd_bus_error *error) {
        _cleanup_free_ char *name = NULL;
        Manager *m = userdata;
        Vm *vm;
        int r;

        r = sd_bus_path_decode(path, MVM_VM_PATH_PREFIX, &name);
        if (r <= 0)
                return 0;
        vm = manager_get_vm(m, name);
        if (!vm)
                return 0;
        *found = vm;
        return 1;
}

int vm_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                       sd_bus_error *error) {
        Manager *m = userdata;
        GHashTableIter it;
        gpointer value;
        char **l;
        size_t i = 0;

        /* sd-bus frees the list with free(), so allocate with malloc. */
        l = calloc(g_hash_table_size(m->vms) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                l[i] = strdup(((Vm *) value)->object_path);
                if (!l[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(l[k]);
                        free(l);
                        return -ENOMEM;
                }
                i++;
        }
        *nodes = l;
        return 1;
}

/* The definition stores where the workspace is; only remove it if that is where this
 * daemon puts workspaces, so a changed configuration cannot aim the removal elsewhere. */
static int check_workspace_location(Manager *m, Vm *vm, sd_bus_error *error) {
        g_autofree char *expected = g_build_filename(m->config->workspace_base_dir, vm->def->name, NULL);

        if (strcmp(expected, vm->def->workspace) != 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "The workspace %s is not under the workspace base directory %s; "
                                         "delete without remove-files and remove it by hand.",
                                         vm->def->workspace, m->config->workspace_base_dir);
        return 0;
}

static int delete_vm(Manager *m, Vm *vm, const DeleteOptions *options, sd_bus_error *error) {
        _cleanup_close_ int base_fd = -1;
        g_autofree char *detached = NULL;
        g_autofree char *name = g_strdup(vm->def->name);
        int r;

        if (options->remove_files) {
                r = check_workspace_location(m, vm, error);
                if (r < 0)
                        return r;
                base_fd = workspace_open_base(m->config->workspace_base_dir);
                if (base_fd < 0)
                        return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot open %s: %s",
                                                 m->config->workspace_base_dir, strerror(-base_fd));
                /* Moving it aside first keeps the step reversible until the definition is gone. */
                r = workspace_detach(base_fd, name, &detached);
                if (r < 0)
                        return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot remove the workspace %s: %s",
                                                 vm->def->workspace, strerror(-r));
        }

        r = vm_store_remove(m->definitions_dir_fd, name);
        if (r < 0 && r != -ENOENT) {
                if (detached && workspace_restore(base_fd, detached, name) < 0)
                        log_error("Cannot put the workspace of %s back in place after a failed delete.", name);
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot remove the definition of '%s': %s",
                                         name, strerror(-r));
        }

        if (detached) {
                r = workspace_remove_detached(base_fd, detached);
                if (r < 0)
                        log_warning("Could not remove all of the workspace of %s: %s (left in the "
                                    "staging area, removed at the next start).", name, strerror(-r));
        }

        log_info("Deleted VM %s%s.", name, options->remove_files ? " and its workspace" : "");
        manager_remove_vm(m, vm);
        return 0;
}

static void on_delete_authorized(Manager *m, sd_bus_message *call, int r, sd_bus_error *auth_error,
                                 void *userdata) {
        g_autoptr(DeleteRequest) req = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Vm *vm;

        if (r <= 0) {
                (void) sd_bus_reply_method_error(call, auth_error);
                return;
        }
        /* It may have gone while polkit was asking. */
        vm = manager_get_vm(m, req->name);
        if (!vm) {
                (void) sd_bus_reply_method_errorf(call, MVM_ERROR_NO_SUCH_VM, "There is no VM named '%s'.",
                                                  req->name);
                return;
        }
        r = delete_vm(m, vm, &req->options, &error);
        if (r < 0) {
                if (!sd_bus_error_is_set(&error))
                        sd_bus_error_set_errno(&error, r);
                (void) sd_bus_reply_method_error(call, &error);
                return;
        }
        (void) sd_bus_reply_method_return(call, NULL);
}

int vm_bus_start_delete(Manager *m, sd_bus_message *call, Vm *vm, sd_bus_error *error) {
        g_autoptr(DeleteRequest) req = g_new0(DeleteRequest, 1);
        g_autofree char *owner = NULL, *owner_uid = NULL;
        uid_t uid;
        int r;

        r = delete_options_parse(call, &req->options, error);
        if (r < 0)
                return r;
        r = bus_message_get_caller_uid(call, &uid);
        if (r < 0)
                return r;
        req->name = g_strdup(vm->def->name);

        owner = manager_user_name(vm->def->owner);
        owner_uid = g_strdup_printf("%u", vm->def->owner);
        const char *details[] = {
                "vm", vm->def->name, "owner", owner, "owner-uid", owner_uid, "verb", "delete", NULL,
        };
        /* Only the owner acts with the verb's own action; anyone else needs manage-any. */
        r = auth_check_async(m, call, uid == vm->def->owner ? MVM_ACTION_DELETE : MVM_ACTION_MANAGE_ANY,
                             details, on_delete_authorized, req);
        if (r < 0)
                return r;
        g_steal_pointer(&req);
        return 1;
}

static int method_delete(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_start_delete(vm->manager, msg, vm, error);
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;

        if (strcmp(property, "Name") == 0)
                return sd_bus_message_append(reply, "s", vm->def->name);
        if (strcmp(property, "State") == 0)
                return sd_bus_message_append(reply, "s", vm_state_to_string(vm->state));
        if (strcmp(property, "Owner") == 0)
                return sd_bus_message_append(reply, "u", (uint32_t) vm->def->owner);
        if (strcmp(property, "Workspace") == 0)
                return sd_bus_message_append(reply, "s", vm->def->workspace);
        if (strcmp(property, "VCPUs") == 0)
                return sd_bus_message_append(reply, "u", vm->def->vcpus);
        if (strcmp(property, "MemoryMiB") == 0)
                return sd_bus_message_append(reply, "t", vm->def->memory_mib);
        if (strcmp(property, "CreatedAt") == 0)
                return sd_bus_message_append(reply, "t", vm->def->created_at);
        return -EINVAL;
}

const sd_bus_vtable vm_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Owner", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Workspace", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("VCPUs", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MemoryMiB", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreatedAt", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Delete",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
