/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cmdline.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mvm-name.h"

/* Longer values are refused: paths go into sshd_config and passwd lines. */
#define GUEST_PATH_MAX 1024
#define GUEST_NOBODY_UID 65534

void guest_config_init(GuestConfig *c) {
        *c = (GuestConfig) {};
}

void guest_config_done(GuestConfig *c) {
        free(c->name);
        free(c->workspace);
        free(c->credentials);
        free(c->software);
        free(c->volume);
        free(c->user_name);
        free(c->mac);
        for (size_t i = 0; i < c->n_dns; i++)
                free(c->dns[i]);
        *c = (GuestConfig) {};
}

void guest_strv_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char **guest_cmdline_split(const char *cmdline) {
        size_t n = 0, allocated = 8;
        char **v = calloc(allocated, sizeof(char *));

        if (!v)
                return NULL;
        for (const char *p = cmdline ?: ""; *p;) {
                while (is_blank(*p))
                        p++;
                if (!*p)
                        break;

                /* At most as long as the rest of the line. */
                char *word = malloc(strlen(p) + 1);
                size_t len = 0;
                bool quoted = false;
                if (!word)
                        goto oom;
                for (; *p && (quoted || !is_blank(*p)); p++) {
                        if (*p == '"')
                                quoted = !quoted;
                        else
                                word[len++] = *p;
                }
                word[len] = '\0';

                if (n + 1 >= allocated) {
                        char **grown = reallocarray(v, allocated * 2, sizeof(char *));
                        if (!grown) {
                                free(word);
                                goto oom;
                        }
                        v = grown;
                        allocated *= 2;
                }
                v[n++] = word;
                v[n] = NULL;
        }
        return v;
oom:
        guest_strv_free(v);
        return NULL;
}

