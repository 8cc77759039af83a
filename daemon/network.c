/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "firewall.h"
#include "fs-util.h"
#include "log.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"
#include "mvm-net.h"
#include "network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <nftables/libnftables.h>
#include <pwd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define NFT_TABLE "microvmd"
/* What microvmd added, so a restarted microvmd removes exactly that (in /run, root's). */
#define STATE_FILE ".network"

static void nl_socket_freep(struct nl_sock **s) {
        if (*s)
                nl_socket_free(*s);
}
static void rtnl_link_putp(struct rtnl_link **l) {
        if (*l)
                rtnl_link_put(*l);
}
static void nl_cache_freep(struct nl_cache **c) {
        if (*c)
                nl_cache_free(*c);
}
static void nl_addr_putp(struct nl_addr **a) {
        if (*a)
                nl_addr_put(*a);
}
static void rtnl_addr_putp(struct rtnl_addr **a) {
        if (*a)
                rtnl_addr_put(*a);
}

static int nl_open(struct nl_sock **ret) {
        struct nl_sock *s = nl_socket_alloc();
        int r;

        if (!s)
                return -ENOMEM;
        r = nl_connect(s, NETLINK_ROUTE);
        if (r < 0) {
                nl_socket_free(s);
                return -EIO;
        }
        *ret = s;
        return 0;
}

/* libnl errors are its own numbers: keep its message for people. */
static int nl_fail(sd_bus_error *error, int nlerr, const char *what) {
        return sd_bus_error_setf(error, MVM_ERROR_FAILED, "%s: %s", what, nl_geterror(nlerr));
}

typedef struct NetworkState {
        bool bridge_created;
        int ip_forward_before; /* -1: we did not change it */
} NetworkState;

static void state_load(NetworkState *st) {
        _cleanup_close_ int dir = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        g_autofree char *text = NULL;

        *st = (NetworkState) { .bridge_created = false, .ip_forward_before = -1 };
        if (dir < 0 || read_file_at(dir, STATE_FILE, 4096, &text, NULL) < 0)
                return;
        st->bridge_created = strstr(text, "bridge-created=1") != NULL;
        if (strstr(text, "ip-forward-before=0"))
                st->ip_forward_before = 0;
        else if (strstr(text, "ip-forward-before=1"))
                st->ip_forward_before = 1;
}

bool network_has_state(void) {
        _cleanup_close_ int dir = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        struct stat st;

        return dir >= 0 && fstatat(dir, STATE_FILE, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

static void state_save(const NetworkState *st) {
        _cleanup_close_ int dir = open_root_owned_dir(MICROVM_RUNTIME_DIR);
        g_autofree char *text = g_strdup_printf("bridge-created=%d\nip-forward-before=%d\n", st->bridge_created,
                                                st->ip_forward_before);
        int r;

        if (dir < 0)
                return;
        r = write_file_atomic_at(dir, STATE_FILE, text, strlen(text), 0600);
        if (r < 0)
                log_warning("Cannot record the network state: %s", strerror(-r));
}

static void state_remove(void) {
        _cleanup_close_ int dir = open_root_owned_dir(MICROVM_RUNTIME_DIR);

        if (dir >= 0)
                (void) unlinkat(dir, STATE_FILE, 0);
}

static int read_ip_forward(void) {
        g_autofree char *s = NULL;

        if (!g_file_get_contents("/proc/sys/net/ipv4/ip_forward", &s, NULL, NULL))
                return -errno;
        return s[0] == '1';
}

static int write_ip_forward(int value) {
        _cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);

        /* A plain write: sysctl files cannot be replaced by rename. */
        if (fd < 0)
                return -errno;
        if (write(fd, value ? "1\n" : "0\n", 2) != 2)
                return -errno;
        return 0;
}

/* Whether the link has exactly the host's address of the subnet. */
static bool link_has_address(struct nl_sock *sock, int ifindex, uint32_t address, unsigned prefix) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        bool found = false;

        if (rtnl_addr_alloc_cache(sock, &cache) < 0)
                return false;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;
                struct nl_addr *local = rtnl_addr_get_local(a);
                uint32_t v;

                if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET || !local ||
                    nl_addr_get_len(local) != 4)
                        continue;
                memcpy(&v, nl_addr_get_binary_addr(local), 4);
                if (ntohl(v) == address && (unsigned) rtnl_addr_get_prefixlen(a) == prefix)
                        found = true;
        }
        return found;
}

