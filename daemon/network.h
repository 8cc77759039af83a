/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include <glib.h>

#include "firewall.h"
#include "mvm-config.h"
#include "mvm-net.h"

/* The VM network: a bridge with the host's address, a tap per running VM, forwarding,
 * and microvmd's own nftables tables (NAT out of the uplink, nothing in from outside,
 * VMs apart from each other). Set up with the first running VM, removed after the last.
 *
 * Every call waits for the kernel (netlink, nftables: removing a tap or a table waits
 * for RCU grace periods, tens of milliseconds): while microvmd runs they are made in one
 * worker thread, in order (network-worker.c), never in the event loop. Only the start-up
 * reconcile and the exit, when that thread is idle, call them directly. */
typedef struct Network {
        const MvmConfig *config;     /* borrowed: [Network] */
        MvmSubnet subnet;            /* [Network] Subnet, parsed */
        bool up;                     /* bridge, forwarding and nftables tables in place */
} Network;

/* Brings the bridge, forwarding and the nftables tables up (idempotent); updates the
 * DNS servers VMs may reach. An existing bridge of that name is adopted only if it has
 * the host's address. Returns 1 when it (re)built the tables, so that the per-VM rules
 * of VMs still running must be added again, 0 when they were up. */
int network_ensure(Network *n, sd_bus_error *error);

/* Removes what network_ensure() added. */
void network_release(Network *n);

/* Whether an earlier network_ensure() (maybe of a crashed microvmd) left its record. */
bool network_has_state(void);

/* Creates the persistent tap (owned by uid and gid owner: the VM's hypervisor), attaches
 * it to the bridge and brings it up. */
int network_tap_add(Network *n, const char *tap, uid_t owner, sd_bus_error *error);
void network_tap_remove(Network *n, const char *tap);

/* Adds (or replaces) the VM's anti-spoofing and egress rules and pins the host's
 * neighbour entry for its address to its MAC. */
int network_vm_add(Network *n, const FirewallVm *vm, sd_bus_error *error);
void network_vm_remove(Network *n, const char *tap, const char *ip);

/* Pins the host's neighbour entry for a running VM again: an adopted bridge whose MAC
 * follows its ports flushes them when a tap joins. */
int network_vm_pin(Network *n, const char *ip, const char *mac);

/* Packets the policy dropped for the VM of tap since its rules were added; -ENOENT
 * when it has none, -EBUSY (at once) while the network worker runs nft. */
int network_vm_dropped(const char *tap, uint64_t *ret);

/* Deletes taps of ours (MVM_TAP_PREFIX) not in the set in_use (tap names). */
void network_remove_stale_taps(Network *n, GHashTable *in_use);

/* The DNS servers for guests: configured, or the host's upstream resolvers. */
char **network_guest_dns(const MvmConfig *config);
