/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client: the unprivileged command-line client of microvmd. This file reads
 * the command line (global options, the command word, its options and arguments),
 * prints --help, and runs the command with a bus connection; the commands themselves
 * are in cmd-*.c (see commands.h). */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-util.h"
#include "client.h"
#include "commands.h"
#include "config.h"
#include "mvm-name.h"
#include "mvm-net.h"
#include "mvm-size.h"
#include "mvm-vmdef.h"
#include "output.h"
#include "polkit-agent.h"

static void args_clear(Args *args) {
        if (args->key_files)
                g_ptr_array_unref(args->key_files);
        g_free(args->credentials);
}

G_GNUC_PRINTF(1, 2)
static int usage_error(const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        return fail(EXIT_USAGE, "%s (see '%s --help')", msg, PROGRAM_NAME);
}

static void print_help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Create and manage microVM workspaces through microvmd.\n"
               "\n"
               "Commands:\n"
               "  create NAME [--vcpus N] [--memory SIZE] [--ip ADDRESS] [--volume SIZE]\n"
               "              [--egress internet|none] [--key FILE]...\n"
               "              [--credentials DIR | --no-credentials]\n"
               "                         Create a VM and its workspace; the keys in\n"
               "                         ~/.ssh/*.pub (or the --key files) may log in\n"
               "  delete NAME [--purge]  Delete a VM (--purge also removes its workspace)\n"
               "  list                   List the VMs\n"
               "  status NAME            Show the state and properties of a VM\n"
               "  start NAME [--no-wait] Start a VM and wait until it runs\n"
               "  stop NAME [--force]    Shut a VM down and wait until it is stopped\n"
               "  restart NAME           Stop a VM and start it again, with a fresh guest\n"
               "  autostart NAME on|off  Start a VM or not when microvmd starts at boot\n"
               "  logs NAME [-f] [-n N]  Show the log of a VM (its serial console)\n"
               "  console NAME           Connect to the console of a running VM\n"
               "                         (Ctrl-] leaves)\n"
               "  ssh NAME [--timeout SECS] [-- COMMAND...]\n"
               "                         Log into a running VM with ssh as its owner, or\n"
               "                         run COMMAND there; waits while it boots\n"
               "  help                   Show this help\n"
               "\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --no-ask-password   Do not ask for a password to authorize an action\n"
               "     --json              Print JSON instead of tables\n"
               "     --vcpus N           Number of virtual CPUs of a new VM\n"
               "     --memory SIZE       Memory of a new VM: MiB, or with a suffix M, G or T\n"
               "                         (binary units, e.g. 8G)\n"
               "     --ip ADDRESS        Address of a new VM in the VM subnet (default: the\n"
               "                         lowest free one)\n"
               "     --volume SIZE       A persistent volume of SIZE (whole GiB, e.g. 8G) for a\n"
               "                         new VM, mounted on /var in the guest\n"
               "     --egress POLICY     What a new VM may reach: internet (public addresses)\n"
               "                         or none (only DNS); never more than the config allows\n"
               "     --credentials DIR   Share DIR (yours) read-write with a new VM as the guest\n"
               "                         user's $HOME, for the agent's logins and settings\n"
               "                         (default: the config's DefaultCredentialsDirectory=)\n"
               "     --no-credentials    No credentials directory, not even the default\n"
               "     --key FILE          Send the public keys in FILE instead of\n"
               "                         ~/.ssh/*.pub; may be given more than once\n"
               "     --purge             Also remove the workspace directory on delete\n"
               "     --no-wait           Do not wait until a started VM runs\n"
               "     --force             Kill the VM instead of shutting the guest down\n"
               "  -f --follow            Keep showing new log lines until interrupted\n"
               "  -n --lines N           Show only the last N lines of the log\n"
               "     --timeout SECS      How long ssh waits for a booting VM to accept\n"
               "                         SSH connections (default: %d)\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 bad command line, 3 no such VM,\n"
               "4 not authorized, 130 interrupted while waiting for start or stop;\n"
               "ssh: the exit status of ssh (255 when ssh itself failed).\n"
               "\n"
               "See the %s(1) man page for details.\n",
               PROGRAM_NAME, SSH_DEFAULT_TIMEOUT_SEC, PROGRAM_NAME);
}

enum {
        ARG_VERSION = 0x100,
        ARG_NO_ASK_PASSWORD,
        ARG_JSON,
        ARG_VCPUS,
        ARG_IP,
        ARG_VOLUME,
        ARG_EGRESS,
        ARG_CREDENTIALS,
        ARG_NO_CREDENTIALS,
        ARG_MEMORY,
        ARG_KEY,
        ARG_PURGE,
        ARG_NO_WAIT,
        ARG_FORCE,
        ARG_TIMEOUT,
};

