/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "bus.h"
#include "config.h"
#include "event-glue.h"
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "network.h"
#include "systemd-client.h"
#include "vm-runtime.h"
#include "vm-store.h"
#include "vm.h"
#include "workspace.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>

/* polkit's client connects to the system bus and asks for polkitd (a few ms, more when
 * polkitd must be started): done beside the loading of the definitions and the
 * reconcile rather than after them. manager_run() waits for it before any call is
 * dispatched. */
static void *polkit_connect_thread(void *userdata) {
        Manager *m = userdata;

        return polkit_authority_get_sync(NULL, &m->polkit_error);
}

static void polkit_connect_start(Manager *m) {
        sigset_t mask, saved;

        /* The thread, and GDBus's worker thread it makes, must block the signals that
         * manager_run() handles in the main loop (threads inherit the mask): delivered
         * to a thread that does not block it, SIGTERM would end microvmd at once. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, &saved);
        m->polkit_thread = g_thread_try_new("polkit-connect", polkit_connect_thread, m, NULL);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (!m->polkit_thread)
                m->polkit = polkit_connect_thread(m);
}

static void polkit_connect_wait(Manager *m) {
        if (!m->polkit_thread)
                return;
        m->polkit = g_thread_join(g_steal_pointer(&m->polkit_thread));
}

int manager_new(MvmConfig *config, Manager **ret) {
        g_autoptr(Manager) m = g_new0(Manager, 1);
        sigset_t mask;
        int r;

        /* Blocked before any thread exists (polkit's connection, the network worker,
         * GLib's thread spawner): a thread that has them unblocked would take SIGTERM with
         * its default action and kill microvmd instead of the event loop reading it. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        m->config = config;
        m->definitions_dir_fd = -1;
        m->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) vm_free);
        m->auth_queries = g_hash_table_new(g_direct_hash, g_direct_equal);
        m->units = g_hash_table_new(g_str_hash, g_str_equal);
        m->log_followers = g_hash_table_new(NULL, NULL);
        m->cancellable = g_cancellable_new();
        m->loop = g_main_loop_new(NULL, FALSE);

        /* The config loader validated it. */
        r = mvm_subnet_parse(config->subnet, &m->subnet);
        if (r < 0)
                return r;

        m->network = (Network) { .config = config, .subnet = m->subnet };

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        m->event_source = event_glue_attach(m->event);
        r = network_worker_new(&m->network, m->event, &m->network_worker);
        if (r < 0)
                return r;

        r = vm_store_open(MICROVM_STATE_DIR);
        if (r < 0) {
                log_error("Cannot open %s/vms: %s (it must be a directory owned by root that "
                          "nobody else can write).", MICROVM_STATE_DIR, strerror(-r));
                return r;
        }
        m->definitions_dir_fd = r;

        polkit_connect_start(m);

        *ret = g_steal_pointer(&m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        auth_cancel_all(m);
        polkit_connect_wait(m);
        g_clear_object(&m->polkit);
        g_clear_error(&m->polkit_error);
        g_clear_object(&m->cancellable);
        g_clear_pointer(&m->auth_queries, g_hash_table_unref);
        g_clear_pointer(&m->units, g_hash_table_unref);
        g_clear_pointer(&m->log_followers, g_hash_table_unref);
        g_clear_pointer(&m->vms_by_name, g_ptr_array_unref);
        g_clear_pointer(&m->vms, g_hash_table_unref); /* cancels their network jobs: before the worker */
        m->network_worker = network_worker_free(m->network_worker);
        guest_build_clear(&m->guest_build, m->systemd);
        m->systemd = systemd_client_free(m->systemd);
        virtiofsd_done(&m->virtiofsd);

        if (m->bus) {
                sd_bus_flush(m->bus);
                m->bus = sd_bus_flush_close_unref(m->bus);
        }
        if (m->event_source) {
                g_source_destroy(m->event_source);
                g_source_unref(m->event_source);
        }
        m->sigterm_source = sd_event_source_unref(m->sigterm_source);
        m->sigint_source = sd_event_source_unref(m->sigint_source);
        m->event = sd_event_unref(m->event);
        g_clear_pointer(&m->loop, g_main_loop_unref);
        if (m->definitions_dir_fd >= 0)
                close(m->definitions_dir_fd);
        mvm_config_free(m->config);
        g_free(m);
        return NULL;
}

int manager_load_vms(Manager *m) {
        g_autoptr(GPtrArray) defs = vm_store_load_all(m->definitions_dir_fd);
        _cleanup_close_ int base_fd = -1;

        while (defs->len > 0) {
                MvmVmDef *def = g_ptr_array_steal_index_fast(defs, defs->len - 1);
                Vm *vm = vm_new(m, def);

                g_hash_table_replace(m->vms, def->name, vm);
                g_hash_table_replace(m->units, vm->unit, vm);
        }
        g_clear_pointer(&m->vms_by_name, g_ptr_array_unref);
        log_info("Loaded %u VM definitions.", g_hash_table_size(m->vms));

        /* Leftovers of calls interrupted by a crash or power loss. */
        base_fd = workspace_open_base(m->config->workspace_base_dir);
        if (base_fd >= 0)
                workspace_clean_staging(base_fd);
        else
                log_warning("Cannot open the workspace base directory %s: %s",
                            m->config->workspace_base_dir, strerror(-base_fd));
        return 0;
}

Vm *manager_get_vm(Manager *m, const char *name) {
        return g_hash_table_lookup(m->vms, name);
}

void manager_add_vm(Manager *m, Vm *vm) {
        g_clear_pointer(&m->vms_by_name, g_ptr_array_unref);
        g_hash_table_replace(m->vms, vm->def->name, vm);
        g_hash_table_replace(m->units, vm->unit, vm);
        if (m->bus)
                (void) sd_bus_emit_object_added(m->bus, vm->object_path);
}

void manager_remove_vm(Manager *m, Vm *vm) {
        if (m->systemd)
                systemd_forget_jobs(m->systemd, vm);
        g_hash_table_remove(m->units, vm->unit);
        /* InterfacesRemoved is built from the object, so announce it while it exists. */
        if (m->bus)
                (void) sd_bus_emit_object_removed(m->bus, vm->object_path);
        g_clear_pointer(&m->vms_by_name, g_ptr_array_unref);
        g_hash_table_remove(m->vms, vm->def->name);
}

static int compare_vm_names(gconstpointer a, gconstpointer b) {
        return strcmp((*(Vm *const *) a)->def->name, (*(Vm *const *) b)->def->name);
}

GPtrArray *manager_vms_by_name(Manager *m) {
        GHashTableIter it;
        gpointer value;

        if (m->vms_by_name)
                return m->vms_by_name;
        m->vms_by_name = g_ptr_array_sized_new(g_hash_table_size(m->vms));
        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value))
                g_ptr_array_add(m->vms_by_name, value);
        g_ptr_array_sort(m->vms_by_name, compare_vm_names);
        return m->vms_by_name;
}

