/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hypervisor.h"

#include <glib.h>
#include <stdarg.h>

const HypervisorBackend *hypervisor_from_name(const char *name) {
        if (g_strcmp0(name, hypervisor_qemu.name) == 0)
                return &hypervisor_qemu;
        if (g_strcmp0(name, hypervisor_cloud_hypervisor.name) == 0)
                return &hypervisor_cloud_hypervisor;
        return NULL;
}

void argv_add(GPtrArray *argv, const char *arg) {
        g_ptr_array_add(argv, g_strdup(arg));
}

void argv_add_many(GPtrArray *argv, ...) {
        va_list ap;
        const char *arg;

        va_start(ap, argv);
        while ((arg = va_arg(ap, const char *)))
                argv_add(argv, arg);
        va_end(ap);
}

void argv_addf(GPtrArray *argv, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        g_ptr_array_add(argv, g_strdup_vprintf(format, ap));
        va_end(ap);
}

char **argv_end(GPtrArray *argv) {
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_steal(argv, NULL);
}