static int link_set_up(struct nl_sock *sock, struct rtnl_link *link, int master) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();

        if (!change)
                return -NLE_NOMEM;
        rtnl_link_set_flags(change, IFF_UP);
        if (master > 0)
                rtnl_link_set_master(change, master);
        return rtnl_link_change(sock, link, change, 0);
}

static int ensure_bridge(Network *n, struct nl_sock *sock, NetworkState *st, sd_bus_error *error) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        _cleanup_(nl_addr_putp) struct nl_addr *local = NULL;
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *addr = NULL;
        const char *name = n->config->bridge;
        uint32_t gw = mvm_subnet_gateway(&n->subnet), be;
        g_autofree char *gw_text = mvm_ipv4_to_string(gw);
        int r;

        r = rtnl_link_get_kernel(sock, 0, name, &link);
        if (r >= 0) {
                if (!rtnl_link_is_bridge(link))
                        return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                                 "The interface %s exists and is not a bridge; set [Network] "
                                                 "Bridge= to another name.", name);
                if (!link_has_address(sock, rtnl_link_get_ifindex(link), gw, n->subnet.prefix) &&
                    !st->bridge_created)
                        return sd_bus_error_setf(error, MVM_ERROR_FAILED,
                                                 "The bridge %s exists without the address %s/%u; microvmd "
                                                 "adopts an existing bridge only with that address.",
                                                 name, gw_text, n->subnet.prefix);
        } else {
                _cleanup_(rtnl_link_putp) struct rtnl_link *bridge = rtnl_link_bridge_alloc();
                _cleanup_(nl_addr_putp) struct nl_addr *mac_addr = NULL;
                g_autoptr(GHashTable) no_macs = g_hash_table_new(g_str_hash, g_str_equal);
                g_autofree char *mac = mvm_mac_generate(no_macs);

                if (!bridge)
                        return -ENOMEM;
                rtnl_link_set_name(bridge, name);
                /* A MAC of its own: otherwise the bridge takes the lowest of its ports' and
                 * changes it as taps come and go, which flushes every neighbour entry on
                 * it, the pinned ones of the VMs included. */
                if (nl_addr_parse(mac, AF_LLC, &mac_addr) >= 0)
                        rtnl_link_set_addr(bridge, mac_addr);
                r = rtnl_link_add(sock, bridge, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0)
                        return nl_fail(error, r, "Cannot create the bridge");
                st->bridge_created = true;
                state_save(st);
                log_info("Created the bridge %s.", name);
                r = rtnl_link_get_kernel(sock, 0, name, &link);
                if (r < 0)
                        return nl_fail(error, r, "Cannot find the new bridge");
        }

        if (!link_has_address(sock, rtnl_link_get_ifindex(link), gw, n->subnet.prefix)) {
                addr = rtnl_addr_alloc();
                be = htonl(gw);
                local = nl_addr_build(AF_INET, &be, 4);
                if (!addr || !local)
                        return -ENOMEM;
                nl_addr_set_prefixlen(local, (int) n->subnet.prefix);
                rtnl_addr_set_ifindex(addr, rtnl_link_get_ifindex(link));
                rtnl_addr_set_local(addr, local);
                r = rtnl_addr_add(sock, addr, 0);
                if (r < 0)
                        return nl_fail(error, r, "Cannot give the bridge its address");
        }
        r = link_set_up(sock, link, 0);
        if (r < 0)
                return nl_fail(error, r, "Cannot bring the bridge up");
        return 0;
}

