/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Parses a memory size for the client's --memory: a plain number is MiB; the
 * suffixes M, MB, MiB, G, GB, GiB, T, TB, TiB (any case) are binary units.
 * Returns 0 and the size in MiB, or -EINVAL / -ERANGE. Fractions are refused. */
int mvm_parse_size_mib(const char *s, uint64_t *ret_mib);

/* Parses a decimal unsigned number without sign, spaces or trailing junk. */
int mvm_parse_uint64(const char *s, uint64_t *ret);
