/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "systemd-client.h"

typedef struct Manager Manager;
typedef struct Vm Vm;

/* The VM lifecycle (vm-runtime.c): the hypervisor runs in the transient unit
 * microvm-NAME.service, each virtiofs share in a socket-activated
 * microvm-NAME-fs_TAG.{socket,service} pair. PID 1's signals drive the state. The
 * start-up reconcile and autostart are in vm-reconcile.c. */

typedef struct VmStartOp VmStartOp;

/* Starts vm. call (may be NULL) is answered once the hypervisor is up, or once its units
 * exist when wait is false. Returns 1 when the answer is left to later, < 0 with error
 * set (then nothing changed). */
int vm_start(Vm *vm, sd_bus_message *call, bool wait, sd_bus_error *error);

/* Stops vm: the power button, then systemd's stop after StopTimeoutSec; force kills it. */
int vm_stop(Vm *vm, sd_bus_message *call, bool force, sd_bus_error *error);

/* Stops (if needed) and starts again; call is answered once it runs again. */
int vm_restart(Vm *vm, sd_bus_message *call, sd_bus_error *error);

/* The backend a start would use now, or NULL if none is usable (error set). */
const struct HypervisorBackend *vm_pick_backend(Vm *vm, sd_bus_error *error);

/* PID 1 reports a change of a unit; userdata is the Manager. */
void vm_runtime_on_unit_changed(const char *unit, const UnitStatus *changes, void *userdata);

/* Re-evaluates vm's state from its facts soon (once, however often it is queued). */
void vm_queue_update(Vm *vm);

/* Frees a start in progress (its VM goes away). */
void vm_start_op_cancel(VmStartOp *op);

/* At start-up: finds the units of VMs that kept running while microvmd was away. */
void vm_runtime_reconcile(Manager *m);

/* Keeps the network of running VMs and removes what a crash left behind. */
void vm_runtime_reconcile_network(Manager *m);

/* After the nftables tables were (re)built: the rules of every VM that still runs. */
void vm_runtime_restore_firewall(Manager *m);

/* Starts the VMs marked autostart that are not running. */
void vm_runtime_autostart(Manager *m);

/* Emits PropertiesChanged for every runtime property of vm. */
void vm_emit_changed(Vm *vm);
