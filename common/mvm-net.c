/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int mvm_ipv4_parse(const char *s, uint32_t *ret) {
        struct in_addr a;

        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return -EINVAL;
        *ret = ntohl(a.s_addr);
        return 0;
}

char *mvm_ipv4_to_string(uint32_t a) {
        return g_strdup_printf("%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int mvm_subnet_parse(const char *s, MvmSubnet *ret) {
        g_autofree char *addr = NULL;
        const char *slash;
        uint32_t a;
        char *end;
        unsigned long prefix;

        if (!s || !(slash = strchr(s, '/')))
                return -EINVAL;
        addr = g_strndup(s, (gsize) (slash - s));
        if (mvm_ipv4_parse(addr, &a) < 0)
                return -EINVAL;
        if (!g_ascii_isdigit(slash[1]))
                return -EINVAL;
        prefix = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || prefix < 16 || prefix > 30)
                return -ERANGE;
        MvmSubnet sub = { .network = a, .prefix = (unsigned) prefix };
        if ((a & mvm_subnet_netmask(&sub)) != a)
                return -EINVAL; /* host bits set: not a network address */
        *ret = sub;
        return 0;
}

int mvm_cidr_parse(const char *s, MvmSubnet *ret) {
        g_autofree char *addr = NULL;
        const char *slash;
        unsigned long prefix = 32;
        uint32_t a;
        char *end;

        if (!s)
                return -EINVAL;
        slash = strchr(s, '/');
        addr = slash ? g_strndup(s, (gsize) (slash - s)) : g_strdup(s);
        if (mvm_ipv4_parse(addr, &a) < 0)
                return -EINVAL;
        if (slash) {
                if (!g_ascii_isdigit(slash[1]) || strlen(slash + 1) > 2)
                        return -EINVAL;
                prefix = strtoul(slash + 1, &end, 10);
                if (*end != '\0' || prefix > 32)
                        return -ERANGE;
        }
        MvmSubnet sub = { .network = a, .prefix = (unsigned) prefix };
        if ((a & mvm_subnet_netmask(&sub)) != a)
                return -EINVAL;
        *ret = sub;
        return 0;
}

char *mvm_cidr_to_string(const MvmSubnet *s) {
        g_autofree char *a = mvm_ipv4_to_string(s->network);
        return g_strdup_printf("%s/%u", a, s->prefix);
}

uint32_t mvm_subnet_netmask(const MvmSubnet *s) {
        return s->prefix == 0 ? 0 : UINT32_MAX << (32 - s->prefix);
}

uint32_t mvm_subnet_broadcast(const MvmSubnet *s) {
        return s->network | ~mvm_subnet_netmask(s);
}

uint32_t mvm_subnet_gateway(const MvmSubnet *s) {
        return s->network + 1;
}

bool mvm_subnet_is_vm_address(const MvmSubnet *s, uint32_t a) {
        return (a & mvm_subnet_netmask(s)) == s->network && a != s->network && a != mvm_subnet_broadcast(s) &&
               a != mvm_subnet_gateway(s);
}

int mvm_subnet_allocate(const MvmSubnet *s, GHashTable *used, uint32_t *ret) {
        for (uint32_t a = mvm_subnet_gateway(s) + 1; a < mvm_subnet_broadcast(s); a++)
                if (!g_hash_table_contains(used, GUINT_TO_POINTER(a))) {
                        *ret = a;
                        return 0;
                }
        return -ENOSPC;
}

bool mvm_mac_is_valid(const char *s) {
        if (!s || strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
                        return false;
        return true;
}

bool mvm_ifname_is_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

char *mvm_mac_generate(GHashTable *used) {
        for (;;) {
                /* 02: locally administered, unicast. */
                char *mac = g_strdup_printf("02:%02x:%02x:%02x:%02x:%02x", g_random_int_range(0, 256),
                                            g_random_int_range(0, 256), g_random_int_range(0, 256),
                                            g_random_int_range(0, 256), g_random_int_range(0, 256));
                if (!g_hash_table_contains(used, mac))
                        return mac;
                g_free(mac);
        }
}

char *mvm_tap_name(const MvmSubnet *s, uint32_t a) {
        return g_strdup_printf(MVM_TAP_PREFIX "%u", a - s->network);
}
