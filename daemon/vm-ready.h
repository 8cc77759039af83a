/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

typedef struct Vm Vm;

/* Whether the guest's sshd answers: microvmd knocks on VM:22 once a second while the VM
 * runs, and sets the Ready property when an SSH banner comes back. */
void vm_ready_watch_start(Vm *vm);
void vm_ready_watch_stop(Vm *vm);

/* The guest said its sshd listens (on the guest channel): Ready now, no more knocking. */
void vm_ready_from_guest(Vm *vm);
