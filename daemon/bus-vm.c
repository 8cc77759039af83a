/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "child.h"
#include "config.h"
#include "fs-util.h"
#include "bus-options.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "network.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "hypervisor.h"
#include "vm-runtime.h"
#include "vm-store.h"
#include "volume.h"
#include "vm.h"
#include "workspace.h"

#include <fcntl.h>
#include <string.h>

/* GetLogs with follow at once, per caller. */
#define LOG_FOLLOWERS_PER_USER 4u

/* The arguments of a verb, read from the call at every dispatch. */
typedef struct VerbArguments {
        DeleteOptions delete_options;
        bool wait;        /* start: reply once running */
        bool force;       /* stop: kill instead of the power button */
        bool autostart;   /* set-autostart */
        bool follow;      /* get-logs */
        uint64_t lines;   /* get-logs: 0 = all */
} VerbArguments;

static const struct {
        const char *name;
        const char *owner_action;
} verbs[] = {
        [VM_VERB_DELETE] = { "delete", MVM_ACTION_DELETE },
        [VM_VERB_START] = { "start", MVM_ACTION_START },
        [VM_VERB_STOP] = { "stop", MVM_ACTION_STOP },
        [VM_VERB_RESTART] = { "restart", MVM_ACTION_START },
        [VM_VERB_SET_AUTOSTART] = { "set-autostart", MVM_ACTION_START },
        [VM_VERB_GET_LOGS] = { "logs", MVM_ACTION_LOGS },
        [VM_VERB_OPEN_CONSOLE] = { "console", MVM_ACTION_CONSOLE },
};

typedef struct LogFollower {
        Manager *manager;
        uid_t uid;   /* whose count it is in, when it follows */
        bool follow;
} LogFollower;

static void on_journalctl_exit(GPid pid, gint status, gpointer user_data) {
        LogFollower *f = user_data;

        g_spawn_close_pid(pid);
        if (f->follow) {
                guint n = GPOINTER_TO_UINT(g_hash_table_lookup(f->manager->log_followers, GUINT_TO_POINTER(f->uid)));
                if (n <= 1)
                        g_hash_table_remove(f->manager->log_followers, GUINT_TO_POINTER(f->uid));
                else
                        g_hash_table_insert(f->manager->log_followers, GUINT_TO_POINTER(f->uid),
                                            GUINT_TO_POINTER(n - 1));
        }
        g_free(f);
}

/* The unit's journal, read by journalctl as root and handed over as a pipe: callers
 * need not be allowed to read the system journal. */
static int get_logs(Manager *m, Vm *vm, sd_bus_message *call, const VerbArguments *args, sd_bus_error *error) {
        g_autofree char *unit = vm_unit_name(vm->def->name);
        g_autofree char *lines = g_strdup_printf("--lines=%" G_GUINT64_FORMAT, args->lines);
        /* Only this definition's runs: not those of an earlier VM of the same name. */
        g_autofree char *since = g_strdup_printf("--since=@%" G_GUINT64_FORMAT ".%06" G_GUINT64_FORMAT,
                                                 vm->def->created_at / G_USEC_PER_SEC,
                                                 vm->def->created_at % G_USEC_PER_SEC);
        g_autoptr(GError) gerror = NULL;
        _cleanup_close_ int read_fd = -1, write_fd = -1;
        const char *argv[] = {
                "/usr/bin/journalctl", "--no-pager", "--quiet", "--output=short-iso", "--unit", unit, since,
                args->lines > 0 ? lines : "--lines=all", args->follow ? "--follow" : NULL, NULL,
        };
        LogFollower *f;
        uid_t uid;
        guint following;
        int fds[2], r;
        GPid pid;

        r = bus_message_get_caller_uid(call, &uid);
        if (r < 0)
                return r;
        /* Each follower is a root journalctl that runs until the caller goes. */
        following = GPOINTER_TO_UINT(g_hash_table_lookup(m->log_followers, GUINT_TO_POINTER(uid)));
        if (args->follow && following >= LOG_FOLLOWERS_PER_USER)
                return sd_bus_error_setf(error, MVM_ERROR_LIMIT_EXCEEDED,
                                         "You follow %u logs already, the most at once; end one first.", following);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        read_fd = fds[0];
        write_fd = fds[1];
        if (!g_spawn_async_with_fds(NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup_unblock_signals, NULL, &pid, -1,
                                    write_fd, -1, &gerror))
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot run journalctl: %s", gerror->message);
        f = g_new0(LogFollower, 1);
        *f = (LogFollower) { .manager = m, .uid = uid, .follow = args->follow };
        if (args->follow)
                g_hash_table_insert(m->log_followers, GUINT_TO_POINTER(uid), GUINT_TO_POINTER(following + 1));
        g_child_watch_add(pid, on_journalctl_exit, f);
        return sd_bus_reply_method_return(call, "h", read_fd) < 0 ? -EIO : 1;
}

