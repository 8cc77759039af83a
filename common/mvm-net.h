/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Addresses of the VM network: an IPv4 subnet on the bridge, the host at the first
 * address, VMs from the second on. Addresses are host byte order uint32_t here. */

typedef struct MvmSubnet {
        uint32_t network;   /* e.g. 192.168.83.0 */
        unsigned prefix;    /* e.g. 24 */
} MvmSubnet;

/* Parses "A.B.C.D/N" (N from 16 to 30; the address must be the network address). */
int mvm_subnet_parse(const char *s, MvmSubnet *ret);

uint32_t mvm_subnet_netmask(const MvmSubnet *s);
uint32_t mvm_subnet_broadcast(const MvmSubnet *s);
/* The host's (bridge's) address: the first one. */
uint32_t mvm_subnet_gateway(const MvmSubnet *s);
/* Whether a is an address a VM may have: in the subnet, not the network, broadcast or
 * gateway address. */
bool mvm_subnet_is_vm_address(const MvmSubnet *s, uint32_t a);

int mvm_ipv4_parse(const char *s, uint32_t *ret);

/* Parses a network "A.B.C.D/N" (N from 0 to 32, no host bits set) or a single address
 * "A.B.C.D" (as /32); for the egress policy's AllowedNetworks=. */
int mvm_cidr_parse(const char *s, MvmSubnet *ret);
/* "A.B.C.D/N". */
char *mvm_cidr_to_string(const MvmSubnet *s);
char *mvm_ipv4_to_string(uint32_t a);

/* The lowest VM address not in used (a set of GUINT_TO_POINTER(address)); -ENOSPC when
 * the subnet is full. */
int mvm_subnet_allocate(const MvmSubnet *s, GHashTable *used, uint32_t *ret);

/* A random locally administered unicast MAC (02:..) not in used (a set of strings). */
char *mvm_mac_generate(GHashTable *used);
bool mvm_mac_is_valid(const char *s);

/* A network interface name: 1 to 15 of [A-Za-z0-9_.-]. */
bool mvm_ifname_is_valid(const char *s);

/* The tap device of the VM with address a: "mvt" and the address's index in the
 * subnet, so it is unique and fits IFNAMSIZ for every VM name. */
char *mvm_tap_name(const MvmSubnet *s, uint32_t a);
#define MVM_TAP_PREFIX "mvt"
