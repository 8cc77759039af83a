/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The loader of VM definitions (/var/lib/microvm/vms/NAME.json); what it accepts must
 * write back to a file it accepts again. */
#include <glib.h>
#include <stdint.h>

#include "mvm-vmdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MvmVmDef) d = mvm_vmdef_from_json((const char *) data, (gssize) size, &error);

        if (d) {
                g_autofree char *json = mvm_vmdef_to_json(d);
                g_autoptr(MvmVmDef) again = mvm_vmdef_from_json(json, -1, NULL);

                if (!again)
                        __builtin_trap();
        }
        return 0;
}