bool manager_any_vm_active(Manager *m) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->vms);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmState s = ((Vm *) value)->state;
                if (s != VM_STATE_STOPPED && s != VM_STATE_FAILED)
                        return true;
        }
        return false;
}

int manager_get_virtiofsd(Manager *m, const Virtiofsd **ret, sd_bus_error *error) {
        int r = virtiofsd_probe(&m->virtiofsd, m->config->virtiofsd_path);

        if (r == -ENOENT)
                return sd_bus_error_setf(error, MVM_ERROR_HYPERVISOR_NOT_FOUND,
                                         "virtiofsd not found (%s; auto looks for " VIRTIOFSD_RUST_PATH " and "
                                         VIRTIOFSD_QEMU_PATH ").", m->config->virtiofsd_path);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_HYPERVISOR_NOT_FOUND,
                                         "Cannot tell which virtiofsd [Hypervisor] Virtiofsd=%s is: %s.",
                                         m->config->virtiofsd_path,
                                         r == -EPROTO ? "its --version is neither QEMU's nor the Rust one's"
                                                      : strerror(-r));
        *ret = &m->virtiofsd;
        return 0;
}

char *manager_user_name(uid_t uid) {
        struct passwd *pw = getpwuid(uid);

        return pw ? g_strdup(pw->pw_name) : g_strdup_printf("%u", uid);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received signal %u, exiting.", si->ssi_signo);
        m->exiting = true;
        g_main_loop_quit(m->loop);
        return 0;
}

