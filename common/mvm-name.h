/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* The VM name grammar: ^[a-z][a-z0-9-]{0,31}$. A valid name is safe as a file name,
 * a systemd unit name component and (later) part of a network interface name. */
#define MVM_NAME_MAX 32

bool mvm_name_is_valid(const char *name);

/* Why a name is invalid, for error messages; NULL when it is valid. */
const char *mvm_name_invalid_reason(const char *name);
