/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-name.h"

#include <string.h>

const char *mvm_name_invalid_reason(const char *name) {
        if (!name || name[0] == '\0')
                return "the name is empty";
        if (strlen(name) > MVM_NAME_MAX)
                return "the name is longer than 32 characters";
        if (!(name[0] >= 'a' && name[0] <= 'z'))
                return "the name must start with a lower-case letter a-z";
        for (const char *p = name; *p; p++) {
                char c = *p;
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return "the name may contain only lower-case letters a-z, digits and '-'";
        }
        return NULL;
}

bool mvm_name_is_valid(const char *name) {
        return mvm_name_invalid_reason(name) == NULL;
}