/* Once microvmd is leaving, a call that is still queued is answered, not begun: nothing
 * may start what the exit would cut short. */
static int on_message_while_exiting(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *interface = sd_bus_message_get_interface(msg);

        if (!m->exiting || !sd_bus_message_is_method_call(msg, NULL, NULL) ||
            !g_str_has_prefix(interface ?: "", "org.microvm."))
                return 0;
        (void) sd_bus_reply_method_errorf(msg, MVM_ERROR_BUSY, "microvmd is stopping; call again.");
        return 1;
}

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        log_warning("Lost the connection to the system bus, exiting.");
        g_main_loop_quit(m->loop);
        return 0;
}

int manager_connect_bus(Manager *m) {
        int r;

        r = sd_bus_default_system(&m->bus);
        if (r < 0) {
                log_error("Cannot connect to the system bus: %s", strerror(-r));
                return r;
        }
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        r = sd_bus_add_filter(m->bus, NULL, on_message_while_exiting, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(m->bus, NULL, MVM_MANAGER_PATH, MVM_MANAGER_INTERFACE,
                                     manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, MVM_VM_PATH_PREFIX, MVM_VM_INTERFACE, vm_vtable,
                                       vm_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, NULL, MVM_VM_PATH_PREFIX, vm_node_enumerator, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_manager(m->bus, NULL, MVM_MANAGER_PATH);
        if (r < 0)
                return r;
        r = sd_bus_match_signal(m->bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, m);
        if (r < 0)
                return r;

        r = systemd_client_new(m->bus, vm_runtime_on_unit_changed, m, &m->systemd);
        if (r < 0) {
                log_error("Cannot subscribe to systemd's signals: %s", strerror(-r));
                return r;
        }
        /* All VMs together, from [Limits]: for this boot, whoever owns them. */
        r = systemd_set_slice_limits(m->systemd, "microvm.slice",
                                     m->config->vms_memory_max_mib ? m->config->vms_memory_max_mib << 20 : UINT64_MAX,
                                     m->config->vms_cpu_weight);
        if (r < 0)
                log_warning("Cannot ask systemd to limit microvm.slice: %s", strerror(-r));
        /* VMs kept running while microvmd was away; know them before anyone asks. */
        vm_runtime_reconcile(m);
        vm_runtime_reconcile_network(m);

        /* The guest build, now that the definitions are loaded. Nothing waits for it but
         * the starts of VMs that boot the built guest (vm_start()); it is pending before
         * any caller can reach us. */
        (void) guest_build_start(&m->guest_build, m->systemd);

        /* The objects are in place before the name is, so no early caller sees a gap. */
        r = sd_bus_request_name(m->bus, MVM_BUS_NAME, 0);
        if (r < 0) {
                log_error("Cannot own the bus name %s: %s", MVM_BUS_NAME, strerror(-r));
                return r;
        }

        vm_runtime_autostart(m);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        /* Before any bus message that is already queued (see on_message_while_exiting). */
        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->sigterm_source, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_signal, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->sigint_source, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0)
                return r;

        /* Without polkit only root can do anything; say so rather than fail. */
        polkit_connect_wait(m);
        if (!m->polkit)
                log_warning("polkit is not available (%s); only root can make changes.",
                            m->polkit_error ? m->polkit_error->message : "unknown error");

        log_info("microvmd %s running.", PACKAGE_VERSION);
        g_main_loop_run(m->loop);

        /* Running VMs outlive microvmd and keep their network; otherwise leave nothing
         * (once the stops' teardowns queued for the network are done). */
        network_worker_drain(m->network_worker);
        if (m->network.up && !manager_any_vm_active(m))
                network_release(&m->network);
        return 0;
}
