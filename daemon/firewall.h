/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "mvm-config.h"

/* The nftables scripts of microvmd's two tables, as text (pure functions: network.c
 * runs them). The guest is assumed hostile:
 *
 * - table bridge microvmd: per tap, a frame must carry the VM's MAC as source, IPv4 its
 *   address, ARP claim only its MAC and address; anything else (IPv6, other ethertypes)
 *   is dropped. A tap is handed only frames for its VM's MAC (or broadcast/multicast).
 *   Without AllowVMToVM, no frame goes from tap to tap.
 * - table ip microvmd: what a VM may reach on the host (input) and beyond (forward), by
 *   its egress policy; DNS to the configured servers under every policy; NAT out of
 *   the uplink.
 *
 * Each VM has its own chains, reached through verdict maps keyed by its tap (bridge)
 * and its address (ip), and a named counter "drop_TAP" in each table that counts what
 * the policy dropped for it. */

/* What microvmd never lets a VM reach with Egress=internet (besides the host itself,
 * which is the input hook's business, and other VMs). */
extern const char *const firewall_blocked_networks[];

typedef struct FirewallParams {
        const char *bridge;
        const char *subnet;             /* "A.B.C.D/N" */
        const char *gateway;            /* the bridge's address */
        const char *uplink;             /* NULL: no NAT */
        bool nat;
        bool allow_vm_to_vm;
        char *const *allowed_networks;  /* "A.B.C.D/N" */
        char *const *allowed_host_ports; /* "tcp:N" / "udp:N" */
} FirewallParams;

/* Replaces both tables as a whole (the per-VM chains too: add them again after). */
char *firewall_base_script(const FirewallParams *p);

/* Sets the DNS servers VMs may reach on port 53 (and nothing else there, unless the
 * policy allows it anyway). */
char *firewall_dns_script(char *const *servers);

typedef struct FirewallVm {
        const char *tap;
        const char *ip;
        const char *mac;
        MvmEgress egress;
} FirewallVm;

/* Adds (replacing) the chains, map entries and counters of one VM. */
char *firewall_vm_add_script(const FirewallParams *p, const FirewallVm *vm);
/* Removes them; succeeds whether or not they exist. */
char *firewall_vm_remove_script(const char *tap, const char *ip);

/* The counters' name for a tap. */
char *firewall_counter_name(const char *tap);
