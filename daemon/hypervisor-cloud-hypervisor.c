/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cloud-hypervisor backend: its command line, and the power button through its
 * REST API on the API socket. It needs /dev/kvm. */
#include "ch-api.h"
#include "hypervisor.h"
#include "log.h"
#include "manager.h"
#include "mvm-guest-channel.h"

#include <glib.h>
#include <string.h>

#define API_SOCKET "api.sock"
#define CONSOLE_SOCKET "console.sock"
#define VSOCK_SOCKET "vsock.sock"
/* A guest's vsock connection to the host's port P arrives on VSOCK_SOCKET_P. */
#define GUEST_CHANNEL_SOCKET VSOCK_SOCKET "_" G_STRINGIFY(MVM_GUEST_CHANNEL_VSOCK_PORT)
/* Hybrid vsock: the CID is the guest's own, seen by no other VM; any >= 3 will do. */
#define GUEST_CID 3
#define API_TIMEOUT_USEC (5 * G_USEC_PER_SEC)

static char **ch_build_argv(const VmLaunch *l) {
        g_autoptr(GPtrArray) b = g_ptr_array_new_with_free_func(g_free);

        argv_add(b, l->binary);
        argv_add(b, "--api-socket");
        argv_addf(b, "path=%s/" API_SOCKET, l->runtime_dir);
        argv_add(b, "--cpus");
        argv_addf(b, "boot=%u", l->vcpus);
        /* shared=on: virtiofsd must be able to map guest memory. */
        argv_add(b, "--memory");
        argv_addf(b, "size=%" G_GUINT64_FORMAT "M,shared=on", l->memory_mib);
        argv_add_many(b, "--kernel", l->kernel, NULL);
        if (l->initramfs)
                argv_add_many(b, "--initramfs", l->initramfs, NULL);
        argv_add_many(b, "--cmdline", l->cmdline, NULL);
        for (size_t i = 0; i < l->n_shares; i++) {
                argv_add(b, "--fs");
                argv_addf(b, "tag=%s,socket=%s", l->shares[i].tag, l->shares[i].socket);
        }
        if (l->volume) {
                argv_add(b, "--disk");
                argv_addf(b, "path=%s", l->volume);
        }
        if (l->tap) {
                argv_add(b, "--net");
                argv_addf(b, "tap=%s,mac=%s", l->tap, l->mac);
        }
        /* Serial to stdout (the unit's journal); the virtio console is the interactive one. */
        argv_add_many(b, "--serial", "tty", "--console", NULL);
        argv_addf(b, "socket=%s/" CONSOLE_SOCKET, l->runtime_dir);
        /* The guest channel (common/mvm-guest-channel.h): no named virtio-serial ports
         * here, the guest connects over vsock. */
        argv_add(b, "--vsock");
        argv_addf(b, "cid=%u,socket=%s/" VSOCK_SOCKET, GUEST_CID, l->runtime_dir);
        return argv_end(b);
}

typedef struct PowerOffRequest {
        Manager *manager;
        char *vm_name;
        PowerOffFailed failed;
} PowerOffRequest;

static void on_power_button(int r, const ChApiResponse *response, void *userdata) {
        PowerOffRequest *req = userdata;
        g_autofree char *message = NULL;

        if (r < 0)
                message = g_strdup_printf("cannot reach the cloud-hypervisor API: %s", strerror(-r));
        else if (!ch_api_status_ok(response->status)) {
                g_autofree char *detail = ch_api_error_message(response);
                message = g_strdup_printf("cloud-hypervisor refused the power button: %s", detail);
        }
        if (message)
                req->failed(req->manager, req->vm_name, message);
        g_free(req->vm_name);
        g_free(req);
}

static int ch_power_off(Manager *m, const char *vm_name, const char *runtime_dir, PowerOffFailed failed) {
        g_autofree char *socket = g_strdup_printf("%s/" API_SOCKET, runtime_dir);
        PowerOffRequest *req = g_new0(PowerOffRequest, 1);
        int r;

        req->manager = m;
        req->vm_name = g_strdup(vm_name);
        req->failed = failed;
        r = ch_api_request(m->event, socket, "PUT", "vm.power-button", NULL, API_TIMEOUT_USEC,
                           on_power_button, req, NULL);
        if (r < 0) {
                g_free(req->vm_name);
                g_free(req);
        }
        return r;
}

typedef struct StateRequest {
        Manager *manager;
        char *vm_name;
        HypervisorStateCallback callback;
} StateRequest;

static void on_vm_info(int r, const ChApiResponse *response, void *userdata) {
        StateRequest *req = userdata;
        const char *state = NULL;

        if (r >= 0 && !ch_api_status_ok(response->status))
                r = -EIO;
        if (r >= 0)
                r = ch_api_parse_vm_state(response, &state);
        req->callback(req->manager, req->vm_name, r, state);
        g_free(req->vm_name);
        g_free(req);
}

static int ch_query_state(Manager *m, const char *vm_name, const char *runtime_dir, HypervisorStateCallback callback) {
        g_autofree char *socket = g_strdup_printf("%s/" API_SOCKET, runtime_dir);
        StateRequest *req = g_new0(StateRequest, 1);
        int r;

        req->manager = m;
        req->vm_name = g_strdup(vm_name);
        req->callback = callback;
        r = ch_api_request(m->event, socket, "GET", "vm.info", NULL, API_TIMEOUT_USEC, on_vm_info, req, NULL);
        if (r < 0) {
                g_free(req->vm_name);
                g_free(req);
        }
        return r;
}

const HypervisorBackend hypervisor_cloud_hypervisor = {
        .name = "cloud-hypervisor",
        .needs_kvm = true,
        .control_socket = API_SOCKET,
        .guest_channel_socket = GUEST_CHANNEL_SOCKET,
        .build_argv = ch_build_argv,
        .power_off = ch_power_off,
        .query_state = ch_query_state,
};
