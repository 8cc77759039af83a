/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU backend: q35 with virtiofs through vhost-user-fs and a shared memfd memory
 * backend; KVM where /dev/kvm exists, TCG otherwise. Graceful stop through QMP. */
#include "fs-util.h"
#include "hypervisor.h"
#include "log.h"
#include "mvm-guest-channel.h"
#include "mvm-json.h"
#include "mvm-macro.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define QMP_SOCKET "qmp.sock"
#define CONSOLE_SOCKET "console.sock"
#define GUEST_CHANNEL_SOCKET "guest.sock"
/* QEMU's monitor answers from its main loop at once; a hung QEMU costs at most this
 * per step before the stop falls back to systemd. */
#define QMP_TIMEOUT_SEC 2

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

/* Reads one line (QMP messages are one JSON object per line). */
static int qmp_read_line(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n + 1 < size) {
                ssize_t k = recv(fd, buf + n, 1, 0);
                if (k < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (k == 0)
                        return -ECONNRESET;
                if (buf[n] == '\n') {
                        buf[n] = '\0';
                        return 0;
                }
                n++;
        }
        return -EMSGSIZE;
}

/* One line from QMP: 0 and its "return" value (JSON, if ret), -EIO for an "error"
 * answer, 1 for any other object (an asynchronous event), -EBADMSG for anything else. The line is the
 * hypervisor's: nesting is checked before json-glib parses it. */
int qmp_parse_reply(const char *line, JsonNode **ret) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *o;

        if (!mvm_json_depth_ok(line, strlen(line), MVM_JSON_MAX_DEPTH) ||
            !json_parser_load_from_data(parser, line, -1, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
                return -EBADMSG;
        o = json_node_get_object(json_parser_get_root(parser));
        if (json_object_has_member(o, "return")) {
                if (ret)
                        *ret = json_node_copy(json_object_get_member(o, "return"));
                return 0;
        }
        if (json_object_has_member(o, "error"))
                return -EIO;
        return 1; /* an event, or anything else that is not the answer */
}

/* Sends a command and waits for its answer, skipping asynchronous events; the answer's
 * "return" value goes to ret (JSON), if given. */
static int qmp_execute(int fd, const char *command, JsonNode **ret) {
        char line[4096];
        int r;

        if (send(fd, command, strlen(command), MSG_NOSIGNAL) < 0)
                return -errno;
        for (;;) {
                r = qmp_read_line(fd, line, sizeof(line));
                if (r < 0)
                        return r;
                r = qmp_parse_reply(line, ret);
                if (r == -EIO) {
                        mvm_text_sanitize(line);
                        log_warning("QMP refused %s: %s", command, line);
                }
                if (r <= 0)
                        return r;
                /* an event: read on */
        }
}

/* A QMP session: connected, greeted, capabilities negotiated. */
static int qmp_open(const char *runtime_dir) {
        struct timeval tv = { .tv_sec = QMP_TIMEOUT_SEC };
        g_autofree char *path = g_strdup_printf("%s/" QMP_SOCKET, runtime_dir);
        _cleanup_close_ int fd = -1;
        char greeting[4096];
        int r;

        /* The runtime directory belongs to the hypervisor's user: no symlinks. */
        fd = connect_unix_nofollow(path);
        if (fd < 0)
                return fd;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;
        r = qmp_read_line(fd, greeting, sizeof(greeting));
        if (r < 0)
                return r;
        r = qmp_execute(fd, "{\"execute\":\"qmp_capabilities\"}\n", NULL);
        if (r < 0)
                return r;
        return mvm_take_fd(&fd);
}

static int qemu_power_off(Manager *m, const char *vm_name, const char *runtime_dir, PowerOffFailed failed) {
        _cleanup_close_ int fd = qmp_open(runtime_dir);

        if (fd < 0)
                return fd;
        return qmp_execute(fd, "{\"execute\":\"system_powerdown\"}\n", NULL);
}

/* QMP answers at once, so this calls back before it returns. */
static int qemu_query_state(Manager *m, const char *vm_name, const char *runtime_dir, HypervisorStateCallback callback) {
        g_autoptr(JsonNode) result = NULL;
        _cleanup_close_ int fd = qmp_open(runtime_dir);
        const char *status = NULL;
        int r;

        if (fd < 0)
                return fd;
        r = qmp_execute(fd, "{\"execute\":\"query-status\"}\n", &result);
        if (r < 0)
                return r;
        if (JSON_NODE_HOLDS_OBJECT(result))
                status = json_object_get_string_member_with_default(json_node_get_object(result), "status", NULL);
        callback(m, vm_name, status ? 0 : -EBADMSG, status);
        return 0;
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
