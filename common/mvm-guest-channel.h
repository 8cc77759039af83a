/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest channel: one-way, guest to host, a few facts microvm-init tells microvmd.
 *
 * Transport: with QEMU a virtio-serial port named MVM_GUEST_CHANNEL_PORT_NAME
 * (/sys/class/virtio-ports/vportNpM/name); with cloud-hypervisor, which has no named
 * virtio-serial ports, a vsock connection to the host (CID 2) on port
 * MVM_GUEST_CHANNEL_VSOCK_PORT, which cloud-hypervisor hands to the unix socket
 * "PATH_PORT" beside its --vsock socket=PATH. microvmd listens on both.
 *
 * Protocol: lines of one known word, each ending in '\n', at most
 * MVM_GUEST_CHANNEL_LINE_MAX bytes with the '\n':
 *   armed      the guest listens to the power button (a press is now heard)
 *   ready      the guest's sshd listens
 *   stopping   the guest is shutting down (it heard the press, or a signal)
 * A guest repeats the facts that hold whenever the host (re)connects. The writer is the
 * guest, hostile: anything else is junk, ignored; a fact only ever sets that VM's own
 * state. */

#include <stdbool.h>
#include <stddef.h>

#define MVM_GUEST_CHANNEL_PORT_NAME "org.microvm.guest"
#define MVM_GUEST_CHANNEL_VSOCK_PORT 1024
#define MVM_GUEST_CHANNEL_LINE_MAX 32

typedef enum MvmGuestWord {
        MVM_GUEST_WORD_JUNK,
        MVM_GUEST_WORD_ARMED,
        MVM_GUEST_WORD_READY,
        MVM_GUEST_WORD_STOPPING,
} MvmGuestWord;

/* The word of one line (without its '\n'); JUNK for anything but a known word. */
MvmGuestWord mvm_guest_word_parse(const char *line, size_t size);
const char *mvm_guest_word_to_string(MvmGuestWord w);

/* Splits a byte stream into lines, in a bounded buffer: an over-long line is junk up to
 * its '\n', however long. */
typedef struct MvmGuestLineReader {
        char buf[MVM_GUEST_CHANNEL_LINE_MAX];
        size_t n;
        bool overlong;
} MvmGuestLineReader;

typedef void (*MvmGuestWordHandler)(MvmGuestWord w, void *userdata);

/* Feeds size bytes; calls handler once per complete line. A partial line waits for more. */
void mvm_guest_line_reader_feed(MvmGuestLineReader *r, const void *data, size_t size, MvmGuestWordHandler handler,
                                void *userdata);