/* The interface of the IPv4 default route in the main table. */
static char *default_route_interface(struct nl_sock *sock) {
        _cleanup_(nl_cache_freep) struct nl_cache *routes = NULL, *links = NULL;
        char name[IFNAMSIZ] = "";

        if (rtnl_route_alloc_cache(sock, AF_INET, 0, &routes) < 0 || rtnl_link_alloc_cache(sock, AF_UNSPEC, &links) < 0)
                return NULL;
        for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
                struct rtnl_route *route = (struct rtnl_route *) o;
                struct nl_addr *dst = rtnl_route_get_dst(route);
                struct rtnl_nexthop *nh;

                if (rtnl_route_get_table(route) != RT_TABLE_MAIN || !dst || nl_addr_get_prefixlen(dst) != 0 ||
                    rtnl_route_get_nnexthops(route) < 1)
                        continue;
                nh = rtnl_route_nexthop_n(route, 0);
                if (nh && rtnl_link_i2name(links, rtnl_route_nh_get_ifindex(nh), name, sizeof(name)))
                        return g_strdup(name);
        }
        return NULL;
}

/* libnftables promises nothing about threads: one run at a time, the network worker's
 * and a DroppedPackets read in the event loop alike. */
static GMutex nft_lock;

static int nft_run_locked(const char *script, char **ret_output, char **ret_error) {
        struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
        int r;

        if (!nft)
                return -ENOMEM;
        nft_ctx_buffer_output(nft);
        nft_ctx_buffer_error(nft);
        r = nft_run_cmd_from_buffer(nft, script);
        if (r == 0 && ret_output)
                *ret_output = g_strdup(nft_ctx_get_output_buffer(nft));
        if (r != 0 && ret_error)
                *ret_error = g_strstrip(g_strdup(nft_ctx_get_error_buffer(nft)));
        nft_ctx_free(nft);
        return r == 0 ? 0 : -EIO;
}

/* Runs an nft script (one transaction); its output or its error message for the caller. */
static int nft_run_output(const char *script, char **ret_output, char **ret_error) {
        g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&nft_lock);

        return nft_run_locked(script, ret_output, ret_error);
}

static int nft_run(const char *script, char **ret_error) {
        return nft_run_output(script, NULL, ret_error);
}

/* The parameters of the tables; gateway_text is the caller's buffer for the address. */
static FirewallParams firewall_params(Network *n, const char *uplink, char **gateway_text) {
        *gateway_text = mvm_ipv4_to_string(mvm_subnet_gateway(&n->subnet));
        return (FirewallParams) {
                .bridge = n->config->bridge,
                .subnet = n->config->subnet,
                .gateway = *gateway_text,
                .uplink = uplink,
                .nat = n->config->nat,
                .allow_vm_to_vm = n->config->allow_vm_to_vm,
                .allowed_networks = n->config->allowed_networks,
                .allowed_host_ports = n->config->allowed_host_ports,
        };
}

static int ensure_nft(Network *n, const char *uplink, sd_bus_error *error) {
        g_autofree char *gw = NULL, *nft_error = NULL;
        FirewallParams p = firewall_params(n, uplink, &gw);
        g_autofree char *script = firewall_base_script(&p);
        int r;

        /* Replace our tables as a whole; nothing outside them is touched. */
        r = nft_run(script, &nft_error);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot install the nftables rules: %s",
                                         nft_error ?: "unknown error");
        return 0;
}

/* The DNS servers VMs may reach, as guests are told (the host's resolv.conf may have
 * changed since the last VM started). */
static int update_dns(Network *n, sd_bus_error *error) {
        g_auto(GStrv) servers = network_guest_dns(n->config);
        g_autofree char *script = firewall_dns_script(servers);
        g_autofree char *nft_error = NULL;

        if (nft_run(script, &nft_error) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot set the DNS servers' rules: %s",
                                         nft_error ?: "unknown error");
        return 0;
}