bool guest_path_is_below(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        if (strcmp(prefix, "/") == 0)
                return path[0] == '/';
        return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Characters that would break the files the path goes into (passwd's ':' fields,
 * sshd_config's words, comments and %-tokens) or be ambiguous on the command line. */
static bool path_char_ok(unsigned char c) {
        if (c < 0x20 || c == 0x7f)
                return false;
        return !strchr(" \"'\\%:#,", c);
}

const char *guest_path_invalid_reason(const char *path) {
        if (!path || path[0] == '\0')
                return "the path is empty";
        if (path[0] != '/')
                return "the path is not absolute";
        if (strlen(path) > GUEST_PATH_MAX)
                return "the path is too long";
        for (const char *p = path; *p; p++)
                if (!path_char_ok((unsigned char) *p))
                        return "the path contains a blank, a control character or one of \"'\\%:#,";
        if (strcmp(path, "/") == 0)
                return NULL;
        for (const char *p = path; *p;) {
                /* p is at the '/' before a component */
                const char *start = p + 1, *end = strchrnul(start, '/');
                size_t len = (size_t) (end - start);

                if (len == 0)
                        return "the path has an empty component (// or a trailing /)";
                if ((len == 1 && start[0] == '.') || (len == 2 && start[0] == '.' && start[1] == '.'))
                        return "the path has a . or .. component";
                p = end;
        }
        return NULL;
}

/* Where the guest's own file system lives: no share may cover or go below these. */
static const char *const system_dirs_below[] = {
        "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib", "/lib64",
};
static const char *const system_dirs_exact[] = {
        "/", "/usr", "/etc", "/tmp", "/root", "/nix", "/nix/store", "/init", "/var",
};

static const char *software_invalid_reason(const char *path) {
        const char *reason = guest_path_invalid_reason(path);

        if (reason)
                return reason;
        if (strcmp(path, "/") == 0)
                return "the software share cannot be mounted over /";
        for (size_t i = 0; i < sizeof(system_dirs_below) / sizeof(system_dirs_below[0]); i++)
                if (guest_path_is_below(path, system_dirs_below[i]))
                        return "the software share cannot be mounted there";
        if (guest_path_is_below(path, "/etc") || guest_path_is_below(path, "/tmp"))
                return "the software share cannot be mounted there";
        return NULL;
}

const char *guest_workspace_invalid_reason(const char *path, const char *software) {
        const char *reason = guest_path_invalid_reason(path);

        if (reason)
                return reason;
        for (size_t i = 0; i < sizeof(system_dirs_exact) / sizeof(system_dirs_exact[0]); i++)
                if (strcmp(path, system_dirs_exact[i]) == 0)
                        return "the workspace cannot be mounted over a system directory";
        for (size_t i = 0; i < sizeof(system_dirs_below) / sizeof(system_dirs_below[0]); i++)
                if (guest_path_is_below(path, system_dirs_below[i]))
                        return "the workspace cannot be mounted below a system directory";
        if (software && guest_path_is_below(path, software))
                return "the workspace cannot be mounted in the read-only software share";
        if (software && guest_path_is_below(software, path))
                return "the workspace cannot be mounted above the software share";
        return NULL;
}

const char *guest_volume_invalid_reason(const char *path, const char *workspace, const char *software) {
        const char *reason = guest_path_invalid_reason(path);

        if (reason)
                return reason;
        if (strcmp(path, "/") == 0)
                return "the volume cannot be mounted over /";
        for (size_t i = 0; i < sizeof(system_dirs_below) / sizeof(system_dirs_below[0]); i++)
                if (guest_path_is_below(path, system_dirs_below[i]))
                        return "the volume cannot be mounted on or below a system directory";
        if (guest_path_is_below(path, "/usr") || guest_path_is_below(path, "/etc") ||
            guest_path_is_below(path, "/init"))
                return "the volume cannot be mounted on or below a system directory";
        if (software && guest_path_is_below(path, software))
                return "the volume cannot be mounted in the read-only software share";
        if (software && guest_path_is_below(software, path))
                return "the volume cannot be mounted above the software share";
        if (workspace && guest_path_is_below(path, workspace))
                return "the volume cannot be mounted in the workspace";
        return NULL;
}

const char *guest_credentials_invalid_reason(const char *path, const char *workspace, const char *software,
                                             const char *volume) {
        const char *reason = guest_workspace_invalid_reason(path, software);

        if (reason)
                return reason;
        if (workspace && (guest_path_is_below(path, workspace) || guest_path_is_below(workspace, path)))
                return "the credentials directory cannot be mounted on, in or above the workspace";
        if (volume && guest_path_is_below(volume, path))
                return "the credentials directory cannot be mounted on or above the volume";
        return NULL;
}

const char *guest_user_name_invalid_reason(const char *name) {
        size_t len;

        if (!name || name[0] == '\0')
                return "the user name is empty";
        len = strlen(name);
        if (len > GUEST_USER_NAME_MAX)
                return "the user name is longer than 32 characters";
        if (!(isascii(name[0]) && (isalpha(name[0]) || name[0] == '_')))
                return "the user name must start with a letter or '_'";
        for (size_t i = 1; i < len; i++) {
                char c = name[i];
                if (c == '$' && i == len - 1)
                        break;
                if (!(isascii(c) && (isalnum(c) || c == '_' || c == '-' || c == '.')))
                        return "the user name may contain only letters, digits, '_', '-', '.' and a final '$'";
        }
        return NULL;
}

/* A decimal id: digits only, no leading zero, below 2^32 - 1 (which means "none"). */
static int parse_id(const char *s, size_t len, uint32_t *ret) {
        uint64_t v = 0;

        if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        if (v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int guest_parse_user(const char *value, char **ret_name, uid_t *ret_uid, gid_t *ret_gid) {
        const char *colon1 = strchr(value, ':'), *colon2;
        uint32_t uid, gid;
        char *name;

        if (!colon1)
                return -EINVAL;
        colon2 = strchr(colon1 + 1, ':');
        if (!colon2 || strchr(colon2 + 1, ':'))
                return -EINVAL;
        if (parse_id(colon1 + 1, (size_t) (colon2 - colon1 - 1), &uid) < 0 ||
            parse_id(colon2 + 1, strlen(colon2 + 1), &gid) < 0)
                return -EINVAL;
        name = strndup(value, (size_t) (colon1 - value));
        if (!name)
                return -ENOMEM;
        if (guest_user_name_invalid_reason(name) ||
            /* The guest's own accounts: root only as uid 0, and the other way round. */
            ((strcmp(name, "root") == 0) != (uid == 0)) ||
            strcmp(name, "sshd") == 0 || strcmp(name, "nobody") == 0 || uid == GUEST_NOBODY_UID) {
                free(name);
                return -EINVAL;
        }
        *ret_name = name;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

int guest_parse_ipv4(const char *value, struct in_addr *ret) {
        /* inet_pton accepts exactly the dotted quad, no shortened forms. */
        return inet_pton(AF_INET, value, ret) == 1 ? 0 : -EINVAL;
}

int guest_parse_ipv4_prefix(const char *value, struct in_addr *ret_address, unsigned *ret_prefix) {
        const char *slash = strchr(value, '/');
        char address[INET_ADDRSTRLEN];
        uint32_t prefix;

        if (!slash || (size_t) (slash - value) >= sizeof(address))
                return -EINVAL;
        memcpy(address, value, (size_t) (slash - value));
        address[slash - value] = '\0';
        if (parse_id(slash + 1, strlen(slash + 1), &prefix) < 0 || prefix < 1 || prefix > 32)
                return -EINVAL;
        if (guest_parse_ipv4(address, ret_address) < 0)
                return -EINVAL;
        *ret_prefix = prefix;
        return 0;
}

int guest_parse_mac(const char *value, char ret[static 18]) {
        if (strlen(value) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 17; i++) {
                char c = value[i];
                if (i % 3 == 2) {
                        if (c != ':')
                                return -EINVAL;
                        ret[i] = ':';
                } else {
                        if (!isascii(c) || !isxdigit(c))
                                return -EINVAL;
                        ret[i] = (char) tolower(c);
                }
        }
        ret[17] = '\0';
        return 0;
}

int guest_parse_dns_server(const char *value, char *ret, size_t size) {
        unsigned char buf[sizeof(struct in6_addr)];

        if (inet_pton(AF_INET, value, buf) == 1)
                return inet_ntop(AF_INET, buf, ret, (socklen_t) size) ? 0 : -EINVAL;
        if (inet_pton(AF_INET6, value, buf) == 1)
                return inet_ntop(AF_INET6, buf, ret, (socklen_t) size) ? 0 : -EINVAL;
        return -EINVAL;
}

static bool same_subnet(struct in_addr a, struct in_addr b, unsigned prefix) {
        uint32_t mask = prefix == 0 ? 0 : htonl(~(uint32_t) 0 << (32 - prefix));

        return (a.s_addr & mask) == (b.s_addr & mask);
}

static void replace_string(char **p, const char *value) {
        char *copy = strdup(value);

        if (!copy) {
                guest_log_error("out of memory");
                return;
        }
        free(*p);
        *p = copy;
}

/* Handlers: each reports its own errors; false when the value was refused. */

static bool set_name(GuestConfig *c, const char *value) {
        const char *reason = mvm_name_invalid_reason(value);

        if (reason) {
                guest_log_error("ignoring microvm.name=%s: %s", value, reason);
                return false;
        }
        replace_string(&c->name, value);
        return true;
}

static bool set_path(char **field, const char *key, const char *value) {
        const char *reason = guest_path_invalid_reason(value);

        if (reason) {
                guest_log_error("ignoring %s=%s: %s", key, value, reason);
                return false;
        }
        replace_string(field, value);
        return true;
}

static bool set_user(GuestConfig *c, const char *value) {
        char *name = NULL;
        uid_t uid;
        gid_t gid;

        if (guest_parse_user(value, &name, &uid, &gid) < 0) {
                guest_log_error("ignoring microvm.user=%s: not NAME:UID:GID with a valid user name "
                                "and ids (root only as 0, not sshd or nobody)", value);
                return false;
        }
        free(c->user_name);
        c->user_name = name;
        c->uid = uid;
        c->gid = gid;
        c->has_user = true;
        return true;
}

static bool set_ip(GuestConfig *c, const char *value) {
        struct in_addr ip;
        unsigned prefix;

        if (guest_parse_ipv4_prefix(value, &ip, &prefix) < 0) {
                guest_log_error("ignoring microvm.ip=%s: not an IPv4 ADDRESS/PREFIX (prefix 1-32)", value);
                return false;
        }
        c->ip = ip;
        c->prefix = prefix;
        c->has_ip = true;
        return true;
}

static bool set_gateway(GuestConfig *c, const char *value) {
        struct in_addr gateway;

        if (guest_parse_ipv4(value, &gateway) < 0) {
                guest_log_error("ignoring microvm.gateway=%s: not an IPv4 address", value);
                return false;
        }
        c->gateway = gateway;
        c->has_gateway = true;
        return true;
}

static bool set_mac(GuestConfig *c, const char *value) {
        char mac[18];

        if (guest_parse_mac(value, mac) < 0) {
                guest_log_error("ignoring microvm.mac=%s: not a MAC address like 02:00:00:00:00:02", value);
                return false;
        }
        replace_string(&c->mac, mac);
        return true;
}

/* The servers of the last microvm.dns= with at least one good one. */
static bool set_dns(GuestConfig *c, const char *value) {
        char *servers[GUEST_DNS_MAX] = {};
        size_t n = 0;
        bool ok = true;

        for (const char *p = value;;) {
                const char *end = strchrnul(p, ',');
                size_t len = (size_t) (end - p);
                char item[INET6_ADDRSTRLEN + 1], server[INET6_ADDRSTRLEN];

                if (len == 0 || len >= sizeof(item)) {
                        guest_log_error("microvm.dns=%s: ignoring an empty or overlong entry", value);
                        ok = false;
                } else {
                        memcpy(item, p, len);
                        item[len] = '\0';
                        if (guest_parse_dns_server(item, server, sizeof(server)) < 0) {
                                guest_log_error("microvm.dns=%s: ignoring %s: not an IP address", value, item);
                                ok = false;
                        } else if (n >= GUEST_DNS_MAX) {
                                guest_log_error("microvm.dns=%s: ignoring %s: at most %d servers are used",
                                                value, item, GUEST_DNS_MAX);
                                ok = false;
                        } else if ((servers[n] = strdup(server)))
                                n++;
                }
                if (!*end)
                        break;
                p = end + 1;
        }

        if (n == 0)
                return false;
        for (size_t i = 0; i < c->n_dns; i++)
                free(c->dns[i]);
        memcpy(c->dns, servers, sizeof(servers));
        c->n_dns = n;
        return ok;
}

typedef struct Parameter {
        const char *key;
        bool (*set)(GuestConfig *c, const char *value);
} Parameter;

static bool set_workspace(GuestConfig *c, const char *value) {
        return set_path(&c->workspace, "microvm.workspace", value);
}

static bool set_software(GuestConfig *c, const char *value) {
        return set_path(&c->software, "microvm.software", value);
}

static bool set_volume(GuestConfig *c, const char *value) {
        return set_path(&c->volume, "microvm.volume", value);
}

static bool set_credentials(GuestConfig *c, const char *value) {
        return set_path(&c->credentials, "microvm.credentials", value);
}

static const Parameter parameters[] = {
        { "microvm.name", set_name },
        { "microvm.workspace", set_workspace },
        { "microvm.software", set_software },
        { "microvm.user", set_user },
        { "microvm.ip", set_ip },
        { "microvm.gateway", set_gateway },
        { "microvm.mac", set_mac },
        { "microvm.dns", set_dns },
        { "microvm.volume", set_volume },
        { "microvm.credentials", set_credentials },
};

static unsigned parse_word(GuestConfig *c, const char *word) {
        const char *eq = strchr(word, '=');
        size_t key_len = eq ? (size_t) (eq - word) : strlen(word);

        if (strncmp(word, "microvm.", 8) != 0)
                return 0; /* the kernel's or someone else's */
        for (size_t i = 0; i < sizeof(parameters) / sizeof(parameters[0]); i++) {
                if (strlen(parameters[i].key) != key_len || strncmp(word, parameters[i].key, key_len) != 0)
                        continue;
                if (!eq) {
                        guest_log_error("ignoring %s: it needs a value (%s=...)", word, parameters[i].key);
                        return 1;
                }
                return parameters[i].set(c, eq + 1) ? 0 : 1;
        }
        guest_log("ignoring unknown parameter %.*s", (int) key_len, word);
        return 0;
}

/* Checks that need all parameters: defaults, and values that depend on others. */
static unsigned finish(GuestConfig *c) {
        unsigned problems = 0;
        const char *reason;

        if (!c->software)
                replace_string(&c->software, GUEST_DEFAULT_SOFTWARE);
        else if ((reason = software_invalid_reason(c->software))) {
                guest_log_error("ignoring microvm.software=%s: %s; using %s", c->software, reason,
                                GUEST_DEFAULT_SOFTWARE);
                replace_string(&c->software, GUEST_DEFAULT_SOFTWARE);
                problems++;
        }

        if (!c->name) {
                guest_log_error("no valid microvm.name= on the kernel command line; using %s", GUEST_DEFAULT_NAME);
                replace_string(&c->name, GUEST_DEFAULT_NAME);
                problems++;
        }

        if (!c->workspace) {
                guest_log_error("no valid microvm.workspace= on the kernel command line");
                problems++;
        } else if ((reason = guest_workspace_invalid_reason(c->workspace, c->software))) {
                guest_log_error("ignoring microvm.workspace=%s: %s", c->workspace, reason);
                free(c->workspace);
                c->workspace = NULL;
                problems++;
        }

        /* After the workspace: a refused workspace is not mounted and cannot conflict. */
        if (c->volume && (reason = guest_volume_invalid_reason(c->volume, c->workspace, c->software))) {
                guest_log_error("ignoring microvm.volume=%s: %s", c->volume, reason);
                free(c->volume);
                c->volume = NULL;
                problems++;
        }

        if (c->credentials &&
            (reason = guest_credentials_invalid_reason(c->credentials, c->workspace, c->software, c->volume))) {
                guest_log_error("ignoring microvm.credentials=%s: %s", c->credentials, reason);
                free(c->credentials);
                c->credentials = NULL;
                problems++;
        }

        if (!c->has_user) {
                guest_log_error("no valid microvm.user= on the kernel command line");
                problems++;
        }

        if (c->has_gateway && !c->has_ip) {
                char gw[INET_ADDRSTRLEN] = "?";
                inet_ntop(AF_INET, &c->gateway, gw, sizeof(gw));
                guest_log_error("ignoring microvm.gateway=%s: no microvm.ip=", gw);
                c->has_gateway = false;
                problems++;
        } else if (c->has_gateway && !same_subnet(c->ip, c->gateway, c->prefix)) {
                char gw[INET_ADDRSTRLEN] = "?";
                inet_ntop(AF_INET, &c->gateway, gw, sizeof(gw));
                guest_log_error("ignoring microvm.gateway=%s: not in the subnet of microvm.ip=", gw);
                c->has_gateway = false;
                problems++;
        } else if (c->has_gateway && c->gateway.s_addr == c->ip.s_addr) {
                guest_log_error("ignoring microvm.gateway=: it is the guest's own address (microvm.ip=)");
                c->has_gateway = false;
                problems++;
        }
        return problems;
}

/* microvm.* parameters are read from the line's blank-separated words as they are, not
 * as the kernel groups them with quotes: microvmd appends its own last and never quotes
 * them, so a quote earlier in the line cannot swallow them, and the last valid value of
 * each wins. A quoted microvm.* word is not microvmd's: ignored. */
unsigned guest_cmdline_parse(const char *cmdline, GuestConfig *c) {
        unsigned problems = 0;

        for (const char *p = cmdline ?: ""; *p;) {
                const char *start;
                char *word;

                while (is_blank(*p))
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && !is_blank(*p))
                        p++;
                word = strndup(start, (size_t) (p - start));
                if (!word) {
                        guest_log_error("out of memory reading the kernel command line");
                        problems++;
                        break;
                }
                if (strncmp(word, "microvm.", 8) == 0 && strchr(word, '"')) {
                        guest_log_error("ignoring %s: microvmd never quotes its parameters", word);
                        problems++;
                } else
                        problems += parse_word(c, word);
                free(word);
        }
        return problems + finish(c);
}
