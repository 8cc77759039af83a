/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cloud-hypervisor backend: its command line, and the power button through its
 * REST API on the API socket. It needs /dev/kvm. */
#include "ch-api.h"
#include "hypervisor.h"
#include "mvm-guest-channel.h"
#include "mvm-macro.h"

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

static void cancel_ch_api(void *backend) {
        ch_api_request_cancel(backend);
}

/* Sends METHOD /api/v1/PATH on API_SOCKET; done(r, response, req) completes req. */
static int ch_request(sd_event *event, const char *runtime_dir, const char *method, const char *path,
                      uint64_t timeout_usec, ChApiCallback done, HypervisorCallback callback, void *userdata,
                      HypervisorRequest **ret) {
        g_autofree char *socket = g_strdup_printf("%s/" API_SOCKET, runtime_dir);
        g_autoptr(HypervisorRequest) req = hypervisor_request_new(callback, userdata);
        ChApiRequest *c;
        int r;

        r = ch_api_request(event, socket, method, path, NULL, timeout_usec, done, req, &c);
        if (r < 0)
                return r;
        hypervisor_request_attach(req, c, cancel_ch_api);
        if (ret)
                *ret = req;
        g_steal_pointer(&req); /* it frees itself once done */
        return 0;
}

static void on_power_button(int r, const ChApiResponse *response, void *userdata) {
        g_autofree char *message = NULL;

        if (r == -ETIMEDOUT)
                message = g_strdup_printf("cloud-hypervisor did not take the power button within %u s (it hangs)",
                                          (unsigned) (HYPERVISOR_POWER_BUTTON_TIMEOUT_USEC / G_USEC_PER_SEC));
        else if (r < 0)
                message = g_strdup_printf("cannot reach the cloud-hypervisor API: %s", strerror(-r));
        else if (!ch_api_status_ok(response->status)) {
                _cleanup_free_ char *detail = ch_api_error_message(response);
                message = g_strdup_printf("cloud-hypervisor refused the power button: %s", detail ?: "?");
                r = -EIO;
        }
        hypervisor_request_complete(userdata, r, message);
}

static int ch_power_off(sd_event *event, const char *runtime_dir, HypervisorCallback callback, void *userdata,
                        HypervisorRequest **ret) {
        return ch_request(event, runtime_dir, "PUT", "vm.power-button", HYPERVISOR_POWER_BUTTON_TIMEOUT_USEC,
                          on_power_button, callback, userdata, ret);
}

static void on_vm_info(int r, const ChApiResponse *response, void *userdata) {
        g_autofree char *message = NULL;
        const char *state = NULL;

        if (r >= 0 && !ch_api_status_ok(response->status)) {
                _cleanup_free_ char *detail = ch_api_error_message(response);
                message = g_strdup_printf("cloud-hypervisor refused vm.info: %s", detail ?: "?");
                r = -EIO;
        } else if (r >= 0)
                r = ch_api_parse_vm_state(response, &state);
        if (r < 0 && !message)
                message = g_strdup_printf("no state from the cloud-hypervisor API: %s", strerror(-r));
        hypervisor_request_complete(userdata, r, r < 0 ? message : state);
}

static int ch_query_state(sd_event *event, const char *runtime_dir, HypervisorCallback callback, void *userdata,
                          HypervisorRequest **ret) {
        return ch_request(event, runtime_dir, "GET", "vm.info", API_TIMEOUT_USEC, on_vm_info, callback, userdata, ret);
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
