/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "bus-options.h"
#include "bus.h"
#include "config.h"
#include "credentials.h"
#include "user-limits.h"
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-name.h"
#include "vm-store.h"
#include "volume.h"
#include "vm.h"
#include "workspace.h"

#include <gio/gio.h>
#include <inttypes.h>
#include <pwd.h>
#include <string.h>

int bus_message_get_caller_uid(sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        return sd_bus_creds_get_euid(creds, ret);
}

static int check_name(const char *name, sd_bus_error *error) {
        const char *reason = mvm_name_invalid_reason(name);

        if (reason)
                return sd_bus_error_setf(error, MVM_ERROR_INVALID_NAME,
                                         "Invalid VM name '%s': %s.", name, reason);
        return 0;
}

/* Refuses a name that is in use, by a VM or by a workspace directory left behind. */
static int check_name_free(Manager *m, const char *name, sd_bus_error *error) {
        _cleanup_close_ int base_fd = -1;

        if (manager_get_vm(m, name))
                return sd_bus_error_setf(error, MVM_ERROR_ALREADY_EXISTS,
                                         "A VM named '%s' already exists.", name);
        base_fd = workspace_open_base(m->config->workspace_base_dir);
        if (base_fd < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "Cannot open the workspace base directory %s: %s",
                                         m->config->workspace_base_dir, strerror(-base_fd));
        if (volume_exists(name))
                return sd_bus_error_setf(error, MVM_ERROR_ALREADY_EXISTS,
                                         "The volume of an earlier VM named '%s' still exists (kept by a delete "
                                         "without remove-files); remove it or choose another name.", name);
        if (workspace_exists(base_fd, name))
                return sd_bus_error_setf(error, MVM_ERROR_ALREADY_EXISTS,
                                         "The workspace directory %s/%s already exists (kept by an "
                                         "earlier delete?); remove it or choose another name.",
                                         m->config->workspace_base_dir, name);
        return 0;
}

/* The VM's address: the one asked for if it is free and in the subnet, otherwise the
 * lowest free one. Addresses of all definitions count, running or not. */
static int pick_address(Manager *m, const char *requested, char **ret_ip, char **ret_mac, sd_bus_error *error) {
        g_autoptr(GHashTable) used_ips = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_autoptr(GHashTable) used_macs = g_hash_table_new(g_str_hash, g_str_equal);
        GHashTableIter it;
        gpointer value;
        uint32_t a;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                const MvmVmDef *d = ((Vm *) value)->def;
                uint32_t used;

                if (d->ip_address && mvm_ipv4_parse(d->ip_address, &used) >= 0)
                        g_hash_table_add(used_ips, GUINT_TO_POINTER(used));
                if (d->mac_address)
                        g_hash_table_add(used_macs, d->mac_address);
        }

        if (requested) {
                g_autofree char *gw = mvm_ipv4_to_string(mvm_subnet_gateway(&m->subnet));

                if (mvm_ipv4_parse(requested, &a) < 0 || !mvm_subnet_is_vm_address(&m->subnet, a))
                        return sd_bus_error_setf(error, MVM_ERROR_INVALID_ARGUMENT,
                                                 "The address %s is not a VM address of the subnet %s (the "
                                                 "network, gateway %s and broadcast addresses are not).",
                                                 requested, m->config->subnet, gw);
                if (g_hash_table_contains(used_ips, GUINT_TO_POINTER(a)))
                        return sd_bus_error_setf(error, MVM_ERROR_ADDRESS_IN_USE,
                                                 "The address %s belongs to another VM.", requested);
        } else if (mvm_subnet_allocate(&m->subnet, used_ips, &a) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_NO_ADDRESS,
                                         "Every address of the subnet %s is taken; delete a VM or configure a "
                                         "larger [Network] Subnet=.", m->config->subnet);

        *ret_ip = mvm_ipv4_to_string(a);
        *ret_mac = mvm_mac_generate(used_macs);
        return 0;
}

/* The credentials directory, if one was named: checked as the caller (see credentials.h). */
static int check_credentials_directory(Manager *m, const CreateOptions *options, uid_t uid, sd_bus_error *error) {
        const Virtiofsd *virtiofsd;
        struct passwd *pw;
        int r;

        if (!options->credentials_directory)
                return 0;
        r = manager_get_virtiofsd(m, &virtiofsd, error);
        if (r < 0)
                return r;
        pw = getpwuid(uid);
        if (!pw)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "User %u has no user database entry; cannot own a workspace.", uid);
        return credentials_directory_check(virtiofsd, options->credentials_directory, uid, pw->pw_gid, error);
}

