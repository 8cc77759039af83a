/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "etc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mvm-macro.h"

uid_t guest_sshd_uid(const GuestConfig *c) {
        return c->has_user && c->uid == GUEST_SSHD_UID ? GUEST_SSHD_UID - 1 : GUEST_SSHD_UID;
}

const char *guest_pick_shell(const char *root) {
        _cleanup_free_ char *bash = NULL;

        if (asprintf(&bash, "%s/bin/bash", strcmp(root, "/") == 0 ? "" : root) < 0)
                return "/bin/sh";
        return access(bash, X_OK) == 0 ? "/bin/bash" : "/bin/sh";
}

/* A string built with stdio; NULL when out of memory. */
typedef struct Text {
        char *buf;
        size_t size;
        FILE *f;
} Text;

static bool text_open(Text *t) {
        *t = (Text) {};
        t->f = open_memstream(&t->buf, &t->size);
        return t->f != NULL;
}

static char *text_close(Text *t) {
        bool failed = ferror(t->f);

        if (fclose(t->f) != 0 || failed) {
                free(t->buf);
                return NULL;
        }
        return t->buf;
}

static bool owner_is_root(const GuestConfig *c) {
        return c->has_user && c->uid == 0;
}

char *guest_etc_passwd(const GuestConfig *c, const char *shell) {
        Text t;

        if (!text_open(&t))
                return NULL;
        /* The owner's home is the credentials directory (the agent's logins and settings
         * live there), else the workspace: that is where ssh puts them. */
        const char *home = c->credentials ?: c->workspace;

        fprintf(t.f, "root:x:0:0:root:%s:%s\n", owner_is_root(c) && home ? home : "/root", shell);
        if (c->has_user && !owner_is_root(c))
                fprintf(t.f, "%s:x:%u:%u::%s:%s\n", c->user_name, (unsigned) c->uid, (unsigned) c->gid, home ?: "/",
                        shell);
        fprintf(t.f, "sshd:x:%u:%u:sshd privilege separation:/run/sshd:%s\n", (unsigned) guest_sshd_uid(c),
                GUEST_NOGROUP_GID, GUEST_NOLOGIN);
        fprintf(t.f, "nobody:x:65534:%u:nobody:/nonexistent:%s\n", GUEST_NOGROUP_GID, GUEST_NOLOGIN);
        return text_close(&t);
}

char *guest_etc_group(const GuestConfig *c) {
        Text t;

        if (!text_open(&t))
                return NULL;
        fputs("root:x:0:\n", t.f);
        /* sshd gives pseudo-terminals to the group tty, mode 0620. */
        fputs("tty:x:5:\n", t.f);
        /* The owner's group, named after them (its host name is not passed); none when the
         * gid is one of the guest's own groups. */
        if (c->has_user && c->gid != 0 && c->gid != 5 && c->gid != GUEST_NOGROUP_GID)
                fprintf(t.f, "%s:x:%u:\n", c->user_name, (unsigned) c->gid);
        fprintf(t.f, "nogroup:x:%u:\n", GUEST_NOGROUP_GID);
        return text_close(&t);
}

/* No passwords at all. "*" matches no password but is not "locked": sshd without PAM
 * refuses even key logins to accounts whose hash starts with "!". */
char *guest_etc_shadow(const GuestConfig *c) {
        Text t;

        if (!text_open(&t))
                return NULL;
        fputs("root:*:::::::\n", t.f);
        if (c->has_user && !owner_is_root(c))
                fprintf(t.f, "%s:*:::::::\n", c->user_name);
        fputs("sshd:!*:::::::\n", t.f);
        fputs("nobody:!*:::::::\n", t.f);
        return text_close(&t);
}

char *guest_etc_hosts(const GuestConfig *c) {
        char ip[INET_ADDRSTRLEN] = "127.0.1.1";
        Text t;

        if (c->has_ip)
                inet_ntop(AF_INET, &c->ip, ip, sizeof(ip));
        if (!text_open(&t))
                return NULL;
        fputs("127.0.0.1\tlocalhost\n", t.f);
        fputs("::1\tlocalhost ip6-localhost ip6-loopback\n", t.f);
        fprintf(t.f, "%s\t%s\n", ip, c->name);
        return text_close(&t);
}

