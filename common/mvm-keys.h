/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Limits on the authorized-keys option, so a caller cannot fill the disk through root. */
#define MVM_AUTHORIZED_KEYS_MAX 64
#define MVM_AUTHORIZED_KEY_LINE_MAX 16384

/* Checks one OpenSSH public key line ("[options] TYPE BASE64 [comment]") closely enough
 * that writing it into authorized_keys cannot add a second line or a broken entry.
 * Returns NULL when acceptable, otherwise the reason. */
const char *mvm_authorized_key_invalid_reason(const char *line);
