/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "mvm-vmdef.h"
#include "virtiofsd.h"
#include "vm-host.h"

typedef struct HypervisorBackend HypervisorBackend;

/* The transient units of a VM, as UnitPropertiesBuilder functions (systemd-client.h). */

/* The hypervisor's environment names its backend, for a microvmd that finds it running. */
#define HYPERVISOR_ENV "MICROVM_HYPERVISOR="
/* setpriv makes the hypervisor the VM's own uid, which has no user database entry. */
#define SETPRIV "/usr/bin/setpriv"

/* One share's virtiofsd: a socket unit with its service (the auxiliary unit). */
typedef struct ShareUnitData {
        const MvmVmDef *def;
        const VmShare *share;
        const char *hypervisor_unit;
        uid_t vmm_uid;          /* the VM's hypervisor: the only one that may connect */
        const Virtiofsd *virtiofsd;
        const char *owner_name; /* runs the Rust virtiofsd */
} ShareUnitData;

int vm_unit_share_socket(sd_bus_message *msg, void *data);
int vm_unit_share_service(sd_bus_message *msg, void *data);

typedef struct HypervisorUnitData {
        const MvmVmDef *def;
        const HypervisorBackend *backend;
        char **argv;
        const char *runtime_dir;
        const ShareSet *shares;
        const char *volume;
        uid_t vmm_uid;
        uint64_t start_timeout_usec;   /* [Hypervisor] StartTimeoutSec= */
} HypervisorUnitData;

int vm_unit_hypervisor(sd_bus_message *msg, void *data);