/* Once authorized: the workspace is prepared (directories, ssh-keygen, keys) in a worker
 * thread, in a staging directory nobody else can reach; then, back in the loop, the name
 * and the limits are checked again and the definition is saved and the workspace moved
 * into place without returning to the loop in between. */
typedef struct PrepareJob {
        Manager *manager;
        sd_bus_message *call;
        char *name;
        uid_t uid;
        CreateOptions options;
        int base_fd;
        char *base_path;
        gid_t gid;
        char *staging;          /* set by the thread */
} PrepareJob;

static void prepare_job_free(void *p) {
        PrepareJob *j = p;

        sd_bus_message_unref(j->call);
        g_free(j->name);
        create_options_clear(&j->options);
        safe_close(j->base_fd);
        g_free(j->base_path);
        g_free(j->staging);
        g_free(j);
}

static void prepare_in_thread(GTask *task, void *source, void *data, GCancellable *cancellable) {
        PrepareJob *j = data;

        g_task_return_int(task, workspace_prepare(j->base_fd, j->base_path, j->name, j->uid, j->gid,
                                                  j->options.authorized_keys, &j->staging));
}

static int create_workspace_finish(Manager *m, const PrepareJob *j, const char **ret_path, sd_bus_error *error);

static void on_workspace_prepared(GObject *source, GAsyncResult *result, void *userdata) {
        PrepareJob *j = g_task_get_task_data(G_TASK(result));
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        gssize r = g_task_propagate_int(G_TASK(result), NULL);
        const char *path = NULL;

        if (r < 0)
                sd_bus_error_setf(&error, MVM_ERROR_FAILED, "Cannot create the workspace for '%s': %s",
                                  j->name, strerror((int) -r));
        else if (create_workspace_finish(j->manager, j, &path, &error) < 0 &&
                 !sd_bus_error_is_set(&error))
                sd_bus_error_set_errno(&error, EIO);
        if (sd_bus_error_is_set(&error))
                (void) sd_bus_reply_method_error(j->call, &error);
        else
                (void) sd_bus_reply_method_return(j->call, "o", path);
}

/* Takes options over (cleared here) for the worker thread. */
static int create_workspace(Manager *m, sd_bus_message *call, const char *name, uid_t uid, CreateOptions *options,
                            sd_bus_error *error) {
        _cleanup_close_ int base_fd = -1;
        PrepareJob *j;
        GTask *task;
        struct passwd *pw;

        errno = 0;
        pw = getpwuid(uid);
        if (!pw)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "User %u has no user database entry; cannot own a workspace.", uid);

        base_fd = workspace_open_base(m->config->workspace_base_dir);
        if (base_fd < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot open %s: %s",
                                         m->config->workspace_base_dir, strerror(-base_fd));

        j = g_new0(PrepareJob, 1);
        *j = (PrepareJob) {
                .manager = m, .call = sd_bus_message_ref(call), .name = g_strdup(name), .uid = uid,
                .options = *options, .base_fd = mvm_take_fd(&base_fd),
                .base_path = g_strdup(m->config->workspace_base_dir), .gid = pw->pw_gid,
        };
        *options = (CreateOptions) {};
        task = g_task_new(NULL, NULL, on_workspace_prepared, NULL);
        g_task_set_task_data(task, j, prepare_job_free);
        g_task_run_in_thread(task, prepare_in_thread);
        g_object_unref(task);
        return 0;
}