int network_ensure(Network *n, sd_bus_error *error) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        g_autofree char *uplink = NULL;
        NetworkState st;
        int r, fwd;

        if (n->up)
                return update_dns(n, error);
        r = nl_open(&sock);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot open a netlink socket: %s", strerror(-r));

        state_load(&st);
        r = ensure_bridge(n, sock, &st, error);
        if (r < 0)
                return r;

        fwd = read_ip_forward();
        if (fwd == 0) {
                if (st.ip_forward_before < 0) {
                        st.ip_forward_before = 0;
                        state_save(&st);
                }
                if (write_ip_forward(1) < 0)
                        return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot enable IPv4 forwarding.");
        }

        if (strcmp(n->config->uplink, "auto") == 0) {
                uplink = default_route_interface(sock);
                if (!uplink && n->config->nat)
                        log_warning("No IPv4 default route: VMs get no NAT to the outside until [Network] "
                                    "Uplink= is set or a default route exists.");
        } else
                uplink = g_strdup(n->config->uplink);

        r = ensure_nft(n, uplink, error);
        if (r < 0)
                return r;
        r = update_dns(n, error);
        if (r < 0)
                return r;
        state_save(&st);
        log_info("Network up: bridge %s, %s, NAT %s, egress %s.", n->config->bridge, n->config->subnet,
                 n->config->nat && uplink ? uplink : "off", mvm_egress_to_string(n->config->egress));
        n->up = true;
        return 1;
}

void network_release(Network *n) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        g_autofree char *nft_error = NULL;
        NetworkState st;

        state_load(&st);
        if (nft_run("table ip " NFT_TABLE "\ndelete table ip " NFT_TABLE "\n"
                    "table bridge " NFT_TABLE "\ndelete table bridge " NFT_TABLE "\n", &nft_error) < 0)
                log_warning("Cannot remove the nftables tables: %s", nft_error ?: "unknown error");
        if (st.bridge_created && nl_open(&sock) >= 0 &&
            rtnl_link_get_kernel(sock, 0, n->config->bridge, &link) >= 0 && rtnl_link_is_bridge(link)) {
                int r = rtnl_link_delete(sock, link);
                if (r < 0)
                        log_warning("Cannot delete the bridge %s: %s", n->config->bridge, nl_geterror(r));
                else
                        log_info("Deleted the bridge %s.", n->config->bridge);
        }
        if (st.ip_forward_before == 0)
                (void) write_ip_forward(0);
        state_remove();
        n->up = false;
}

int network_tap_add(Network *n, const char *tap, uid_t owner, sd_bus_error *error) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL, *bridge = NULL;
        _cleanup_close_ int fd = -1;
        struct ifreq ifr = {};
        int r;

        network_tap_remove(n, tap); /* a leftover of a crash */

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot open /dev/net/tun: %s", strerror(errno));
        /* vnet_hdr: both hypervisors use virtio-net offloads; one queue pair, so no
         * IFF_MULTI_QUEUE (it must match what the hypervisor opens). */
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        g_strlcpy(ifr.ifr_name, tap, sizeof(ifr.ifr_name));
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot create the tap %s: %s", tap, strerror(errno));
        /* Owned by the VM's hypervisor, which then needs no capability to open it; no
         * other VM's hypervisor can. */
        if (ioctl(fd, TUNSETOWNER, (unsigned long) owner) < 0 || ioctl(fd, TUNSETGROUP, (unsigned long) owner) < 0 ||
            ioctl(fd, TUNSETPERSIST, 1) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot set up the tap %s: %s", tap, strerror(errno));
        fd = safe_close(fd);

        r = nl_open(&sock);
        if (r < 0)
                goto fail_errno;
        r = rtnl_link_get_kernel(sock, 0, tap, &link);
        if (r >= 0)
                r = rtnl_link_get_kernel(sock, 0, n->config->bridge, &bridge);
        if (r >= 0)
                r = link_set_up(sock, link, rtnl_link_get_ifindex(bridge));
        if (r < 0) {
                network_tap_remove(n, tap);
                return nl_fail(error, r, "Cannot attach the tap to the bridge");
        }
        return 0;

fail_errno:
        network_tap_remove(n, tap);
        return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot open a netlink socket: %s", strerror(-r));
}

