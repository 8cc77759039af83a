/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "mvm-vmdef.h"

/* The VM definitions, one JSON file each in /var/lib/microvm/vms (root only). */

int vm_store_open(const char *state_dir);

/* Loads every NAME.json; files that cannot be read or parsed are logged and left in
 * place. Returns a list of MvmVmDef*. */
GPtrArray *vm_store_load_all(int dir_fd);

int vm_store_save(int dir_fd, const MvmVmDef *def);
int vm_store_remove(int dir_fd, const char *name);