static int open_console(Vm *vm, sd_bus_message *call, sd_bus_error *error) {
        g_autofree char *path = NULL;
        _cleanup_close_ int fd = -1;

        if (vm->state != VM_STATE_RUNNING)
                return sd_bus_error_setf(error, MVM_ERROR_NOT_RUNNING, "VM '%s' is not running.", vm->def->name);
        path = g_strdup_printf("%s/%s/console.sock", MICROVM_RUNTIME_DIR, vm->def->name);
        fd = connect_unix_nofollow(path);
        if (fd < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot connect to the console of '%s': %s",
                                         vm->def->name, strerror(-fd));
        return sd_bus_reply_method_return(call, "h", fd) < 0 ? -EIO : 1;
}

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

        if (options->remove_files) {
                r = volume_remove(name);
                if (r < 0)
                        log_warning("Could not remove the volume of %s: %s", name, strerror(-r));
        }
        if (detached)
                workspace_remove_detached_async(base_fd, detached, name);

        log_info("Deleted VM %s%s.", name, options->remove_files ? " and its workspace" : "");
        manager_remove_vm(m, vm);
        return 0;
}

static int delete_vm_checked(Manager *m, Vm *vm, const DeleteOptions *options, sd_bus_error *error) {
        if (vm->state != VM_STATE_STOPPED && vm->state != VM_STATE_FAILED)
                return sd_bus_error_setf(error, MVM_ERROR_BUSY, "VM '%s' is %s; stop it first.", vm->def->name,
                                         vm_state_to_string(vm->state));
        return delete_vm(m, vm, options, error);
}

static int set_autostart(Manager *m, Vm *vm, bool autostart, sd_bus_error *error) {
        int r;

        if (vm->def->autostart == autostart)
                return 0;
        vm->def->autostart = autostart;
        r = vm_store_save(m->definitions_dir_fd, vm->def);
        if (r < 0) {
                vm->def->autostart = !autostart;
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot save the definition of '%s': %s",
                                         vm->def->name, strerror(-r));
        }
        vm_emit_changed(vm);
        return 0;
}

static int read_verb_arguments(sd_bus_message *call, VmVerb verb, VerbArguments *args, sd_bus_error *error) {
        int b, r;

        switch (verb) {
        case VM_VERB_DELETE:
                return delete_options_parse(call, &args->delete_options, error);
        case VM_VERB_START:
                args->wait = true;
                return bool_option_parse(call, MVM_OPTION_WAIT, &args->wait, error);
        case VM_VERB_STOP:
                return bool_option_parse(call, MVM_OPTION_FORCE, &args->force, error);
        case VM_VERB_RESTART:
                return bool_option_parse(call, NULL, NULL, error);
        case VM_VERB_SET_AUTOSTART:
                r = sd_bus_message_read(call, "b", &b);
                if (r < 0)
                        return r;
                args->autostart = b;
                return 0;
        case VM_VERB_GET_LOGS:
                return logs_options_parse(call, &args->follow, &args->lines, error);
        case VM_VERB_OPEN_CONSOLE:
                return 0;
        }
        return -EINVAL;
}

int vm_bus_request(Manager *m, sd_bus_message *call, Vm *vm, VmVerb verb, sd_bus_error *error) {
        g_autofree char *owner = NULL, *owner_uid = NULL, *created_at = NULL;
        VerbArguments args = {};
        uid_t uid;
        int r;

        r = read_verb_arguments(call, verb, &args, error);
        if (r < 0)
                return r;
        r = bus_message_get_caller_uid(call, &uid);
        if (r < 0)
                return r;

        owner = manager_user_name(vm->def->owner);
        owner_uid = g_strdup_printf("%u", vm->def->owner);
        /* Which VM this is: the name may belong to another VM by the time polkit answers
         * (deleted and created again meanwhile), and an answer about one VM must never be
         * used for another. */
        created_at = g_strdup_printf("%" G_GUINT64_FORMAT, vm->def->created_at);
        const char *details[] = {
                "vm", vm->def->name, "owner", owner, "owner-uid", owner_uid, "created-at", created_at,
                "verb", verbs[verb].name, NULL,
        };
        /* Only the owner acts with the verb's own action; anyone else needs manage-any. */
        r = auth_verify(m, call, uid == vm->def->owner ? verbs[verb].owner_action : MVM_ACTION_MANAGE_ANY,
                        details, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1; /* polkit is asked; the call comes back here with the answer */

        switch (verb) {
        case VM_VERB_DELETE:
                r = delete_vm_checked(m, vm, &args.delete_options, error);
                break;
        case VM_VERB_START:
                r = vm_start(vm, call, args.wait, error);
                break;
        case VM_VERB_STOP:
                r = vm_stop(vm, call, args.force, error);
                break;
        case VM_VERB_RESTART:
                r = vm_restart(vm, call, error);
                break;
        case VM_VERB_SET_AUTOSTART:
                r = set_autostart(m, vm, args.autostart, error);
                break;
        case VM_VERB_GET_LOGS:
                r = get_logs(m, vm, call, &args, error);
                break;
        case VM_VERB_OPEN_CONSOLE:
                r = open_console(vm, call, error);
                break;
        default:
                g_assert_not_reached();
        }
        if (r < 0)
                return r;
        if (r == 0)
                return sd_bus_reply_method_return(call, NULL);
        /* r > 0: answered already, or the lifecycle answers once the VM has got there. */
        return 1;
}

static int method_delete(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_DELETE, error);
}