/* Accepted both before and after the command. */
#define GLOBAL_OPTIONS                                                          \
        { "help",            no_argument,       NULL, 'h'                 }, \
        { "version",         no_argument,       NULL, ARG_VERSION         }, \
        { "no-ask-password", no_argument,       NULL, ARG_NO_ASK_PASSWORD }, \
        { "json",            no_argument,       NULL, ARG_JSON            }

static const struct option global_options[] = {
        GLOBAL_OPTIONS,
        {}
};

static const struct option create_options[] = {
        GLOBAL_OPTIONS,
        { "vcpus",  required_argument, NULL, ARG_VCPUS  },
        { "memory", required_argument, NULL, ARG_MEMORY },
        { "ip",     required_argument, NULL, ARG_IP     },
        { "volume", required_argument, NULL, ARG_VOLUME },
        { "egress", required_argument, NULL, ARG_EGRESS },
        { "credentials",    required_argument, NULL, ARG_CREDENTIALS    },
        { "no-credentials", no_argument,       NULL, ARG_NO_CREDENTIALS },
        { "key",    required_argument, NULL, ARG_KEY    },
        {}
};

static const struct option delete_options[] = {
        GLOBAL_OPTIONS,
        { "purge", no_argument, NULL, ARG_PURGE },
        {}
};

static const struct option start_options[] = {
        GLOBAL_OPTIONS,
        { "no-wait", no_argument, NULL, ARG_NO_WAIT },
        {}
};

static const struct option stop_options[] = {
        GLOBAL_OPTIONS,
        { "force", no_argument, NULL, ARG_FORCE },
        {}
};

static const struct option ssh_options[] = {
        GLOBAL_OPTIONS,
        { "timeout", required_argument, NULL, ARG_TIMEOUT },
        {}
};

static const struct option logs_options[] = {
        GLOBAL_OPTIONS,
        { "follow", no_argument,       NULL, 'f' },
        { "lines",  required_argument, NULL, 'n' },
        {}
};

typedef enum Positional {
        POSITIONAL_NONE,
        POSITIONAL_NAME,
        POSITIONAL_NAME_ON_OFF, /* NAME on|off */
} Positional;

typedef struct Command {
        const char *name;
        Positional positional;
        const struct option *options;
        const char *optstring; /* the short options */
        int (*run)(sd_bus *bus, const Args *args);
        bool remote_command; /* takes "-- COMMAND..." after its arguments */
} Command;

static const Command commands[] = {
        { "create",    POSITIONAL_NAME,        create_options, ":h",    run_create    },
        { "delete",    POSITIONAL_NAME,        delete_options, ":h",    run_delete    },
        { "list",      POSITIONAL_NONE,        global_options, ":h",    run_list      },
        { "status",    POSITIONAL_NAME,        global_options, ":h",    run_status    },
        { "start",     POSITIONAL_NAME,        start_options,  ":h",    run_start     },
        { "stop",      POSITIONAL_NAME,        stop_options,   ":h",    run_stop      },
        { "restart",   POSITIONAL_NAME,        global_options, ":h",    run_restart   },
        { "autostart", POSITIONAL_NAME_ON_OFF, global_options, ":h",    run_autostart },
        { "logs",      POSITIONAL_NAME,        logs_options,   ":hfn:", run_logs      },
        { "console",   POSITIONAL_NAME,        global_options, ":h",    run_console   },
        { "ssh",       POSITIONAL_NAME,        ssh_options,    ":h",    run_ssh,      true },
        { "help",      POSITIONAL_NONE,        global_options, ":h",    NULL          }, /* prints the help */
};

static int parse_vcpus(const char *value, Args *args) {
        uint64_t v;

        if (mvm_parse_uint64(value, &v) < 0)
                return fail(EXIT_USAGE, "--vcpus needs a positive whole number, not '%s'", value);
        if (v == 0 || v > UINT32_MAX)
                return fail(EXIT_USAGE, "--vcpus %s is out of range (1 to %" PRIu32 ")",
                            value, UINT32_MAX);
        args->vcpus = (uint32_t) v;
        args->vcpus_set = true;
        return -1;
}

