/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "firewall.h"
#include "mvm-net.h"

#include <string.h>

#define TABLE "microvmd"

const char *const firewall_blocked_networks[] = {
        "0.0.0.0/8",      /* "this" network */
        "10.0.0.0/8",     /* private */
        "100.64.0.0/10",  /* carrier-grade NAT */
        "127.0.0.0/8",    /* loopback */
        "169.254.0.0/16", /* link-local: cloud metadata services */
        "172.16.0.0/12",  /* private */
        "192.0.0.0/24",   /* IETF protocol assignments */
        "192.168.0.0/16", /* private */
        "198.18.0.0/15",  /* benchmarking */
        "224.0.0.0/4",    /* multicast */
        "240.0.0.0/4",    /* reserved, broadcast */
        NULL,
};

char *firewall_counter_name(const char *tap) {
        return g_strdup_printf("drop_%s", tap);
}

static void append_elements(GString *s, const char *const *items) {
        if (!items || !items[0])
                return;
        g_string_append(s, " elements = { ");
        for (size_t i = 0; items[i]; i++)
                g_string_append_printf(s, "%s%s", i ? ", " : "", items[i]);
        g_string_append(s, " };");
}

/* "tcp:3128" -> "tcp . 3128". */
static void append_host_ports(GString *s, char *const *ports) {
        if (!ports || !ports[0])
                return;
        g_string_append(s, " elements = { ");
        for (size_t i = 0; ports[i]; i++) {
                const char *colon = strchr(ports[i], ':');
                if (!colon)
                        continue;
                g_string_append_printf(s, "%s%.*s . %s", i ? ", " : "", (int) (colon - ports[i]), ports[i],
                                       colon + 1);
        }
        g_string_append(s, " };");
}

char *firewall_base_script(const FirewallParams *p) {
        GString *s = g_string_new(NULL);
        const char *br = p->bridge;

        /* Create-then-delete, so that the replacement works whether or not they exist. */
        g_string_append(s, "table ip " TABLE "\ndelete table ip " TABLE "\n");
        g_string_append(s, "table bridge " TABLE "\ndelete table bridge " TABLE "\n");

        g_string_append(s, "table ip " TABLE " {\n  set blocked { type ipv4_addr; flags interval;");
        append_elements(s, firewall_blocked_networks);
        g_string_append(s, " }\n  set allowed_networks { type ipv4_addr; flags interval;");
        append_elements(s, (const char *const *) p->allowed_networks);
        g_string_append(s, " }\n  set dns_servers { type ipv4_addr; }\n");
        g_string_append(s, "  set host_ports { type inet_proto . inet_service;");
        append_host_ports(s, p->allowed_host_ports);
        g_string_append(s, " }\n");
        g_string_append(s, "  map vm_input { type ipv4_addr : verdict; }\n");
        g_string_append(s, "  map vm_forward { type ipv4_addr : verdict; }\n");

        /* To the host, on any of its addresses: only what to_host allows, per VM. */
        g_string_append_printf(s,
                "  chain input {\n"
                "    type filter hook input priority filter; policy accept;\n"
                "    iifname != \"%s\" accept\n"
                "    ct state established,related accept\n"
                "    ip saddr vmap @vm_input\n"
                "    counter drop\n"
                "  }\n", br);
        g_string_append_printf(s,
                "  chain to_host {\n"
                "    meta l4proto { tcp, udp } th dport 53 ip daddr @dns_servers accept\n"
                "    ip daddr %s icmp type echo-request accept\n"
                "    ip daddr %s meta l4proto . th dport @host_ports accept\n"
                "  }\n", p->gateway, p->gateway);
        /* Through the host: nothing in from outside; out only what the VM's chain allows. */
        g_string_append_printf(s,
                "  chain forward {\n"
                "    type filter hook forward priority filter; policy accept;\n"
                "    oifname \"%s\" ct state established,related accept\n"
                "    oifname \"%s\" iifname != \"%s\" counter drop\n"
                "    iifname != \"%s\" accept\n"
                "    ip saddr != %s counter drop\n"
                "    ip saddr vmap @vm_forward\n"
                "    counter drop\n"
                "  }\n", br, br, br, br, p->subnet);
        g_string_append(s,
                "  chain to_internet {\n"
                "    ip daddr @allowed_networks accept\n"
                "    ip daddr @blocked return\n"
                "    accept\n"
                "  }\n");
        if (p->nat && p->uplink)
                g_string_append_printf(s,
                        "  chain postrouting {\n"
                        "    type nat hook postrouting priority srcnat; policy accept;\n"
                        "    ip saddr %s oifname \"%s\" masquerade\n"
                        "  }\n", p->subnet, p->uplink);
        g_string_append(s, "}\n");

        g_string_append(s,
                "table bridge " TABLE " {\n"
                "  map vm_ports { type ifname : verdict; }\n"
                "  map vm_delivery { type ifname : verdict; }\n"
                "  chain prerouting {\n"
                "    type filter hook prerouting priority filter; policy accept;\n"
                "    iifname vmap @vm_ports\n"
                "    iifname \"" MVM_TAP_PREFIX "*\" counter drop\n"
                "  }\n"
                "  chain forward {\n"
                "    type filter hook forward priority filter; policy accept;\n");
        if (!p->allow_vm_to_vm)
                g_string_append(s, "    iifname \"" MVM_TAP_PREFIX "*\" oifname \"" MVM_TAP_PREFIX "*\" drop\n");
        g_string_append(s,
                "    oifname vmap @vm_delivery\n"
                "    oifname \"" MVM_TAP_PREFIX "*\" drop\n"
                "  }\n"
                "  chain output {\n"
                "    type filter hook output priority filter; policy accept;\n"
                "    oifname vmap @vm_delivery\n"
                "    oifname \"" MVM_TAP_PREFIX "*\" drop\n"
                "  }\n"
                "}\n");
        return g_string_free(s, FALSE);
}

