/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's network from microvm.ip=, microvm.gateway= and microvm.mac=: lo up, the
 * address on the virtio-net interface, a default route. Plain ioctls, no netlink
 * library: one IPv4 address and one route are all there is. */

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "cmdline.h"

typedef struct GuestInterface {
        char name[IFNAMSIZ];
        char mac[18]; /* lower case; "" when unknown */
} GuestInterface;

/* The netmask of a prefix length (0..32), in network byte order. */
struct in_addr guest_prefix_to_netmask(unsigned prefix);

/* The interface to configure among ifs (lo already left out): the one with the MAC when
 * mac is given, else the first one. NULL when there is none; *ret_mac_matched says
 * whether the MAC was found (true when no MAC was asked for). */
const GuestInterface *guest_pick_interface(const GuestInterface *ifs, size_t n, const char *mac,
                                           bool *ret_mac_matched);

/* Lists the interfaces in SYSFS_NET (normally /sys/class/net), lo left out, sorted by
 * name, at most max. Returns how many, or a negative errno. */
int guest_list_interfaces(const char *sysfs_net, GuestInterface *ifs, size_t max);

/* Configures the network as PID 1; waits up to a few seconds for the interface to
 * appear. 0 on success (ifname set), negative errno after logging the problem. */
int guest_network_configure(const GuestConfig *c, char ifname[static IFNAMSIZ]);

/* Brings lo up (with 127.0.0.1/8, which the kernel adds when it goes up). */
int guest_loopback_up(void);