static int parse_memory(const char *value, Args *args) {
        uint64_t mib;
        int r;

        r = mvm_parse_size_mib(value, &mib);
        if (r == -ERANGE)
                return fail(EXIT_USAGE, "--memory %s is too large", value);
        if (r < 0)
                return fail(EXIT_USAGE, "--memory needs a size in MiB or with a suffix M, G or T "
                            "(e.g. 4096 or 4G), not '%s'", value);
        if (mib == 0)
                return fail(EXIT_USAGE, "--memory must be more than 0");
        args->memory_mib = mib;
        args->memory_set = true;
        return -1;
}

static int parse_volume(const char *value, Args *args) {
        uint64_t mib;

        if (mvm_parse_size_mib(value, &mib) < 0 || mib == 0 || mib % 1024 != 0)
                return fail(EXIT_USAGE, "--volume needs a size in whole GiB, like 8G, not '%s'", value);
        args->volume_gib = mib / 1024;
        return -1;
}

static int parse_egress(const char *value, Args *args) {
        if (!mvm_vm_egress_is_valid(value))
                return fail(EXIT_USAGE, "--egress must be internet or none, not '%s'", value);
        args->egress = value;
        return -1;
}

/* Relative to the working directory, as a shell user expects; microvmd checks the rest
 * (yours, a directory, no symbolic links on the way). */
static int parse_credentials(const char *value, Args *args) {
        if (!value[0])
                return usage_error("--credentials needs a directory");
        if (args->no_credentials)
                return usage_error("--credentials and --no-credentials exclude each other");
        g_free(args->credentials);
        args->credentials = g_canonicalize_filename(value, NULL);
        return -1;
}

/* Only its form is checked here; microvmd knows the subnet and which are free. */
static int parse_ip(const char *value, Args *args) {
        uint32_t a;

        if (mvm_ipv4_parse(value, &a) < 0)
                return fail(EXIT_USAGE, "--ip needs an IPv4 address like 192.168.83.7, not '%s'", value);
        args->ip_address = value;
        return -1;
}

static int add_key_file(char *value, Args *args) {
        if (!value[0])
                return usage_error("--key needs a file name");
        if (!args->key_files)
                args->key_files = g_ptr_array_new();
        g_ptr_array_add(args->key_files, value);
        return -1;
}

/* At most a day: a typo should not make ssh wait for ever. */
static int parse_timeout(const char *value, Args *args) {
        uint64_t v;

        if (mvm_parse_uint64(value, &v) < 0)
                return fail(EXIT_USAGE, "--timeout needs a number of seconds, not '%s'", value);
        if (v > 86400)
                return fail(EXIT_USAGE, "--timeout %s is out of range (0 to 86400 seconds)", value);
        args->timeout_sec = v;
        return -1;
}

static int parse_lines(const char *value, Args *args) {
        uint64_t v;

        if (mvm_parse_uint64(value, &v) < 0 || v == 0)
                return fail(EXIT_USAGE, "--lines needs a positive whole number, not '%s'", value);
        args->lines = v;
        return -1;
}

/* Returns -1 to go on, otherwise the exit code (0 after --help or --version). */
static int handle_option(int c, char **argv, Args *args) {
        switch (c) {
        case 'h':
                print_help();
                return EXIT_SUCCESS;
        case ARG_VERSION:
                printf("%s %s\n", PROGRAM_NAME, PACKAGE_VERSION);
                return EXIT_SUCCESS;
        case ARG_NO_ASK_PASSWORD:
                args->ask_password = false;
                return -1;
        case ARG_JSON:
                args->json = true;
                return -1;
        case ARG_VCPUS:
                return parse_vcpus(optarg, args);
        case ARG_MEMORY:
                return parse_memory(optarg, args);
        case ARG_VOLUME:
                return parse_volume(optarg, args);
        case ARG_EGRESS:
                return parse_egress(optarg, args);
        case ARG_CREDENTIALS:
                return parse_credentials(optarg, args);
        case ARG_NO_CREDENTIALS:
                if (args->credentials)
                        return usage_error("--credentials and --no-credentials exclude each other");
                args->no_credentials = true;
                return -1;
        case ARG_IP:
                return parse_ip(optarg, args);
        case ARG_KEY:
                return add_key_file(optarg, args);
        case ARG_PURGE:
                args->purge = true;
                return -1;
        case ARG_NO_WAIT:
                args->no_wait = true;
                return -1;
        case ARG_FORCE:
                args->force = true;
                return -1;
        case 'f':
                args->follow = true;
                return -1;
        case 'n':
                return parse_lines(optarg, args);
        case ARG_TIMEOUT:
                return parse_timeout(optarg, args);
        case ':':
                if (!g_str_has_prefix(argv[optind - 1], "--"))
                        return usage_error("option '-%c' needs a value", optopt);
                return usage_error("option '%s' needs a value", argv[optind - 1]);
        case '?':
                if (!g_str_has_prefix(argv[optind - 1], "--"))
                        return usage_error("unknown option '-%c'", optopt);
                if (optopt != 0)
                        return usage_error("option '%s' takes no value", argv[optind - 1]);
                return usage_error("unknown option '%s'", argv[optind - 1]);
        default:
                return fail(EXIT_FAILURE, "unexpected option %d", c);
        }
}

