/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every part of microvm-client shares: its name, its exit codes and the parsed
 * command line. main.c fills in an Args; each command (commands.h) reads it. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PROGRAM_NAME "microvm-client"

/* Exit codes, documented in --help and the man page. */
#define EXIT_USAGE          2
#define EXIT_NO_SUCH_VM     3
#define EXIT_NOT_AUTHORIZED 4
/* 128 + SIGINT, as the shell reports an interrupted command. */
#define EXIT_INTERRUPTED    130

/* ssh: how long to wait for a booting VM by default (--help tells it). */
#define SSH_DEFAULT_TIMEOUT_SEC 120

typedef struct Args {
        const char *command;
        bool ask_password;
        bool json;

        /* create */
        bool vcpus_set;
        uint32_t vcpus;
        bool memory_set;
        uint64_t memory_mib;
        const char *ip_address; /* NULL: microvmd picks the lowest free one */
        uint64_t volume_gib;    /* 0: no persistent volume */
        const char *egress;     /* NULL: as microvmd's config says */
        char *credentials;      /* absolute; NULL: [Manager] DefaultCredentialsDirectory= */
        bool no_credentials;    /* not even the configured default */
        GPtrArray *key_files; /* NULL-terminated once parsed */

        /* delete */
        bool purge;

        /* start, stop */
        bool no_wait;
        bool force;

        /* logs */
        bool follow;
        uint64_t lines; /* 0: all of them */

        /* autostart */
        bool autostart;

        /* ssh */
        uint64_t timeout_sec;
        char **remote_command; /* after "--"; NULL-terminated, may be empty */

        const char *name;
} Args;
