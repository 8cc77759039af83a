/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <polkit/polkit.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "guest-build.h"
#include "mvm-config.h"
#include "mvm-net.h"
#include "network.h"
#include "network-worker.h"
#include "systemd-client.h"
#include "virtiofsd.h"

typedef struct Vm Vm;

/* The one context of microvmd. */
typedef struct Manager {
        MvmConfig *config;

        sd_event *event;
        sd_event_source *sigterm_source, *sigint_source;
        sd_bus *bus;
        GMainLoop *loop;
        GSource *event_source;

        PolkitAuthority *polkit;
        GThread *polkit_thread;      /* connects to polkit while the rest starts up */
        GError *polkit_error;
        GCancellable *cancellable;   /* cancels polkit checks in flight at exit */
        GHashTable *auth_queries;    /* method call → AuthQuery*: its polkit answers until it is dispatched again */

        GHashTable *vms;             /* name → Vm*, owned */
        GHashTable *units;           /* hypervisor unit name → Vm* */
        GPtrArray *vms_by_name;      /* the same Vm*s sorted by name, NULL when to be redone */
        SystemdClient *systemd;      /* PID 1 */
        GuestBuild guest_build;      /* microvm-guest.service, started with microvmd */
        GHashTable *log_followers;   /* uid → GetLogs(follow) running for it */

        int definitions_dir_fd;      /* /var/lib/microvm/vms */

        Virtiofsd virtiofsd;         /* what serves the shares, probed when first needed */

        MvmSubnet subnet;            /* [Network] Subnet, parsed */
        Network network;             /* the network worker's (see network.h) */
        NetworkWorker *network_worker;
        bool exiting;                /* SIGTERM/SIGINT: queued calls are refused (Busy) */
} Manager;

int manager_new(MvmConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

/* Loads the VM definitions; an invalid file is logged and skipped. */
int manager_load_vms(Manager *m);

/* Connects to the system bus, registers the objects and takes the bus name. */
int manager_connect_bus(Manager *m);

int manager_run(Manager *m);

Vm *manager_get_vm(Manager *m, const char *name);

/* Takes ownership of vm and announces it on the bus. */
void manager_add_vm(Manager *m, Vm *vm);

/* Announces the removal on the bus and frees vm. */
void manager_remove_vm(Manager *m, Vm *vm);

/* All VMs sorted by name (borrowed, valid until a VM is added or removed): sorted once,
 * not for every ListVMs. */
GPtrArray *manager_vms_by_name(Manager *m);

/* Whether any VM is not stopped (its hypervisor unit exists). */
bool manager_any_vm_active(Manager *m);

/* The virtiofsd of [Hypervisor] Virtiofsd=, probed (again when the binary changed);
 * org.microvm.Error.HypervisorNotFound when there is none or it is of no known kind. */
int manager_get_virtiofsd(Manager *m, const Virtiofsd **ret, sd_bus_error *error);

/* Resolves a uid to a user name for messages and polkit details (the number if the
 * user has no entry). */
char *manager_user_name(uid_t uid);