static int method_start(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_START, error);
}

static int method_stop(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_STOP, error);
}

static int method_restart(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_RESTART, error);
}

static int method_get_logs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_GET_LOGS, error);
}

static int method_open_console(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_OPEN_CONSOLE, error);
}

static int method_set_autostart(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Vm *vm = userdata;
        return vm_bus_request(vm->manager, msg, vm, VM_VERB_SET_AUTOSTART, error);
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
        if (strcmp(property, "Unit") == 0) {
                g_autofree char *unit = vm_unit_name(vm->def->name);
                return sd_bus_message_append(reply, "s", unit);
        }
        if (strcmp(property, "Hypervisor") == 0) {
                /* While stopped: the one a start would use now. */
                const HypervisorBackend *b = vm->backend ?: vm_pick_backend(vm, NULL);
                return sd_bus_message_append(reply, "s", b ? b->name : "");
        }
        if (strcmp(property, "IPAddress") == 0)
                return sd_bus_message_append(reply, "s", vm->def->ip_address ?: "");
        if (strcmp(property, "MACAddress") == 0)
                return sd_bus_message_append(reply, "s", vm->def->mac_address ?: "");
        if (strcmp(property, "VolumeGiB") == 0)
                return sd_bus_message_append(reply, "t", vm->def->volume_gib);
        if (strcmp(property, "Ready") == 0)
                return sd_bus_message_append(reply, "b", (int) vm->ready);
        if (strcmp(property, "MainPID") == 0)
                return sd_bus_message_append(reply, "u", vm->main_pid);
        if (strcmp(property, "StartedAt") == 0)
                return sd_bus_message_append(reply, "t", vm->started_at);
        if (strcmp(property, "Autostart") == 0)
                return sd_bus_message_append(reply, "b", (int) vm->def->autostart);
        if (strcmp(property, "FailureReason") == 0)
                return sd_bus_message_append(reply, "s", vm->failure_reason ?: "");
        if (strcmp(property, "Egress") == 0)
                return sd_bus_message_append(reply, "s", mvm_egress_to_string(vm_egress(vm)));
        if (strcmp(property, "CredentialsDirectory") == 0)
                return sd_bus_message_append(reply, "s", vm->def->credentials_directory ?: "");
        if (strcmp(property, "ShareServer") == 0)
                return sd_bus_message_append(reply, "s", vm->share_server ?: "");
        if (strcmp(property, "DroppedPackets") == 0) {
                uint64_t dropped = 0;

                /* Read from the kernel's counters when asked: they change with every packet.
                 * Two nft runs take milliseconds of the event loop, so at most one read per
                 * VM per DROPPED_PACKETS_MAX_AGE_USEC (a caller asking in a loop does not
                 * slow microvmd down for everyone else); in between, and while the network
                 * worker runs nft, the last value read (it is never made to wait). */
                if (vm->tap && vm->state != VM_STATE_STOPPED && vm->state != VM_STATE_FAILED) {
                        uint64_t now = (uint64_t) g_get_monotonic_time();
                        int r = -EBUSY;

                        if (vm->dropped_read_at == 0 || now >= vm->dropped_read_at + DROPPED_PACKETS_MAX_AGE_USEC)
                                r = network_vm_dropped(vm->tap, &dropped);
                        if (r == -EBUSY)
                                dropped = vm->dropped_packets;
                        else if (r >= 0) {
                                vm->dropped_packets = dropped;
                                vm->dropped_read_at = now;
                        }
                }
                return sd_bus_message_append(reply, "t", dropped);
        }
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
        SD_BUS_PROPERTY("Unit", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("IPAddress", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MACAddress", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Hypervisor", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MainPID", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Ready", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VolumeGiB", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartedAt", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Autostart", "b", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FailureReason", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Egress", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CredentialsDirectory", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ShareServer", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* No signal: a counter, read when asked. */
        SD_BUS_PROPERTY("DroppedPackets", "t", property_get, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Delete",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Start",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Stop",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Restart",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT,
                                method_restart, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetAutostart",
                                SD_BUS_ARGS("b", autostart),
                                SD_BUS_NO_RESULT,
                                method_set_autostart, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetLogs",
                                SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("h", fd),
                                method_get_logs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenConsole",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("h", fd),
                                method_open_console, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
