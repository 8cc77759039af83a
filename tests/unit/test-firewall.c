/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The nftables scripts of the VM firewall: what they say, and (as root) that the kernel
 * takes them and they remove exactly what they added, in a network namespace of the
 * test's own that no packet ever enters. */
#include "firewall.h"

#include <errno.h>
#include <glib.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *no_items[] = { NULL };
static char *some_networks[] = { (char *) "192.168.1.0/24", (char *) "10.1.2.3/32", NULL };
static char *some_ports[] = { (char *) "tcp:3128", (char *) "udp:53", NULL };
static char *dns_servers[] = { (char *) "10.99.0.2", (char *) "192.168.83.1", NULL };

static FirewallParams params(bool allow_vm_to_vm, char **networks, char **ports) {
        return (FirewallParams) {
                .bridge = "microbr",
                .subnet = "192.168.83.0/24",
                .gateway = "192.168.83.1",
                .uplink = "uplink0",
                .nat = true,
                .allow_vm_to_vm = allow_vm_to_vm,
                .allowed_networks = networks,
                .allowed_host_ports = ports,
        };
}

static const FirewallVm vm5 = { "mvt5", "192.168.83.5", "02:11:22:33:44:55", MVM_EGRESS_INTERNET };

static void assert_has(const char *script, const char *part) {
        if (!strstr(script, part)) {
                g_test_message("missing: %s\nin:\n%s", part, script);
                g_test_fail();
        }
}

static void assert_lacks(const char *script, const char *part) {
        if (strstr(script, part)) {
                g_test_message("unexpected: %s\nin:\n%s", part, script);
                g_test_fail();
        }
}

static void test_base(void) {
        FirewallParams p = params(false, some_networks, some_ports);
        FirewallParams q = params(true, no_items, no_items);
        g_autofree char *s = firewall_base_script(&p);
        g_autofree char *t = firewall_base_script(&q);

        for (size_t i = 0; firewall_blocked_networks[i]; i++)
                assert_has(s, firewall_blocked_networks[i]);
        assert_has(s, "169.254.0.0/16");
        assert_has(s, "elements = { 192.168.1.0/24, 10.1.2.3/32 }");
        assert_has(s, "elements = { tcp . 3128, udp . 53 }");
        /* Nothing in from outside; nothing forwarded from a source outside the subnet. */
        assert_has(s, "oifname \"microbr\" iifname != \"microbr\" counter drop");
        assert_has(s, "ip saddr != 192.168.83.0/24 counter drop");
        /* Unknown sources: dropped on the host and in forwarding. */
        assert_has(s, "ip saddr vmap @vm_input\n    counter drop");
        assert_has(s, "ip saddr vmap @vm_forward\n    counter drop");
        assert_has(s, "ip saddr 192.168.83.0/24 oifname \"uplink0\" masquerade");
        assert_has(s, "iifname \"mvt*\" oifname \"mvt*\" drop");
        /* A tap without its VM's chain is shut. */
        assert_has(s, "iifname vmap @vm_ports\n    iifname \"mvt*\" counter drop");

        assert_lacks(t, "iifname \"mvt*\" oifname \"mvt*\" drop");
        assert_has(t, "set allowed_networks { type ipv4_addr; flags interval; }");
        assert_has(t, "set host_ports { type inet_proto . inet_service; }");

        q.uplink = NULL;
        g_autofree char *u = firewall_base_script(&q);
        assert_lacks(u, "masquerade");
}

