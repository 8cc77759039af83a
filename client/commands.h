/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The commands of microvm-client, one function each, called by main.c with the
 * connected bus and the parsed command line. Each returns the exit code, having printed
 * exactly one line on stderr when it failed. */

#include <systemd/sd-bus.h>

#include "client.h"

/* cmd-workspace.c: what VMs there are and how they start. */
int run_create(sd_bus *bus, const Args *args);
int run_delete(sd_bus *bus, const Args *args);
int run_autostart(sd_bus *bus, const Args *args);

/* cmd-query.c: reading, never changing. */
int run_list(sd_bus *bus, const Args *args);
int run_status(sd_bus *bus, const Args *args);

/* cmd-lifecycle.c: waiting for microvmd to start or stop a VM. */
int run_start(sd_bus *bus, const Args *args);
int run_stop(sd_bus *bus, const Args *args);
int run_restart(sd_bus *bus, const Args *args);

/* cmd-console.c: the VM's serial console, its log or a live connection. */
int run_logs(sd_bus *bus, const Args *args);
int run_console(sd_bus *bus, const Args *args);

/* cmd-ssh.c: logging into the guest as its owner. */
int run_ssh(sd_bus *bus, const Args *args);