/* Parses options up to the end of argv. Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, const char *optstring,
                         const struct option *options, Args *args) {
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                int r = handle_option(c, argv, args);
                if (r >= 0)
                        return r;
        }
        return -1;
}

static int parse_on_off(const Command *command, const char *value, Args *args) {
        if (!value)
                return usage_error("'%s' needs 'on' or 'off' after the name of the VM", command->name);
        if (g_str_equal(value, "on"))
                args->autostart = true;
        else if (g_str_equal(value, "off"))
                args->autostart = false;
        else
                return usage_error("'%s' needs 'on' or 'off', not '%s'", command->name, value);
        return -1;
}

static const Command *find_command(const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
                if (g_str_equal(commands[i].name, name))
                        return &commands[i];
        return NULL;
}

/* Parses the whole command line. Returns -1 and the command to run, or the exit code. */
static int parse_argv(int argc, char **argv, Args *args, const Command **ret_command) {
        const Command *command;
        char **cmd_argv;
        int cmd_argc, r, n_positional;

        /* "+": stop at the command word; its own options are parsed below. */
        r = parse_options(argc, argv, "+:h", global_options, args);
        if (r >= 0)
                return r;
        if (optind >= argc)
                return usage_error("no command given");

        command = find_command(argv[optind]);
        if (!command)
                return usage_error("unknown command '%s'", argv[optind]);

        /* Options may come before or after the NAME: parse the rest from scratch,
         * with argv[0] being the command word. */
        cmd_argv = argv + optind;
        cmd_argc = argc - optind;
        if (command->remote_command) {
                /* Everything after "--" is the command, options of its own included;
                 * argv is NULL-terminated, so that part is too. */
                for (int i = 1; i < cmd_argc; i++)
                        if (g_str_equal(cmd_argv[i], "--")) {
                                args->remote_command = cmd_argv + i + 1;
                                cmd_argc = i;
                                break;
                        }
        }
        optind = 0;
        r = parse_options(cmd_argc, cmd_argv, command->optstring, command->options, args);
        if (r >= 0)
                return r;

        args->command = command->name;
        n_positional = cmd_argc - optind;
        if (command->positional != POSITIONAL_NONE) {
                const char *reason;

                if (n_positional < 1)
                        return usage_error("'%s' needs the name of a VM", command->name);
                args->name = cmd_argv[optind];
                reason = mvm_name_invalid_reason(args->name);
                if (reason)
                        return fail(EXIT_USAGE, "invalid VM name '%s': %s", args->name, reason);
                n_positional--;
        }
        if (command->positional == POSITIONAL_NAME_ON_OFF) {
                r = parse_on_off(command, n_positional > 0 ? cmd_argv[optind + 1] : NULL, args);
                if (r >= 0)
                        return r;
                n_positional--;
        }
        if (n_positional > 0 && command->remote_command)
                return usage_error("too many arguments for '%s' (a command to run goes after '--')",
                                   command->name);
        if (n_positional > 0)
                return usage_error("too many arguments for '%s'", command->name);

        if (args->key_files)
                g_ptr_array_add(args->key_files, NULL);
        *ret_command = command;
        return -1;
}

static int finish_output(int exit_code) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                int saved = errno;
                if (exit_code == EXIT_SUCCESS)
                        return fail(EXIT_FAILURE, "cannot write the output: %s", strerror(saved));
        }
        return exit_code;
}

int main(int argc, char **argv) {
        Args args = { .ask_password = true, .timeout_sec = SSH_DEFAULT_TIMEOUT_SEC };
        const Command *command = NULL;
        sd_bus *bus = NULL;
        int r;

        r = parse_argv(argc, argv, &args, &command);
        if (r >= 0) {
                args_clear(&args);
                return finish_output(r);
        }

        if (!command->run) {
                print_help();
                args_clear(&args);
                return finish_output(EXIT_SUCCESS);
        }

        r = bus_open(&args, &bus);
        if (r == 0) {
                r = command->run(bus, &args);
                sd_bus_flush_close_unref(bus);
        }

        polkit_agent_close();
        args_clear(&args);
        return finish_output(r);
}
