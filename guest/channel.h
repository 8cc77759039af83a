/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest's side of the guest channel (common/mvm-guest-channel.h): microvm-init tells
 * the host facts, and tells them again whenever the host (re)connects. Never blocks. */

#include <stdbool.h>

#include "mvm-guest-channel.h"

typedef struct GuestChannel {
        int fd;                 /* -1: not open */
        bool vsock;
        bool facts[MVM_GUEST_WORD_STOPPING + 1];
        bool sent[MVM_GUEST_WORD_STOPPING + 1];  /* on this connection */
        bool host_gone;         /* virtio-serial: nobody on the host side yet */
} GuestChannel;

void guest_channel_init(GuestChannel *c, bool vsock_allowed);

/* Opens the channel if it is not open: the virtio-serial port named
 * MVM_GUEST_CHANNEL_PORT_NAME under SYS_PORTS_DIR (/sys/class/virtio-ports), else a vsock
 * connection to the host. 0 when open, < 0 when there is none (yet). */
int guest_channel_open(GuestChannel *c, const char *sys_ports_dir);

/* Records a fact and sends what the host has not heard. */
void guest_channel_say(GuestChannel *c, MvmGuestWord w);

/* Sends what is not sent yet; true when nothing is left (or there is no channel). */
bool guest_channel_flush(GuestChannel *c);

/* The fd to poll (events 0: a hang-up), or -1 while a retry timer must serve instead. */
int guest_channel_poll_fd(const GuestChannel *c);

/* poll() reported revents on the fd: the host went; everything is sent again later. */
void guest_channel_on_revents(GuestChannel *c, short revents);

/* Whether the port named NAME is ours: the content of /sys/class/virtio-ports/X/name. */
bool guest_channel_port_name_matches(const char *content);

/* Whether /proc/net/tcp or tcp6 text (the whole file) has a socket listening on port. */
bool guest_tcp_table_listens(const char *table, unsigned port);
