/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "log.h"
#include "manager.h"

#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

static void help(void) {
        printf("Usage: microvmd [OPTION...]\n\n"
               "The microVM manager: a D-Bus system service (org.microvm.Manager) that creates\n"
               "workspaces and keeps VM definitions for unprivileged users, authorized by polkit.\n"
               "It is normally started by D-Bus activation as microvmd.service.\n\n"
               "Options:\n"
               "  -c, --config=FILE  Read FILE instead of %s\n"
               "  -h, --help         Show this help\n"
               "      --version      Show the version\n\n"
               "See microvmd(8).\n", MICROVM_CONFIG_FILE);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *config_path = MICROVM_CONFIG_FILE;
        g_autoptr(Manager) m = NULL;
        g_autoptr(GError) error = NULL;
        MvmConfig *config;
        int c, r;

        setlocale(LC_ALL, "");

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("microvmd %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "microvmd: unexpected argument '%s'; see --help.\n", argv[optind]);
                return 2;
        }

        config = mvm_config_load(config_path, &error);
        if (!config) {
                log_error("Invalid configuration: %s", error->message);
                return 1;
        }

        /* The manager owns the config from here on, also when it fails. */
        r = manager_new(config, &m);
        if (r < 0)
                return 1;
        r = manager_load_vms(m);
        if (r < 0)
                return 1;
        r = manager_connect_bus(m);
        if (r < 0)
                return 1;
        r = manager_run(m);
        if (r < 0) {
                log_error("Failed: %s", strerror(-r));
                return 1;
        }
        return 0;
}