static void test_vm(void) {
        FirewallParams p = params(false, no_items, no_items);
        FirewallVm open = vm5, none = vm5;
        g_autofree char *internet_script = firewall_vm_add_script(&p, &vm5);
        g_autofree char *open_script = NULL, *none_script = NULL, *allowed_script = NULL;

        open.egress = MVM_EGRESS_OPEN;
        none.egress = MVM_EGRESS_NONE;
        open_script = firewall_vm_add_script(&p, &open);
        none_script = firewall_vm_add_script(&p, &none);

        /* Anti-spoofing. */
        assert_has(internet_script, "port_mvt5 ether saddr != 02:11:22:33:44:55 counter name \"drop_mvt5\" drop");
        assert_has(internet_script, "arp saddr ether 02:11:22:33:44:55 arp saddr ip 192.168.83.5 accept");
        assert_has(internet_script, "port_mvt5 ether type ip ip saddr 192.168.83.5 accept");
        assert_has(internet_script, "add rule bridge microvmd port_mvt5 counter name \"drop_mvt5\" drop");
        assert_has(internet_script, "deliver_mvt5 ether daddr 02:11:22:33:44:55 accept");
        assert_has(internet_script, "add rule bridge microvmd deliver_mvt5 drop");
        /* Egress by policy. */
        assert_has(internet_script, "fwd_mvt5 jump to_internet");
        assert_has(internet_script, "fwd_mvt5 oifname \"microbr\" counter name \"drop_mvt5\" drop");
        assert_lacks(internet_script, "in_mvt5 accept");
        assert_has(open_script, "fwd_mvt5 accept");
        assert_has(open_script, "in_mvt5 accept");
        assert_lacks(none_script, "to_internet");
        assert_lacks(none_script, "fwd_mvt5 accept");
        /* DNS under every policy. */
        assert_has(none_script, "fwd_mvt5 meta l4proto { tcp, udp } th dport 53 ip daddr @dns_servers accept");
        assert_has(none_script, "in_mvt5 jump to_host");

        p.allow_vm_to_vm = true;
        allowed_script = firewall_vm_add_script(&p, &vm5);
        assert_has(allowed_script, "fwd_mvt5 oifname \"microbr\" accept");

        g_autofree char *counter = firewall_counter_name("mvt5");
        g_assert_cmpstr(counter, ==, "drop_mvt5");
}

/* Runs the scripts in order in a new network namespace; the exit status of the child
 * is the index of the first failing script + 1, or 0. */
static int run_in_new_netns(const char *const *scripts) {
        pid_t pid = fork();
        int status;

        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(errno == EPERM ? 100 : 101);
                for (int i = 0; scripts[i]; i++) {
                        struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
                        int r;

                        nft_ctx_buffer_output(nft);
                        r = nft_run_cmd_from_buffer(nft, scripts[i]);
                        nft_ctx_free(nft);
                        if (r != 0)
                                _exit(i + 1);
                }
                _exit(0);
        }
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_kernel_takes_them(void) {
        FirewallParams p = params(false, some_networks, some_ports);
        FirewallVm open = vm5, other = { "mvt6", "192.168.83.6", "02:00:00:00:00:06", MVM_EGRESS_NONE };
        g_autofree char *base = firewall_base_script(&p);
        g_autofree char *dns = firewall_dns_script(dns_servers);
        g_autofree char *no_dns = firewall_dns_script(no_items);
        g_autofree char *add5 = firewall_vm_add_script(&p, &vm5);
        g_autofree char *add6 = firewall_vm_add_script(&p, &other);
        g_autofree char *remove5 = firewall_vm_remove_script("mvt5", "192.168.83.5");
        g_autofree char *remove6 = firewall_vm_remove_script("mvt6", "192.168.83.6");
        g_autofree char *readd5 = NULL;
        /* After removing both, nothing of theirs is left: their chains can be deleted no more. */
        const char *gone = "delete chain bridge microvmd port_mvt5\n";
        int r;

        open.egress = MVM_EGRESS_OPEN;
        readd5 = firewall_vm_add_script(&p, &open);
        if (geteuid() != 0) {
                g_test_skip("needs root for a network namespace of its own");
                return;
        }
        /* Added twice (replaced), removed twice (idempotent), the DNS set twice. */
        const char *const scripts[] = { base, dns, add5, add6, readd5, dns, no_dns, remove5, remove5, remove6, base,
                                        NULL };
        r = run_in_new_netns(scripts);
        if (r == 100) {
                g_test_skip("no permission for a network namespace here");
                return;
        }
        g_assert_cmpint(r, ==, 0);

        const char *const then_gone[] = { base, add5, remove5, gone, NULL };
        g_assert_cmpint(run_in_new_netns(then_gone), ==, 4);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/firewall/base", test_base);
        g_test_add_func("/firewall/vm", test_vm);
        g_test_add_func("/firewall/kernel-takes-them", test_kernel_takes_them);
        return g_test_run();
}