char *guest_etc_hostname(const GuestConfig *c) {
        char *s = NULL;

        return asprintf(&s, "%s\n", c->name) < 0 ? NULL : s;
}

char *guest_etc_resolv_conf(const GuestConfig *c) {
        Text t;

        if (!text_open(&t))
                return NULL;
        if (c->n_dns == 0)
                fputs("# microvm-init: no DNS servers (no microvm.dns= on the kernel command line)\n", t.f);
        else
                fputs("# microvm-init: from microvm.dns= on the kernel command line\n", t.f);
        for (size_t i = 0; i < c->n_dns; i++)
                fprintf(t.f, "nameserver %s\n", c->dns[i]);
        return text_close(&t);
}

char *guest_etc_nsswitch_conf(void) {
        return strdup("passwd:         files\n"
                      "group:          files\n"
                      "shadow:         files\n"
                      "gshadow:        files\n"
                      "hosts:          files dns\n"
                      "networks:       files\n"
                      "protocols:      files\n"
                      "services:       files\n"
                      "ethers:         files\n"
                      "rpc:            files\n"
                      "netgroup:       files\n");
}

char *guest_etc_sshd_config(const GuestConfig *c) {
        Text t;

        if (!c->workspace || !c->has_user)
                return NULL;
        if (!text_open(&t))
                return NULL;
        fputs("# Generated by microvm-init from the kernel command line at every boot.\n", t.f);
        /* The VM's own host key and the keys allowed in, both kept in the workspace by
         * microvmd; they belong to the owner, not root, hence StrictModes no. */
        fprintf(t.f, "HostKey %s/ssh-host-keys/ssh_host_ed25519_key\n", c->workspace);
        fprintf(t.f, "AuthorizedKeysFile %s/ssh-host-keys/authorized_keys\n", c->workspace);
        fprintf(t.f, "AllowUsers %s\n", c->user_name);
        fprintf(t.f, "PermitRootLogin %s\n", owner_is_root(c) ? "prohibit-password" : "no");
        fputs("PasswordAuthentication no\n"
              "KbdInteractiveAuthentication no\n"
              "UsePAM no\n"
              "StrictModes no\n"
              "PidFile /run/sshd.pid\n"
              "PrintMotd no\n"
              "PrintLastLog no\n"
              "X11Forwarding no\n"
              "AcceptEnv LANG LC_*\n"
              "Subsystem sftp internal-sftp\n",
              t.f);
        return text_close(&t);
}

static const char etc_protocols[] =
        "ip\t0\tIP\n"
        "icmp\t1\tICMP\n"
        "tcp\t6\tTCP\n"
        "udp\t17\tUDP\n"
        "ipv6\t41\tIPv6\n"
        "ipv6-icmp\t58\tIPv6-ICMP\n";

static const char etc_services[] =
        "ftp\t\t21/tcp\n"
        "ssh\t\t22/tcp\n"
        "smtp\t\t25/tcp\n"
        "domain\t\t53/tcp\n"
        "domain\t\t53/udp\n"
        "http\t\t80/tcp\n"
        "ntp\t\t123/udp\n"
        "https\t\t443/tcp\n"
        "rsync\t\t873/tcp\n"
        "git\t\t9418/tcp\n";

/* Writes ROOT_FD/PATH whole; "" as contents writes an empty file. */
static int write_file(int root_fd, const char *path, const char *contents, mode_t mode) {
        _cleanup_close_ int fd = -1;
        size_t len;

        if (!contents) {
                guest_log_error("cannot generate /%s: out of memory", path);
                return -ENOMEM;
        }
        fd = openat(root_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0) {
                int r = -errno;
                guest_log_error("cannot write /%s: %s", path, strerror(errno));
                return r;
        }
        /* O_CREAT leaves the mode of an existing file alone. */
        if (fchmod(fd, mode) < 0) {
                int r = -errno;
                guest_log_error("cannot chmod /%s: %s", path, strerror(errno));
                return r;
        }
        len = strlen(contents);
        for (size_t done = 0; done < len;) {
                ssize_t n = write(fd, contents + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        guest_log_error("cannot write /%s: %s", path, strerror(errno));
                        return r;
                }
                done += (size_t) n;
        }
        return 0;
}