char *firewall_dns_script(char *const *servers) {
        GString *s = g_string_new("flush set ip " TABLE " dns_servers\n");

        for (size_t i = 0; servers && servers[i]; i++)
                g_string_append_printf(s, "add element ip " TABLE " dns_servers { %s }\n", servers[i]);
        return g_string_free(s, FALSE);
}

char *firewall_vm_remove_script(const char *tap, const char *ip) {
        g_autofree char *counter = firewall_counter_name(tap);

        /* Added first, so that the deletions find them whatever was there: one transaction. */
        return g_strdup_printf(
                "add chain bridge " TABLE " port_%1$s\n"
                "add chain bridge " TABLE " deliver_%1$s\n"
                "add counter bridge " TABLE " %3$s\n"
                "add element bridge " TABLE " vm_ports { \"%1$s\" : jump port_%1$s }\n"
                "add element bridge " TABLE " vm_delivery { \"%1$s\" : jump deliver_%1$s }\n"
                "add chain ip " TABLE " in_%1$s\n"
                "add chain ip " TABLE " fwd_%1$s\n"
                "add counter ip " TABLE " %3$s\n"
                "add element ip " TABLE " vm_input { %2$s : jump in_%1$s }\n"
                "add element ip " TABLE " vm_forward { %2$s : jump fwd_%1$s }\n"
                "delete element bridge " TABLE " vm_ports { \"%1$s\" }\n"
                "delete element bridge " TABLE " vm_delivery { \"%1$s\" }\n"
                "flush chain bridge " TABLE " port_%1$s\n"
                "flush chain bridge " TABLE " deliver_%1$s\n"
                "delete chain bridge " TABLE " port_%1$s\n"
                "delete chain bridge " TABLE " deliver_%1$s\n"
                "delete counter bridge " TABLE " %3$s\n"
                "delete element ip " TABLE " vm_input { %2$s }\n"
                "delete element ip " TABLE " vm_forward { %2$s }\n"
                "flush chain ip " TABLE " in_%1$s\n"
                "flush chain ip " TABLE " fwd_%1$s\n"
                "delete chain ip " TABLE " in_%1$s\n"
                "delete chain ip " TABLE " fwd_%1$s\n"
                "delete counter ip " TABLE " %3$s\n",
                tap, ip, counter);
}