void network_tap_remove(Network *n, const char *tap) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;

        if (nl_open(&sock) < 0 || rtnl_link_get_kernel(sock, 0, tap, &link) < 0)
                return;
        (void) rtnl_link_delete(sock, link);
}

void network_remove_stale_taps(Network *n, GHashTable *in_use) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        _cleanup_(nl_cache_freep) struct nl_cache *links = NULL;
        g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);

        if (nl_open(&sock) < 0 || rtnl_link_alloc_cache(sock, AF_UNSPEC, &links) < 0)
                return;
        for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
                const char *name = rtnl_link_get_name((struct rtnl_link *) o);
                const char *type = rtnl_link_get_type((struct rtnl_link *) o);

                if (name && g_str_has_prefix(name, MVM_TAP_PREFIX) && g_ascii_isdigit(name[strlen(MVM_TAP_PREFIX)]) &&
                    g_strcmp0(type, "tun") == 0 && !g_hash_table_contains(in_use, name))
                        g_ptr_array_add(stale, g_strdup(name));
        }
        for (guint i = 0; i < stale->len; i++) {
                log_info("Removing the stale tap %s.", (char *) stale->pdata[i]);
                network_tap_remove(n, stale->pdata[i]);
        }
}

static void add_resolvers(const char *path, GPtrArray *out, bool *saw_stub) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return;
        lines = g_strsplit(text, "\n", -1);
        for (size_t i = 0; lines[i]; i++) {
                g_auto(GStrv) words = g_strsplit_set(g_strstrip(lines[i]), " \t", -1);
                uint32_t a;

                if (g_strv_length(words) < 2 || strcmp(words[0], "nameserver") != 0 ||
                    mvm_ipv4_parse(words[1], &a) < 0)
                        continue;
                if ((a >> 24) == 127) {
                        *saw_stub = true; /* the host's own stub resolver: unreachable for guests */
                        continue;
                }
                if (!g_ptr_array_find_with_equal_func(out, words[1], g_str_equal, NULL))
                        g_ptr_array_add(out, g_strdup(words[1]));
        }
}

char **network_guest_dns(const MvmConfig *config) {
        g_autoptr(GPtrArray) servers = g_ptr_array_new_with_free_func(g_free);
        bool stub = false;

        if (config->dns)
                return g_strdupv(config->dns);
        add_resolvers("/etc/resolv.conf", servers, &stub);
        /* Behind systemd-resolved's stub, its upstream servers are listed here. */
        if (stub)
                add_resolvers("/run/systemd/resolve/resolv.conf", servers, &stub);
        g_ptr_array_add(servers, NULL);
        return (char **) g_ptr_array_free(g_steal_pointer(&servers), FALSE);
}

static void rtnl_neigh_putp(struct rtnl_neigh **n) {
        if (*n)
                rtnl_neigh_put(*n);
}

/* The host's neighbour entry for a VM's address, pinned to its MAC: ARP from a guest
 * can never move it (add) or it goes with the VM (remove). */
static int neighbour_set(struct nl_sock *sock, int ifindex, const char *ip, const char *mac, bool add) {
        _cleanup_(rtnl_neigh_putp) struct rtnl_neigh *n = rtnl_neigh_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *dst = NULL, *ll = NULL;
        int r;

        if (!n)
                return -NLE_NOMEM;
        r = nl_addr_parse(ip, AF_INET, &dst);
        if (r < 0)
                return r;
        rtnl_neigh_set_ifindex(n, ifindex);
        rtnl_neigh_set_family(n, AF_INET);
        r = rtnl_neigh_set_dst(n, dst);
        if (r < 0)
                return r;
        if (!add)
                return rtnl_neigh_delete(sock, n, 0);
        r = nl_addr_parse(mac, AF_LLC, &ll);
        if (r < 0)
                return r;
        rtnl_neigh_set_lladdr(n, ll);
        rtnl_neigh_set_state(n, NUD_PERMANENT);
        return rtnl_neigh_add(sock, n, NLM_F_CREATE | NLM_F_REPLACE);
}

