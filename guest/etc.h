/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's /etc, generated at every boot into the ephemeral root from the kernel
 * command line: nothing of the host's /etc is shared. The generators return the file
 * contents (malloc'd, NULL when out of memory); guest_etc_write() puts them in place. */

#include <sys/types.h>

#include "cmdline.h"

/* sshd's privilege separation user (Debian's sshd runs its pre-authentication child as
 * "sshd", chrooted into /run/sshd); the group is nogroup. */
#define GUEST_SSHD_UID 65533
#define GUEST_NOGROUP_GID 65534
#define GUEST_NOLOGIN "/usr/sbin/nologin"
#define GUEST_SSHD_CONFIG "/etc/ssh/sshd_config"

/* The uid of the sshd user: GUEST_SSHD_UID, or one below when the owner has that uid. */
uid_t guest_sshd_uid(const GuestConfig *c);

/* "/bin/bash" when ROOT/bin/bash is executable (in the software share), else "/bin/sh". */
const char *guest_pick_shell(const char *root) __attribute__((returns_nonnull));

char *guest_etc_passwd(const GuestConfig *c, const char *shell);
char *guest_etc_group(const GuestConfig *c);
char *guest_etc_shadow(const GuestConfig *c);
char *guest_etc_hosts(const GuestConfig *c);
char *guest_etc_hostname(const GuestConfig *c);
char *guest_etc_resolv_conf(const GuestConfig *c);
char *guest_etc_nsswitch_conf(void);
/* NULL also when sshd cannot be configured: no workspace or no owner. */
char *guest_etc_sshd_config(const GuestConfig *c);

/* Writes the files above (and protocols, services, shells, the mtab and os-release
 * links) into ROOT/etc, and creates ROOT/run/sshd, ROOT/root and ROOT/var/tmp. ROOT is "/"
 * in the guest, a temporary directory in the tests. Returns 0 or the first negative errno;
 * every problem is logged, and the other files are still written. */
int guest_etc_write(const char *root, const GuestConfig *c, const char *shell);