static int create_workspace_finish(Manager *m, const PrepareJob *j, const char **ret_path, sd_bus_error *error) {
        const CreateOptions *o = &j->options;
        g_autoptr(MvmVmDef) def = NULL;
        struct passwd *pw;
        Vm *vm;
        int r;

        /* Taken or created while the workspace was prepared. */
        r = check_name_free(m, j->name, error);
        if (r < 0) {
                workspace_abort(j->base_fd, j->staging);
                return r;
        }
        pw = getpwuid(j->uid);

        def = g_new0(MvmVmDef, 1);
        def->name = g_strdup(j->name);
        def->owner = j->uid;
        def->vcpus = o->vcpus;
        def->memory_mib = o->memory_mib;
        def->workspace = g_build_filename(m->config->workspace_base_dir, j->name, NULL);
        def->created_at = (uint64_t) g_get_real_time();
        def->hypervisor = g_strdup(o->hypervisor);
        def->kernel = g_strdup(o->kernel);
        def->initramfs = g_strdup(o->initramfs);
        def->kernel_cmdline = g_strdup(o->kernel_cmdline);
        def->volume_gib = o->volume_gib;
        def->egress = g_strdup(o->egress);
        def->credentials_directory = g_strdup(o->credentials_directory);
        /* Again: other VMs may have been created, or the directory changed, while polkit
         * was asking. */
        r = limits_check_create(m, j->uid, o->volume_gib, error);
        if (r >= 0)
                r = check_credentials_directory(m, o, j->uid, error);
        if (r < 0) {
                workspace_abort(j->base_fd, j->staging);
                return r;
        }
        r = pick_address(m, o->ip_address, &def->ip_address, &def->mac_address, error);
        if (r < 0) {
                workspace_abort(j->base_fd, j->staging);
                return r;
        }

        r = vm_store_save(m->definitions_dir_fd, def);
        if (r < 0) {
                workspace_abort(j->base_fd, j->staging);
                return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                         "Cannot save the definition of '%s': %s", j->name, strerror(-r));
        }

        r = workspace_commit(j->base_fd, j->staging, j->name);
        if (r < 0) {
                (void) vm_store_remove(m->definitions_dir_fd, j->name);
                workspace_abort(j->base_fd, j->staging);
                if (r == -EEXIST)
                        return sd_bus_error_setf(error, MVM_ERROR_ALREADY_EXISTS,
                                                 "The workspace directory %s already exists.", def->workspace);
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot move the workspace into place: %s",
                                         strerror(-r));
        }

        log_info("Created workspace %s for %s (uid %u), %u vCPUs, %" G_GUINT64_FORMAT " MiB, %s.",
                 def->workspace, pw ? pw->pw_name : "?", j->uid, def->vcpus, def->memory_mib, def->ip_address);
        vm = vm_new(m, g_steal_pointer(&def));
        manager_add_vm(m, vm);
        *ret_path = vm->object_path;
        return 0;
}

static bool has_boot_overrides(const CreateOptions *o) {
        return o->kernel || o->initramfs || o->kernel_cmdline;
}

static int method_create_workspace(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(create_options_clear) CreateOptions options = {};
        g_autofree char *owner = NULL, *owner_uid = NULL;
        Manager *m = userdata;
        const char *name;
        uid_t uid;
        int r;

        /* Runs again from here once polkit has answered (see auth_verify()): every check is
         * made again against what is there by then. */
        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = check_name(name, error);
        if (r < 0)
                return r;
        r = create_options_parse(msg, m->config, &options, error);
        if (r < 0)
                return r;
        r = check_name_free(m, name, error);
        if (r < 0)
                return r;
        /* Refuse a taken or foreign address before asking anyone for a password. */
        {
                g_autofree char *ip = NULL, *mac = NULL;
                r = pick_address(m, options.ip_address, &ip, &mac, error);
                if (r < 0)
                        return r;
        }
        r = bus_message_get_caller_uid(msg, &uid);
        if (r < 0)
                return r;
        r = limits_check_create(m, uid, options.volume_gib, error);
        if (r < 0)
                return r;
        r = check_credentials_directory(m, &options, uid, error);
        if (r < 0)
                return r;

        owner = manager_user_name(uid);
        owner_uid = g_strdup_printf("%u", uid);
        /* What admins' rules may weigh: the size and the choices, as they will be. */
        g_autofree char *vcpus = g_strdup_printf("%" PRIu32, options.vcpus);
        g_autofree char *memory_mib = g_strdup_printf("%" PRIu64, options.memory_mib);
        g_autofree char *volume_gib = g_strdup_printf("%" PRIu64, options.volume_gib);
        const char *egress = mvm_egress_to_string(mvm_egress_effective(m->config->egress, options.egress));
        const char *details[] = {
                "vm", name, "owner", owner, "owner-uid", owner_uid, "verb", "create",
                "vcpus", vcpus, "memory-mib", memory_mib, "volume-gib", volume_gib,
                "hypervisor", options.hypervisor ?: m->config->default_hypervisor, "egress", egress,
                "credentials-directory", options.credentials_directory ?: "", NULL,
        };
        r = auth_verify(m, msg, MVM_ACTION_CREATE, details, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1; /* polkit is asked; the call comes back here with the answer */

        /* Overriding the guest's kernel, initramfs or command line is an action of its own,
         * asked once create is allowed, with what is overridden in the details: admins
         * decide who may boot what. */
        if (has_boot_overrides(&options)) {
                const char *boot_details[] = {
                        "vm", name, "owner", owner, "owner-uid", owner_uid, "verb", "create",
                        "kernel", options.kernel ?: "", "initramfs", options.initramfs ?: "",
                        "kernel-cmdline", options.kernel_cmdline ?: "", NULL,
                };
                r = auth_verify(m, msg, MVM_ACTION_CUSTOM_BOOT, boot_details, error);
                if (r < 0)
                        return r;
                if (r == 0)
                        return 1;
        }

        r = create_workspace(m, msg, name, uid, &options, error);
        if (r < 0)
                return r;
        /* The worker thread's job answers the call. */
        return 1;
}

/* The Manager's per-VM methods: NAME, then the same as the VM object's method. */
static int method_vm_verb(sd_bus_message *msg, Manager *m, VmVerb verb, sd_bus_error *error) {
        const char *name;
        Vm *vm;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = check_name(name, error);
        if (r < 0)
                return r;
        vm = manager_get_vm(m, name);
        if (!vm)
                return sd_bus_error_setf(error, MVM_ERROR_NO_SUCH_VM, "There is no VM named '%s'.", name);
        return vm_bus_request(m, msg, vm, verb, error);
}

static int method_delete_workspace(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_vm_verb(msg, userdata, VM_VERB_DELETE, error);
}

static int method_start_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_vm_verb(msg, userdata, VM_VERB_START, error);
}