char *firewall_vm_add_script(const FirewallParams *p, const FirewallVm *vm) {
        g_autofree char *remove = firewall_vm_remove_script(vm->tap, vm->ip);
        g_autofree char *counter = firewall_counter_name(vm->tap);
        GString *s = g_string_new(remove);
        const char *t = vm->tap;

        /* Bridge: what the VM's tap may send, and what it is handed. */
        g_string_append_printf(s, "add counter bridge " TABLE " %s\n", counter);
        g_string_append_printf(s, "add chain bridge " TABLE " port_%s\n", t);
        g_string_append_printf(s, "add chain bridge " TABLE " deliver_%s\n", t);
        g_string_append_printf(s, "add rule bridge " TABLE " port_%s ether saddr != %s counter name \"%s\" drop\n",
                               t, vm->mac, counter);
        g_string_append_printf(s,
                "add rule bridge " TABLE " port_%s ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
                "arp saddr ether %s arp saddr ip %s accept\n", t, vm->mac, vm->ip);
        g_string_append_printf(s, "add rule bridge " TABLE " port_%s ether type ip ip saddr %s accept\n", t, vm->ip);
        g_string_append_printf(s, "add rule bridge " TABLE " port_%s counter name \"%s\" drop\n", t, counter);
        g_string_append_printf(s, "add rule bridge " TABLE " deliver_%s ether daddr %s accept\n", t, vm->mac);
        g_string_append_printf(s,
                "add rule bridge " TABLE " deliver_%s ether daddr & 01:00:00:00:00:00 == 01:00:00:00:00:00 "
                "accept\n", t);
        g_string_append_printf(s, "add rule bridge " TABLE " deliver_%s drop\n", t);
        g_string_append_printf(s, "add element bridge " TABLE " vm_ports { \"%s\" : jump port_%s }\n", t, t);
        g_string_append_printf(s, "add element bridge " TABLE " vm_delivery { \"%s\" : jump deliver_%s }\n", t, t);

        /* IPv4: the host, then beyond it. */
        g_string_append_printf(s, "add counter ip " TABLE " %s\n", counter);
        g_string_append_printf(s, "add chain ip " TABLE " in_%s\n", t);
        g_string_append_printf(s, "add chain ip " TABLE " fwd_%s\n", t);
        g_string_append_printf(s, "add rule ip " TABLE " in_%s jump to_host\n", t);
        if (vm->egress == MVM_EGRESS_OPEN)
                g_string_append_printf(s, "add rule ip " TABLE " in_%s accept\n", t);
        g_string_append_printf(s, "add rule ip " TABLE " in_%s counter name \"%s\" drop\n", t, counter);

        g_string_append_printf(s,
                "add rule ip " TABLE " fwd_%s meta l4proto { tcp, udp } th dport 53 ip daddr @dns_servers "
                "accept\n", t);
        if (p->allow_vm_to_vm)
                g_string_append_printf(s, "add rule ip " TABLE " fwd_%s oifname \"%s\" accept\n", t, p->bridge);
        else
                g_string_append_printf(s, "add rule ip " TABLE " fwd_%s oifname \"%s\" counter name \"%s\" drop\n",
                                       t, p->bridge, counter);
        if (vm->egress == MVM_EGRESS_INTERNET)
                g_string_append_printf(s, "add rule ip " TABLE " fwd_%s jump to_internet\n", t);
        else if (vm->egress == MVM_EGRESS_OPEN)
                g_string_append_printf(s, "add rule ip " TABLE " fwd_%s accept\n", t);
        g_string_append_printf(s, "add rule ip " TABLE " fwd_%s counter name \"%s\" drop\n", t, counter);
        g_string_append_printf(s, "add element ip " TABLE " vm_input { %s : jump in_%s }\n", vm->ip, t);
        g_string_append_printf(s, "add element ip " TABLE " vm_forward { %s : jump fwd_%s }\n", vm->ip, t);
        return g_string_free(s, FALSE);
}
