/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest channel of a running VM (protocol: common/mvm-guest-channel.h): microvmd
 * listens on a unix socket in the VM's runtime directory, its hypervisor connects and
 * carries the guest's lines. What the guest says only sets facts of its own VM: it
 * listens to the power button (armed), its sshd listens (Ready), it shuts down. */

#include <stdbool.h>
#include <sys/types.h>

typedef struct Vm Vm;

/* Listens on RUNTIME_DIR/SOCKET_NAME for the VM's hypervisor (the peer must be uid
 * vmm_uid); a stale socket file is replaced. A new guest has said nothing yet; one found
 * running by a new microvmd (reconnecting) may have said it all to the previous one and
 * says it again once its hypervisor reconnected: its facts are unknown until then. */
int guest_channel_open(Vm *vm, const char *runtime_dir, const char *socket_name, uid_t vmm_uid, bool reconnecting);
void guest_channel_close(Vm *vm);

/* Whether the guest said it listens to the power button in this run. */
bool guest_channel_armed(const Vm *vm);
/* Whether nothing was heard yet from a guest found running (see guest_channel_open()). */
bool guest_channel_facts_unknown(const Vm *vm);

/* Calls press(vm) again every half second until the guest says it is shutting down (a
 * press just before the guest listened is lost) or guest_channel_close(). Facts unknown
 * and still nothing heard after a few seconds: give_up(vm), the guest does not listen. */
int guest_channel_press_until_heard(Vm *vm, int (*press)(Vm *vm), void (*give_up)(Vm *vm));
