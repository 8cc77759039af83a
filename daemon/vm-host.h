/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "hypervisor.h"
#include "mvm-config.h"
#include "network-worker.h"

typedef struct Manager Manager;
typedef struct Vm Vm;

/* What a VM needs on the host while it runs (vm-host.c), and its one teardown. */

#define VM_N_SHARE_TAGS 3
extern const char *const vm_share_tags[VM_N_SHARE_TAGS];

typedef struct ShareSet {
        VmShare items[VM_N_SHARE_TAGS];
        size_t n;
} ShareSet;

void share_set_clear(ShareSet *s);
const char *share_set_source(const ShareSet *s, const char *tag);
/* The VM's shares: its workspace, the software share, its credentials directory. */
void vm_host_build_shares(Manager *m, const Vm *vm, const char *runtime_dir, ShareSet *s);

/* /run/microvm/NAME: the hypervisor's sockets, owned by its uid. */
char *vm_runtime_dir(const char *name);
int vm_host_runtime_dir_create(const char *name, uid_t owner, sd_bus_error *error);
/* What a runtime directory is renamed to on its way out, in MICROVM_RUNTIME_DIR (no VM
 * name starts with a dot), before its removal in a worker thread. */
#define RUNTIME_REMOVING_PREFIX ".removing-"

void vm_host_runtime_dir_remove(const char *name);
/* Removes (in worker threads) what earlier runs of microvmd left there. */
void vm_host_runtime_removing_clean(void);

bool vm_host_file_exists(const char *path);
/* [Hypervisor] KVM= and /dev/kvm. */
bool vm_host_kvm_available(const MvmConfig *c);

/* A VM's owner, resolved in the main thread for code that runs in worker threads. */
typedef struct VmOwner {
        const char *name;
        uid_t uid;
        gid_t gid;
} VmOwner;

/* A VM's own kernel or initramfs (path, may be NULL: nothing to do), read with its
 * owner's rights and copied into the runtime directory as copy_name for the hypervisor:
 * never a file the owner could not read (another VM's volume, root's files), whatever
 * root or a hypervisor can. Thread-safe. */
int vm_host_copy_boot_override(const VmOwner *owner, uid_t vmm_uid, const char *runtime_dir, const char *path,
                               const char *what, const char *copy_name, char **ret_copy, sd_bus_error *error);

/* Asks the network worker for the network (bridge, tables) if it is not up, then the
 * VM's tap (its name in ret_tap at once) and rules; done gets the answer on the event
 * loop, unless the job in ret_job is cancelled (network_job_cancel()) first. */
int vm_host_network_up(Vm *vm, uid_t vmm_uid, NetworkJobDone done, void *userdata, char **ret_tap,
                       NetworkJob **ret_job, sd_bus_error *error);
/* Asks the network worker to remove the VM's tap and rules, and the network when no other
 * VM runs (unless keep_network). */
void vm_host_network_down(Vm *vm, bool keep_network);

/* The guest's kernel command line: the configured one and microvmd's parameters. */
char *vm_host_kernel_cmdline(const Vm *vm, const ShareSet *shares, const char *volume);

/* Every unit name of the VM (hypervisor, shares' sockets and services), NULL-terminated. */
char **vm_host_unit_names(const char *name);
/* Stops the VM's share units (all, or those in the set loaded), asynchronously. */
void vm_host_stop_share_units(Manager *m, const char *name, GHashTable *loaded);

/* Everything of a run that is over, in one place: its guest channel, its share units,
 * its runtime directory, its tap (and the network when it was the last VM). The VM's
 * state must already say it is down. */
void vm_host_teardown(Vm *vm, bool keep_network);
