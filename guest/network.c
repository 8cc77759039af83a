/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "network.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mvm-macro.h"

#define INTERFACE_WAIT_MS 5000
/* With a MAC asked for, how long to wait for it before taking the first interface. */
#define MAC_WAIT_MS 1000
#define MAX_INTERFACES 32

struct in_addr guest_prefix_to_netmask(unsigned prefix) {
        struct in_addr mask;

        mask.s_addr = prefix == 0 ? 0 : htonl(~(uint32_t) 0 << (32 - (prefix > 32 ? 32 : prefix)));
        return mask;
}

const GuestInterface *guest_pick_interface(const GuestInterface *ifs, size_t n, const char *mac,
                                           bool *ret_mac_matched) {
        *ret_mac_matched = true;
        if (n == 0)
                return NULL;
        if (!mac)
                return &ifs[0];
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(ifs[i].mac, mac) == 0)
                        return &ifs[i];
        *ret_mac_matched = false;
        return &ifs[0];
}

static int compare_interfaces(const void *a, const void *b) {
        return strcmp(((const GuestInterface *) a)->name, ((const GuestInterface *) b)->name);
}

static void read_mac(int dir_fd, const char *name, char mac[static 18]) {
        char path[IFNAMSIZ + 16], buf[32] = "";
        _cleanup_close_ int fd = -1;
        ssize_t n;

        mac[0] = '\0';
        snprintf(path, sizeof(path), "%s/address", name);
        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        if (strlen(buf) == 17) {
                for (size_t i = 0; i < 17; i++)
                        mac[i] = (char) tolower((unsigned char) buf[i]);
                mac[17] = '\0';
        }
}

int guest_list_interfaces(const char *sysfs_net, GuestInterface *ifs, size_t max) {
        DIR *d = opendir(sysfs_net);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)) && n < max) {
                if (de->d_name[0] == '.' || strcmp(de->d_name, "lo") == 0 || strlen(de->d_name) >= IFNAMSIZ)
                        continue;
                snprintf(ifs[n].name, sizeof(ifs[n].name), "%s", de->d_name);
                read_mac(dirfd(d), de->d_name, ifs[n].mac);
                n++;
        }
        closedir(d);
        qsort(ifs, n, sizeof(ifs[0]), compare_interfaces);
        return (int) n;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int set_flags_up(int sock, const char *ifname) {
        struct ifreq ifr = {};

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

static int set_address(int sock, const char *ifname, unsigned long request, struct in_addr address) {
        struct ifreq ifr = {};
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = address };

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
        if (ioctl(sock, request, &ifr) < 0)
                return -errno;
        return 0;
}

static int add_default_route(int sock, const char *ifname, struct in_addr gateway) {
        struct rtentry rt = {};
        struct sockaddr_in dst = { .sin_family = AF_INET }, mask = { .sin_family = AF_INET },
                           gw = { .sin_family = AF_INET, .sin_addr = gateway };
        char dev[IFNAMSIZ];

        snprintf(dev, sizeof(dev), "%s", ifname);
        memcpy(&rt.rt_dst, &dst, sizeof(dst));
        memcpy(&rt.rt_genmask, &mask, sizeof(mask));
        memcpy(&rt.rt_gateway, &gw, sizeof(gw));
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        rt.rt_dev = dev;
        if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int guest_loopback_up(void) {
        _cleanup_close_ int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int r;

        if (sock < 0)
                return -errno;
        r = set_flags_up(sock, "lo");
        if (r < 0)
                guest_log_error("cannot bring lo up: %s", strerror(-r));
        return r;
}

/* Waits for the virtio-net interface: the driver may still be probing. */
static int find_interface(const GuestConfig *c, GuestInterface *ret) {
        GuestInterface ifs[MAX_INTERFACES];
        const GuestInterface *chosen = NULL;
        bool matched = false;

        for (unsigned waited = 0;; waited += 100) {
                int n = guest_list_interfaces("/sys/class/net", ifs, MAX_INTERFACES);

                if (n < 0) {
                        guest_log_error("cannot list /sys/class/net: %s", strerror(-n));
                        return n;
                }
                chosen = guest_pick_interface(ifs, (size_t) n, c->mac, &matched);
                if (chosen && (matched || waited >= MAC_WAIT_MS))
                        break;
                if (waited >= INTERFACE_WAIT_MS) {
                        guest_log_error("no network interface appeared");
                        return -ENODEV;
                }
                sleep_ms(100);
        }
        if (!matched)
                guest_log_error("no interface has microvm.mac=%s; using %s (%s)", c->mac, chosen->name,
                                chosen->mac[0] ? chosen->mac : "no MAC");
        *ret = *chosen;
        return 0;
}

int guest_network_configure(const GuestConfig *c, char ifname[static IFNAMSIZ]) {
        _cleanup_close_ int sock = -1;
        GuestInterface iface;
        int r;

        if (!c->has_ip)
                return -EINVAL;
        r = find_interface(c, &iface);
        if (r < 0)
                return r;
        sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0) {
                r = -errno;
                guest_log_error("cannot open a socket to configure %s: %s", iface.name, strerror(errno));
                return r;
        }
        /* The address first: setting it resets the netmask to the class default. */
        r = set_address(sock, iface.name, SIOCSIFADDR, c->ip);
        if (r < 0) {
                guest_log_error("cannot set the address of %s: %s", iface.name, strerror(-r));
                return r;
        }
        r = set_address(sock, iface.name, SIOCSIFNETMASK, guest_prefix_to_netmask(c->prefix));
        if (r < 0) {
                guest_log_error("cannot set the netmask of %s: %s", iface.name, strerror(-r));
                return r;
        }
        r = set_flags_up(sock, iface.name);
        if (r < 0) {
                guest_log_error("cannot bring %s up: %s", iface.name, strerror(-r));
                return r;
        }
        if (c->has_gateway) {
                r = add_default_route(sock, iface.name, c->gateway);
                if (r < 0) {
                        guest_log_error("cannot add the default route on %s: %s", iface.name, strerror(-r));
                        return r;
                }
        }
        snprintf(ifname, IFNAMSIZ, "%s", iface.name);
        return 0;
}
