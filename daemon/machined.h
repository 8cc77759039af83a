/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

/* Running VMs are registered with systemd-machined (class "vm", service "microvmd", the
 * hypervisor as leader, the tap as network interface), so machinectl lists them. Both
 * calls are asynchronous and never fail a VM: a name machined already has (a container
 * of the same name), or no machined at all, is logged and skipped. */

void machined_register(sd_bus *bus, const char *name, uint32_t leader, const char *tap);
void machined_unregister(sd_bus *bus, const char *name);
