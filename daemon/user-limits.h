/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Vm Vm;

/* The per-user limits of [Limits]: a refusal is org.microvm.Error.LimitExceeded naming the
 * limit. Root has none. */

/* A new VM of uid with a volume of volume_gib (0: none). */
int limits_check_create(Manager *m, uid_t uid, uint64_t volume_gib, sd_bus_error *error);

/* Starting vm, with what its owner runs already. */
int limits_check_start(Manager *m, const Vm *vm, sd_bus_error *error);