static int method_stop_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_vm_verb(msg, userdata, VM_VERB_STOP, error);
}

static int method_restart_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return method_vm_verb(msg, userdata, VM_VERB_RESTART, error);
}

/* With thousands of VMs the reply is the cost: the sorted list is kept (see
 * manager_vms_by_name()) and each entry is appended without parsing a signature. */
static int method_list_vms(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        GPtrArray *vms = manager_vms_by_name(m);
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssso)");
        if (r < 0)
                return r;
        for (guint i = 0; i < vms->len; i++) {
                const Vm *vm = vms->pdata[i];

                r = sd_bus_message_open_container(reply, 'r', "ssso");
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 's', vm->def->name);
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 's', vm_state_to_string(vm->state));
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 's', vm->def->ip_address ?: "");
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 'o', vm->object_path);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_vm(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name;
        Vm *vm;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        r = check_name(name, error);
        if (r < 0)
                return r;
        vm = manager_get_vm(m, name);
        if (!vm)
                return sd_bus_error_setf(error, MVM_ERROR_NO_SUCH_VM, "There is no VM named '%s'.", name);
        return sd_bus_reply_method_return(msg, "o", vm->object_path);
}

static int property_get_config(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Manager *m = userdata;
        const MvmConfig *c = m->config;

        if (strcmp(property, "Version") == 0)
                return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
        if (strcmp(property, "WorkspaceBaseDir") == 0)
                return sd_bus_message_append(reply, "s", c->workspace_base_dir);
        if (strcmp(property, "DefaultVCPUs") == 0)
                return sd_bus_message_append(reply, "u", c->default_vcpus);
        if (strcmp(property, "DefaultMemoryMiB") == 0)
                return sd_bus_message_append(reply, "t", c->default_memory_mib);
        if (strcmp(property, "MaxVCPUs") == 0)
                return sd_bus_message_append(reply, "u", c->max_vcpus);
        if (strcmp(property, "MaxMemoryMiB") == 0)
                return sd_bus_message_append(reply, "t", c->max_memory_mib);
        if (strcmp(property, "DefaultCredentialsDirectory") == 0)
                return sd_bus_message_append(reply, "s", c->default_credentials_directory);
        return -EINVAL;
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("WorkspaceBaseDir", "s", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DefaultVCPUs", "u", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DefaultMemoryMiB", "t", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxVCPUs", "u", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxMemoryMiB", "t", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DefaultCredentialsDirectory", "s", property_get_config, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("CreateWorkspace",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_RESULT("o", vm),
                                method_create_workspace, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteWorkspace",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_delete_workspace, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartVM",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_start_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopVM",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_stop_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RestartVM",
                                SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_restart_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListVMs",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssso)", vms),
                                method_list_vms, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetVM",
                                SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("o", vm),
                                method_get_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
