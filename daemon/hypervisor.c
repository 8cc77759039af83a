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

struct HypervisorRequest {
        HypervisorCallback callback;
        void *userdata;
        void *backend;                  /* QmpRequest, ChApiRequest */
        void (*cancel)(void *backend);
        bool in_callback;
};

HypervisorRequest *hypervisor_request_new(HypervisorCallback callback, void *userdata) {
        HypervisorRequest *req = g_new0(HypervisorRequest, 1);

        req->callback = callback;
        req->userdata = userdata;
        return req;
}

void hypervisor_request_attach(HypervisorRequest *req, void *backend, void (*cancel)(void *backend)) {
        req->backend = backend;
        req->cancel = cancel;
}

void hypervisor_request_free(HypervisorRequest *req) {
        g_free(req);
}

void hypervisor_request_complete(HypervisorRequest *req, int r, const char *detail) {
        req->in_callback = true;
        req->callback(r, detail, req->userdata);
        hypervisor_request_free(req);
}

HypervisorRequest *hypervisor_request_cancel(HypervisorRequest *req) {
        /* From within its callback, the backend's request is already on its way out. */
        if (!req || req->in_callback)
                return NULL;
        if (req->cancel)
                req->cancel(req->backend);
        hypervisor_request_free(req);
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
