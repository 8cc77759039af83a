/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's settings, from microvmd's parameters on the kernel command line:
 *
 *   microvm.name=NAME                 the VM's name (the host name)
 *   microvm.workspace=PATH            the workspace's host path; mounted at the same path
 *   microvm.software=PATH             where the software share goes (default /usr)
 *   microvm.user=NAME:UID:GID         the VM's owner, as on the host
 *   microvm.ip=ADDRESS/PREFIX         the guest's IPv4 address; without it, no network
 *   microvm.gateway=ADDRESS           the default route
 *   microvm.mac=MAC                   the interface to configure
 *   microvm.dns=ADDRESS[,ADDRESS...]  the DNS servers (IPv4 or IPv6), at most 3 used
 *   microvm.volume=PATH               where the persistent volume (/dev/vda) goes
 *   microvm.credentials=PATH          the owner's credentials directory (share "credentials"):
 *                                     mounted at the same path, the user's $HOME
 *
 * A malformed value is reported and left out, never fatal; the last occurrence of a
 * parameter wins, as for the kernel's own. */

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/types.h>

#define GUEST_DEFAULT_NAME "microvm"
#define GUEST_DEFAULT_SOFTWARE "/usr"
/* resolv.conf's MAXNS: the C library reads no more. */
#define GUEST_DNS_MAX 3
#define GUEST_USER_NAME_MAX 32

typedef struct GuestConfig {
        char *name;             /* never NULL after parsing: GUEST_DEFAULT_NAME when absent */
        char *workspace;        /* NULL when absent or refused */
        char *software;         /* never NULL after parsing */
        char *volume;           /* the persistent volume's mount point; NULL when absent or refused */
        char *credentials;      /* the credentials directory; NULL when absent or refused */

        bool has_user;
        char *user_name;
        uid_t uid;
        gid_t gid;

        bool has_ip;
        struct in_addr ip;
        unsigned prefix;        /* 1..32 */
        bool has_gateway;
        struct in_addr gateway;
        char *mac;              /* "aa:bb:cc:dd:ee:ff", lower case; NULL when absent */
        char *dns[GUEST_DNS_MAX];
        size_t n_dns;
} GuestConfig;

void guest_config_init(GuestConfig *c);
void guest_config_done(GuestConfig *c);

/* Parses a kernel command line (the contents of /proc/cmdline) into c, which must have
 * been initialised. Returns the number of problems reported (0: all good); c is usable
 * whatever it returns. */
unsigned guest_cmdline_parse(const char *cmdline, GuestConfig *c);

/* Splits a command line into words as the kernel does: at blanks outside double quotes,
 * the quotes removed (guest_cmdline_parse() does not: see there). Returns a NULL-terminated array (free with guest_strv_free), NULL
 * only when out of memory. */
char **guest_cmdline_split(const char *cmdline);
void guest_strv_free(char **v);

/* Checks of single values, for the parser and the tests. Each returns NULL when the
 * value is good, else why not. */
const char *guest_path_invalid_reason(const char *path);
const char *guest_workspace_invalid_reason(const char *path, const char *software);
const char *guest_user_name_invalid_reason(const char *name);
/* The volume may go anywhere but over / and the guest's own or shared directories; it may
 * lie above the workspace (which is then mounted on it), not above the software share
 * (mounted before it: mkfs.ext4 comes from there). workspace may be NULL. */
const char *guest_volume_invalid_reason(const char *path, const char *workspace, const char *software);
/* The credentials directory goes where a workspace could, mounted last: not on, in or
 * above the workspace, nor on or above the volume (it may lie in the volume). workspace
 * and volume may be NULL. */
const char *guest_credentials_invalid_reason(const char *path, const char *workspace, const char *software,
                                             const char *volume);

/* Parsers of single values: 0 or -EINVAL. */
int guest_parse_user(const char *value, char **ret_name, uid_t *ret_uid, gid_t *ret_gid);
int guest_parse_ipv4_prefix(const char *value, struct in_addr *ret_address, unsigned *ret_prefix);
int guest_parse_ipv4(const char *value, struct in_addr *ret);
int guest_parse_mac(const char *value, char ret[static 18]);
/* Normalises one DNS server address (IPv4 or IPv6) into ret (INET6_ADDRSTRLEN bytes). */
int guest_parse_dns_server(const char *value, char *ret, size_t size);

/* Whether path is prefix or lies below it ("/usr" is below "/usr", "/usrx" is not). */
bool guest_path_is_below(const char *path, const char *prefix);
