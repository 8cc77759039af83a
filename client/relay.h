/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Moving bytes between the file descriptors microvmd hands out (GetLogs, OpenConsole)
 * and the terminal. SIGINT, SIGTERM and SIGHUP end a copy or relay quietly; the
 * terminal is always put back as it was. */

/* The byte that leaves an interactive console: Ctrl-]. */
#define RELAY_ESCAPE_BYTE 0x1d

/* How long a non-interactive console keeps reading the VM's answers after its input
 * ended: until the VM has been quiet for this long. */
#define RELAY_IDLE_AFTER_INPUT_MSEC 2000

typedef enum RelayEnd {
        RELAY_END_EOF = 1,     /* the other side closed (logs: all copied) */
        RELAY_END_INTERRUPTED, /* a signal asked to stop */
        RELAY_END_OUTPUT_GONE, /* stdout was closed (e.g. "| head") */
        RELAY_END_ESCAPE,      /* console: the escape byte was typed */
        RELAY_END_INPUT_DONE,  /* console without a terminal: stdin ended, VM then idle */
} RelayEnd;

/* Copies fd to stdout until EOF. Returns a RelayEnd, or a negative errno on failure. */
int relay_copy_to_stdout(int fd);

/* Relays stdin to fd and fd to stdout. interactive: stdin is a terminal, put in raw
 * mode meanwhile; the escape byte leaves. Otherwise stdin is relayed until EOF, and
 * the VM's output until it has been idle for RELAY_IDLE_AFTER_INPUT_MSEC.
 * Returns a RelayEnd, or a negative errno on failure. */
int relay_console(int fd, bool interactive);
