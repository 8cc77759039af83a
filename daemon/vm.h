/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "mvm-config.h"
#include "mvm-vmdef.h"

typedef struct Manager Manager;
typedef struct HypervisorBackend HypervisorBackend;
typedef struct GuestChannel GuestChannel;
typedef struct HypervisorRequest HypervisorRequest;

/* The lifecycle states of the API; in this version every VM is stopped. */
typedef enum VmState {
        VM_STATE_STOPPED,
        VM_STATE_STARTING,
        VM_STATE_RUNNING,
        VM_STATE_STOPPING,
        VM_STATE_FAILED,
} VmState;

typedef struct VmStartOp VmStartOp;

/* DroppedPackets is read from the kernel at most this often per VM. */
#define DROPPED_PACKETS_MAX_AGE_USEC (250 * 1000)

typedef struct Vm {
        Manager *manager;
        MvmVmDef *def;
        VmState state;                     /* derived from the facts below by vm_update() */
        char *object_path;
        char *unit;                        /* microvm-NAME.service: the hypervisor's */

        /* Runtime state; none of it is persisted: after a restart of microvmd it is
         * read back from the VM's unit. */
        const HypervisorBackend *backend;  /* while not stopped */
        char *tap;                         /* while not stopped */
        uint64_t dropped_packets;          /* DroppedPackets as last read */
        uint64_t dropped_read_at;          /* CLOCK_MONOTONIC of that read; 0: none this run */
        char *share_server;                /* what serves its shares, while not stopped */
        uint32_t main_pid;
        uint64_t started_at;               /* CLOCK_REALTIME usec */
        char *failure_reason;              /* why it is failed */

        /* Facts, as their sources last said (vm-runtime.c). */
        char *unit_state;                  /* the unit's ActiveState (PID 1); NULL: not heard of in this run */
        char *unit_result;                 /* the service's Result (PID 1) */
        int32_t exit_code, exit_status;    /* ExecMainCode/Status (PID 1) */
        VmStartOp *start_op;               /* a start before PID 1 accepted the hypervisor's unit */
        bool start_job_pending;            /* the hypervisor's start job runs */
        char *start_job_result;            /* how it ended, in this run */
        char *start_error;                 /* a unit of this run was refused (the run fails) */
        bool hypervisor_up;                /* its control socket exists: it listens */
        bool start_timed_out;              /* ... not within the start time-out */
        bool stop_requested;
        bool restart_requested;
        bool properties_changed;           /* emit PropertiesChanged at the next update */

        sd_event_source *update_source;    /* the queued vm_update() */
        sd_event_source *control_watch;    /* inotify on the runtime directory, until hypervisor_up */
        sd_event_source *start_timer;      /* the start time-out */
        sd_bus_slot *stop_call;            /* StopUnit/KillUnit in flight */
        bool unit_stop_sent;               /* this run: PID 1 stops the unit, no more presses */
        GPtrArray *start_waiters;          /* sd_bus_message*: reply once running */
        GPtrArray *launch_waiters;         /* sd_bus_message*: reply once its units exist */
        GPtrArray *stop_waiters;           /* sd_bus_message*: reply once stopped */
        sd_event_source *stop_timer;       /* power button given up: stop the unit; a hung hypervisor's SIGTERM: kill it */
        HypervisorRequest *power_off_request; /* a press of the power button under way */
        HypervisorRequest *state_request;  /* the hypervisor asked how the VM is (after a restart) */
        bool ready;                        /* the guest's sshd answers */
        sd_event_source *ready_timer;      /* knocking on VM:22 */
        sd_event_source *ready_io;
        int ready_fd;
        uint64_t ready_probe_started;      /* CLOCK_MONOTONIC */
        GuestChannel *guest_channel;       /* while running: what its guest says (guest-channel.c) */
} Vm;

Vm *vm_new(Manager *m, MvmVmDef *def);
void vm_free(Vm *vm);

const char *vm_state_to_string(VmState state);

/* Each VM's hypervisor runs under an identity of its own, uid = gid = VM_UID_BASE + the
 * index of the VM's address in the subnet (unique among VMs, fixed at creation): a range
 * systemd leaves unused (65536-524287, below the container ranges). It owns that VM's
 * runtime directory, sockets, tap and volume, and nothing of any other VM. */
#define VM_UID_BASE 458752u
#define VM_UID_COUNT 65536u

/* The VM's hypervisor uid (= gid); -EINVAL when it has no address in the subnet. */
int vm_hypervisor_uid(const Vm *vm, uid_t *ret);

/* The VM's effective egress policy: the config's, or the VM's own if that is stricter. */
MvmEgress vm_egress(const Vm *vm);

/* microvm-NAME.service: the hypervisor's unit. */
char *vm_unit_name(const char *name);
/* microvm-NAME-fs_TAG.{socket,service}: a share's virtiofsd. */
char *vm_share_unit_name(const char *name, const char *tag, const char *suffix);
