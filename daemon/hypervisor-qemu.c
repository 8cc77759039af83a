/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU backend: q35 with virtiofs through vhost-user-fs and a shared memfd memory
 * backend; KVM where /dev/kvm exists, TCG otherwise. Graceful stop through QMP. */
#include "hypervisor.h"
#include "mvm-guest-channel.h"
#include "qmp.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define QMP_SOCKET "qmp.sock"
#define CONSOLE_SOCKET "console.sock"
#define GUEST_CHANNEL_SOCKET "guest.sock"
/* QEMU's monitor answers from its main loop at once; a hung QEMU's press fails after
 * this (the whole exchange) and the stop falls back to systemd. */
#define QMP_TIMEOUT_USEC (5 * G_USEC_PER_SEC)

static char **qemu_build_argv(const VmLaunch *l) {
        g_autoptr(GPtrArray) b = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT "M", l->memory_mib);

        argv_add_many(b, l->binary,
                                "-name", l->name,
                                "-M", "q35",
                                "-accel", l->kvm ? "kvm" : "tcg",
                                "-cpu", l->kvm ? "host" : "max",
                                NULL);
        argv_add(b, "-smp");
        argv_addf(b, "%u", l->vcpus);
        argv_add_many(b, "-m", mem, NULL);
        /* vhost-user-fs needs guest memory the virtiofsd process can map. */
        argv_add(b, "-object");
        argv_addf(b, "memory-backend-memfd,id=mem,size=%s,share=on", mem);
        argv_add_many(b, "-numa", "node,memdev=mem",
                                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                                "-kernel", l->kernel, NULL);
        if (l->initramfs)
                argv_add_many(b, "-initrd", l->initramfs, NULL);
        argv_add_many(b, "-append", l->cmdline, NULL);

        for (size_t i = 0; i < l->n_shares; i++) {
                argv_add(b, "-chardev");
                argv_addf(b, "socket,id=fs%zu,path=%s", i, l->shares[i].socket);
                argv_add(b, "-device");
                argv_addf(b, "vhost-user-fs-pci,chardev=fs%zu,tag=%s", i, l->shares[i].tag);
        }

        if (l->volume) {
                argv_add(b, "-drive");
                argv_addf(b, "file=%s,if=none,id=volume,format=raw", l->volume);
                argv_add_many(b, "-device", "virtio-blk-pci,drive=volume", NULL);
        }
        if (l->tap) {
                /* vhost=off: /dev/vhost-net is not among the unit's devices. */
                argv_add(b, "-netdev");
                argv_addf(b, "tap,id=net0,ifname=%s,script=no,downscript=no,vhost=off", l->tap);
                argv_add(b, "-device");
                argv_addf(b, "virtio-net-pci,netdev=net0,mac=%s", l->mac);
        }

        /* ttyS0 to stdout, which is the unit's journal; hvc0 is the interactive console. */
        argv_add_many(b, "-serial", "stdio", "-device", "virtio-serial-pci", NULL);
        argv_add(b, "-chardev");
        argv_addf(b, "socket,id=console,path=%s/" CONSOLE_SOCKET ",server=on,wait=off",
                                               l->runtime_dir);
        argv_add_many(b, "-device", "virtconsole,chardev=console", NULL);
        /* The guest channel (common/mvm-guest-channel.h): QEMU connects to microvmd's
         * socket, and again every second after microvmd restarted. */
        argv_add(b, "-chardev");
        argv_addf(b, "socket,id=guest,path=%s/" GUEST_CHANNEL_SOCKET ",reconnect=1", l->runtime_dir);
        argv_add_many(b, "-device", "virtserialport,chardev=guest,name=" MVM_GUEST_CHANNEL_PORT_NAME, NULL);
        argv_add(b, "-qmp");
        argv_addf(b, "unix:%s/" QMP_SOCKET ",server=on,wait=off", l->runtime_dir);
        return argv_end(b);
}

static void cancel_qmp(void *backend) {
        qmp_request_cancel(backend);
}

/* Sends command on QMP_SOCKET; done(r, result, error_desc, req) completes req. */
static int qemu_request(sd_event *event, const char *runtime_dir, const char *command, uint64_t timeout_usec,
                        QmpCallback done, HypervisorCallback callback, void *userdata, HypervisorRequest **ret) {
        g_autofree char *path = g_strdup_printf("%s/" QMP_SOCKET, runtime_dir);
        g_autoptr(HypervisorRequest) req = hypervisor_request_new(callback, userdata);
        QmpRequest *q;
        int r;

        r = qmp_execute(event, path, command, timeout_usec, done, req, &q);
        if (r < 0)
                return r;
        hypervisor_request_attach(req, q, cancel_qmp);
        if (ret)
                *ret = req;
        g_steal_pointer(&req); /* it frees itself once done */
        return 0;
}

static void on_powerdown(int r, JsonNode *result, const char *error_desc, void *userdata) {
        g_autofree char *message = NULL;

        if (r == -EIO)
                message = g_strdup_printf("QEMU refused the power button: %s", error_desc ?: "no reason given");
        else if (r == -ETIMEDOUT)
                message = g_strdup_printf("QEMU did not take the power button within %u s (it hangs)",
                                          (unsigned) (HYPERVISOR_POWER_BUTTON_TIMEOUT_USEC / G_USEC_PER_SEC));
        else if (r < 0)
                message = g_strdup_printf("cannot press the power button through QMP: %s", strerror(-r));
        hypervisor_request_complete(userdata, r, message);
}

static int qemu_power_off(sd_event *event, const char *runtime_dir, HypervisorCallback callback, void *userdata,
                          HypervisorRequest **ret) {
        return qemu_request(event, runtime_dir, "system_powerdown", HYPERVISOR_POWER_BUTTON_TIMEOUT_USEC, on_powerdown,
                            callback, userdata, ret);
}

static void on_status(int r, JsonNode *result, const char *error_desc, void *userdata) {
        g_autofree char *message = NULL;
        const char *status = NULL;

        if (r >= 0 && JSON_NODE_HOLDS_OBJECT(result))
                status = json_object_get_string_member_with_default(json_node_get_object(result), "status", NULL);
        if (r >= 0 && !status)
                r = -EBADMSG;
        if (r == -EIO)
                message = g_strdup_printf("QEMU refused query-status: %s", error_desc ?: "no reason given");
        else if (r < 0)
                message = g_strdup_printf("no state from QMP: %s", strerror(-r));
        hypervisor_request_complete(userdata, r, r < 0 ? message : status);
}

static int qemu_query_state(sd_event *event, const char *runtime_dir, HypervisorCallback callback, void *userdata,
                            HypervisorRequest **ret) {
        return qemu_request(event, runtime_dir, "query-status", QMP_TIMEOUT_USEC, on_status, callback, userdata, ret);
}

const HypervisorBackend hypervisor_qemu = {
        .name = "qemu",
        .needs_kvm = false,
        .control_socket = QMP_SOCKET,
        .guest_channel_socket = GUEST_CHANNEL_SOCKET,
        .build_argv = qemu_build_argv,
        .power_off = qemu_power_off,
        .query_state = qemu_query_state,
};