static int bridge_ifindex(Network *n, struct nl_sock *sock) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *bridge = NULL;
        int r = rtnl_link_get_kernel(sock, 0, n->config->bridge, &bridge);

        return r < 0 ? r : rtnl_link_get_ifindex(bridge);
}

int network_vm_add(Network *n, const FirewallVm *vm, sd_bus_error *error) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        g_autofree char *gw = NULL, *script = NULL, *nft_error = NULL;
        FirewallParams p = firewall_params(n, NULL, &gw);
        int r, ifindex;

        script = firewall_vm_add_script(&p, vm);
        if (nft_run(script, &nft_error) < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot install the firewall rules of %s: %s",
                                         vm->tap, nft_error ?: "unknown error");
        r = nl_open(&sock);
        if (r < 0)
                return sd_bus_error_setf(error, MVM_ERROR_FAILED, "Cannot open a netlink socket: %s", strerror(-r));
        ifindex = bridge_ifindex(n, sock);
        if (ifindex < 0)
                return nl_fail(error, ifindex, "Cannot find the bridge");
        r = neighbour_set(sock, ifindex, vm->ip, vm->mac, true);
        if (r < 0)
                return nl_fail(error, r, "Cannot pin the VM's neighbour entry");
        return 0;
}

int network_vm_pin(Network *n, const char *ip, const char *mac) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        int r, ifindex;

        r = nl_open(&sock);
        if (r < 0)
                return r;
        ifindex = bridge_ifindex(n, sock);
        if (ifindex < 0)
                return -ENODEV;
        return neighbour_set(sock, ifindex, ip, mac, true) < 0 ? -EIO : 0;
}

void network_vm_remove(Network *n, const char *tap, const char *ip) {
        _cleanup_(nl_socket_freep) struct nl_sock *sock = NULL;
        g_autofree char *script = firewall_vm_remove_script(tap, ip);
        g_autofree char *nft_error = NULL;
        int ifindex;

        /* Without the tables (the network went down first) there is nothing to remove. */
        if (n->up && nft_run(script, &nft_error) < 0)
                log_warning("Cannot remove the firewall rules of %s: %s", tap, nft_error ?: "unknown error");
        if (nl_open(&sock) < 0 || (ifindex = bridge_ifindex(n, sock)) < 0)
                return;
        (void) neighbour_set(sock, ifindex, ip, NULL, false);
}

int network_vm_dropped(const char *tap, uint64_t *ret) {
        static const char *const families[] = { "bridge", "ip" };
        g_autofree char *counter = firewall_counter_name(tap);
        uint64_t total = 0;

        /* Never waits for the network worker (the event loop asks): busy is -EBUSY. */
        if (!g_mutex_trylock(&nft_lock))
                return -EBUSY;
        /* One run per table: nftables 1.1 (Debian 13) fills its cache for the last of
         * several list commands only, so the first of them fails with ENOENT. */
        for (size_t i = 0; i < G_N_ELEMENTS(families); i++) {
                g_autofree char *script = g_strdup_printf("list counter %s " NFT_TABLE " %s\n",
                                                          families[i], counter);
                g_autofree char *out = NULL;

                if (nft_run_locked(script, &out, NULL) < 0) {
                        g_mutex_unlock(&nft_lock);
                        return -ENOENT;
                }
                /* "packets N bytes M" */
                for (const char *p = out; p && (p = strstr(p, "packets ")); p += strlen("packets "))
                        total += g_ascii_strtoull(p + strlen("packets "), NULL, 10);
        }
        g_mutex_unlock(&nft_lock);
        *ret = total;
        return 0;
}