/* Takes ownership of contents. */
static int write_generated(int root_fd, const char *path, char *contents, mode_t mode) {
        int r = write_file(root_fd, path, contents, mode);

        free(contents);
        return r;
}

static int make_dir(int root_fd, const char *path, mode_t mode) {
        if (mkdirat(root_fd, path, mode) < 0 && errno != EEXIST) {
                int r = -errno;
                guest_log_error("cannot create /%s: %s", path, strerror(errno));
                return r;
        }
        /* The umask must not decide the mode (/var/tmp needs its sticky bit). */
        if (fchmodat(root_fd, path, mode, 0) < 0) {
                int r = -errno;
                guest_log_error("cannot chmod /%s: %s", path, strerror(errno));
                return r;
        }
        return 0;
}

static int make_symlink(int root_fd, const char *target, const char *path) {
        (void) unlinkat(root_fd, path, 0);
        if (symlinkat(target, root_fd, path) < 0) {
                int r = -errno;
                guest_log_error("cannot create the symlink /%s: %s", path, strerror(errno));
                return r;
        }
        return 0;
}

static void keep_first_error(int *r, int q) {
        if (*r == 0 && q < 0)
                *r = q;
}

int guest_etc_write(const char *root, const GuestConfig *c, const char *shell) {
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (root_fd < 0) {
                r = -errno;
                guest_log_error("cannot open %s: %s", root, strerror(errno));
                return r;
        }

        static const struct {
                const char *path;
                mode_t mode;
        } dirs[] = {
                { "etc", 0755 },    { "etc/ssh", 0755 }, { "run", 0755 },    { "run/sshd", 0755 },
                { "root", 0700 },   { "var", 0755 },     { "var/tmp", 01777 }, { "var/log", 0755 },
        };
        for (size_t i = 0; i < MVM_ELEMENTSOF(dirs); i++)
                keep_first_error(&r, make_dir(root_fd, dirs[i].path, dirs[i].mode));

        keep_first_error(&r, write_generated(root_fd, "etc/passwd", guest_etc_passwd(c, shell), 0644));
        keep_first_error(&r, write_generated(root_fd, "etc/group", guest_etc_group(c), 0644));
        keep_first_error(&r, write_generated(root_fd, "etc/shadow", guest_etc_shadow(c), 0600));
        keep_first_error(&r, write_generated(root_fd, "etc/hosts", guest_etc_hosts(c), 0644));
        keep_first_error(&r, write_generated(root_fd, "etc/hostname", guest_etc_hostname(c), 0644));
        keep_first_error(&r, write_generated(root_fd, "etc/resolv.conf", guest_etc_resolv_conf(c), 0644));
        keep_first_error(&r, write_generated(root_fd, "etc/nsswitch.conf", guest_etc_nsswitch_conf(), 0644));
        keep_first_error(&r, write_file(root_fd, "etc/protocols", etc_protocols, 0644));
        keep_first_error(&r, write_file(root_fd, "etc/services", etc_services, 0644));
        keep_first_error(&r, write_file(root_fd, "etc/shells", "/bin/sh\n/bin/bash\n", 0644));
        if (c->workspace && c->has_user)
                keep_first_error(&r, write_generated(root_fd, "etc/ssh/sshd_config", guest_etc_sshd_config(c),
                                                     0644));
        keep_first_error(&r, make_symlink(root_fd, "../proc/self/mounts", "etc/mtab"));
        if (faccessat(root_fd, "usr/lib/os-release", F_OK, 0) == 0)
                keep_first_error(&r, make_symlink(root_fd, "../usr/lib/os-release", "etc/os-release"));
        return r;
}
