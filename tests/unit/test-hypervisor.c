/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The backends' command lines, exactly; their requests to a stand-in hypervisor (a
 * thread on the control socket in a temporary runtime directory). */
#include "hypervisor.h"
#include "mvm-macro.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const VmShare shares[] = {
        { .tag = "workspace", .source = (char *) "/var/lib/microvm/workspaces/myvm", .read_only = false,
          .socket = (char *) "/run/microvm/myvm/fs-workspace.sock" },
        { .tag = "software", .source = (char *) "/usr", .read_only = true,
          .socket = (char *) "/run/microvm/myvm/fs-software.sock" },
};

static VmLaunch launch(const char *binary, bool kvm) {
        return (VmLaunch) {
                .name = "myvm",
                .binary = binary,
                .vcpus = 2,
                .memory_mib = 1024,
                .kernel = "/var/lib/microvm/guest/vmlinuz",
                .initramfs = "/var/lib/microvm/guest/initrd.img",
                .cmdline = "console=ttyS0 panic=-1 microvm.name=myvm microvm.workspace=/var/lib/microvm/workspaces/myvm",
                .runtime_dir = "/run/microvm/myvm",
                .shares = shares,
                .n_shares = G_N_ELEMENTS(shares),
                .kvm = kvm,
                .tap = "mvt2",
                .mac = "02:12:34:56:78:9a",
                .volume = "/var/lib/microvm/volumes/myvm.img",
        };
}

static void assert_argv(char **argv, const char *const *expected) {
        g_autofree char *got = g_strjoinv(" | ", argv);
        g_autofree char *want = g_strjoinv(" | ", (char **) expected);

        g_assert_cmpstr(got, ==, want);
}

static void test_cloud_hypervisor(void) {
        VmLaunch l = launch("/usr/bin/cloud-hypervisor", true);
        g_auto(GStrv) argv = hypervisor_cloud_hypervisor.build_argv(&l);
        const char *const expected[] = {
                "/usr/bin/cloud-hypervisor",
                "--api-socket", "path=/run/microvm/myvm/api.sock",
                "--cpus", "boot=2",
                "--memory", "size=1024M,shared=on",
                "--kernel", "/var/lib/microvm/guest/vmlinuz",
                "--initramfs", "/var/lib/microvm/guest/initrd.img",
                "--cmdline", "console=ttyS0 panic=-1 microvm.name=myvm microvm.workspace=/var/lib/microvm/workspaces/myvm",
                "--fs", "tag=workspace,socket=/run/microvm/myvm/fs-workspace.sock",
                "--fs", "tag=software,socket=/run/microvm/myvm/fs-software.sock",
                "--disk", "path=/var/lib/microvm/volumes/myvm.img",
                "--net", "tap=mvt2,mac=02:12:34:56:78:9a",
                "--serial", "tty",
                "--console", "socket=/run/microvm/myvm/console.sock",
                "--vsock", "cid=3,socket=/run/microvm/myvm/vsock.sock",
                NULL,
        };

        assert_argv(argv, expected);
        g_assert_true(hypervisor_cloud_hypervisor.needs_kvm);
        g_assert_cmpstr(hypervisor_cloud_hypervisor.control_socket, ==, "api.sock");
}

static void test_qemu(gconstpointer data) {
        bool kvm = GPOINTER_TO_INT(data);
        VmLaunch l = launch("/usr/bin/qemu-system-x86_64", kvm);
        g_auto(GStrv) argv = hypervisor_qemu.build_argv(&l);
        const char *const expected[] = {
                "/usr/bin/qemu-system-x86_64",
                "-name", "myvm",
                "-M", "q35",
                "-accel", kvm ? "kvm" : "tcg",
                "-cpu", kvm ? "host" : "max",
                "-smp", "2",
                "-m", "1024M",
                "-object", "memory-backend-memfd,id=mem,size=1024M,share=on",
                "-numa", "node,memdev=mem",
                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-kernel", "/var/lib/microvm/guest/vmlinuz",
                "-initrd", "/var/lib/microvm/guest/initrd.img",
                "-append", "console=ttyS0 panic=-1 microvm.name=myvm microvm.workspace=/var/lib/microvm/workspaces/myvm",
                "-chardev", "socket,id=fs0,path=/run/microvm/myvm/fs-workspace.sock",
                "-device", "vhost-user-fs-pci,chardev=fs0,tag=workspace",
                "-chardev", "socket,id=fs1,path=/run/microvm/myvm/fs-software.sock",
                "-device", "vhost-user-fs-pci,chardev=fs1,tag=software",
                "-drive", "file=/var/lib/microvm/volumes/myvm.img,if=none,id=volume,format=raw",
                "-device", "virtio-blk-pci,drive=volume",
                "-netdev", "tap,id=net0,ifname=mvt2,script=no,downscript=no,vhost=off",
                "-device", "virtio-net-pci,netdev=net0,mac=02:12:34:56:78:9a",
                "-serial", "stdio",
                "-device", "virtio-serial-pci",
                "-chardev", "socket,id=console,path=/run/microvm/myvm/console.sock,server=on,wait=off",
                "-device", "virtconsole,chardev=console",
                "-chardev", "socket,id=guest,path=/run/microvm/myvm/guest.sock,reconnect=1",
                "-device", "virtserialport,chardev=guest,name=org.microvm.guest",
                "-qmp", "unix:/run/microvm/myvm/qmp.sock,server=on,wait=off",
                NULL,
        };

        assert_argv(argv, expected);
        g_assert_false(hypervisor_qemu.needs_kvm);
        g_assert_cmpstr(hypervisor_qemu.control_socket, ==, "qmp.sock");
}

/* Without a tap there is no network device at all. */
static void test_no_network(void) {
        VmLaunch l = launch("/usr/bin/qemu-system-x86_64", false);
        g_auto(GStrv) q = NULL, c = NULL;

        l.tap = NULL;
        l.mac = NULL;
        l.volume = NULL;
        q = hypervisor_qemu.build_argv(&l);
        c = hypervisor_cloud_hypervisor.build_argv(&l);
        for (char **a = q; *a; a++)
                g_assert_false(g_str_has_prefix(*a, "tap,") || g_str_has_prefix(*a, "virtio-net"));
        for (char **a = c; *a; a++) {
                g_assert_cmpstr(*a, !=, "--net");
                g_assert_cmpstr(*a, !=, "--disk");
        }
        for (char **a = q; *a; a++)
                g_assert_cmpstr(*a, !=, "-drive");
}

static void test_from_name(void) {
        g_assert_true(hypervisor_from_name("qemu") == &hypervisor_qemu);
        g_assert_true(hypervisor_from_name("cloud-hypervisor") == &hypervisor_cloud_hypervisor);
        g_assert_null(hypervisor_from_name("auto"));
        g_assert_null(hypervisor_from_name("firecracker"));
        g_assert_null(hypervisor_from_name(NULL));
}

/* The stand-in: accepts one connection, sends canned (all of it, before reading), then
 * reads until the client closes. */
typedef struct Standin {
        char *runtime_dir;
        char *socket_path;
        int listen_fd;
        const char *canned;
        GThread *thread;
        GString *request;
} Standin;

static gpointer standin_serve(gpointer data) {
        Standin *s = data;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        char buf[4096];
        ssize_t n;

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(send(fd, s->canned, strlen(s->canned), MSG_NOSIGNAL), ==, (ssize_t) strlen(s->canned));
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                g_string_append_len(s->request, buf, n);
        close(fd);
        return NULL;
}

static void standin_start(Standin *s, const char *socket_name, const char *canned) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        s->runtime_dir = g_dir_make_tmp("hypervisor-XXXXXX", NULL);
        g_assert_nonnull(s->runtime_dir);
        s->socket_path = g_build_filename(s->runtime_dir, socket_name, NULL);
        s->canned = canned;
        s->request = g_string_new(NULL);
        strcpy(sa.sun_path, s->socket_path);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(s->listen_fd, >=, 0);
        g_assert_cmpint(bind(s->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(s->listen_fd, 4), ==, 0);
        if (canned)
                s->thread = g_thread_new("standin", standin_serve, s);
}

static void standin_stop(Standin *s) {
        if (s->thread)
                g_thread_join(s->thread);
        close(s->listen_fd);
        g_assert_cmpint(g_unlink(s->socket_path), ==, 0);
        g_assert_cmpint(g_rmdir(s->runtime_dir), ==, 0);
        g_string_free(s->request, TRUE);
        g_free(s->socket_path);
        g_free(s->runtime_dir);
}

typedef struct Answer {
        unsigned calls;
        int r;
        char *detail;
} Answer;

static void on_answer(int r, const char *detail, void *userdata) {
        Answer *a = userdata;

        a->calls++;
        a->r = r;
        a->detail = g_strdup(detail);
}

static void run_until_answered(sd_event *event, Answer *a) {
        int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (a->calls == 0) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(event, 100 * 1000), >=, 0);
        }
        for (int i = 0; i < 5; i++)
                g_assert_cmpint(sd_event_run(event, 10 * 1000), >=, 0);
        g_assert_cmpuint(a->calls, ==, 1);
}

typedef struct BackendCase {
        const HypervisorBackend *backend;
        bool power_off;
        const char *canned;
        int r;
        const char *detail;     /* expected, or NULL */
        const char *request;    /* what the hypervisor must have been sent (substring) */
} BackendCase;

#define QMP_GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n"
#define QMP_EVENT "{\"event\": \"POWERDOWN\", \"timestamp\": {}}\r\n"

static const BackendCase backend_cases[] = {
        { &hypervisor_qemu, false,
          QMP_GREETING "{\"return\": {}}\r\n" QMP_EVENT "{\"return\": {\"status\": \"running\", \"running\": true}}\r\n",
          0, "running", "{\"execute\":\"query-status\"}\n" },
        { &hypervisor_qemu, false,
          QMP_GREETING "{\"return\": {}}\r\n{\"return\": {}}\r\n",
          -EBADMSG, "no state from QMP: Bad message", "query-status" },
        { &hypervisor_qemu, true,
          QMP_GREETING "{\"return\": {}}\r\n" QMP_EVENT "{\"return\": {}}\r\n",
          0, NULL, "{\"execute\":\"system_powerdown\"}\n" },
        { &hypervisor_qemu, true,
          QMP_GREETING "{\"return\": {}}\r\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"not now\"}}\r\n",
          -EIO, "QEMU refused the power button: not now", "system_powerdown" },
        { &hypervisor_cloud_hypervisor, false,
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"state\":\"Running\"}",
          0, "Running", "GET /api/v1/vm.info HTTP/1.1\r\n" },
        { &hypervisor_cloud_hypervisor, true,
          "HTTP/1.1 204 No Content\r\n\r\n",
          0, NULL, "PUT /api/v1/vm.power-button HTTP/1.1\r\n" },
        { &hypervisor_cloud_hypervisor, true,
          "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 50\r\n\r\n"
          "[\"Error from API\",\"The VM could not be shut down\"]",
          -EIO, "cloud-hypervisor refused the power button: Error from API: The VM could not be shut down",
          "vm.power-button" },
};

/* Each backend's answer reaches the callback from the loop, with its detail. */
static void test_backend_request(gconstpointer data) {
        const BackendCase *c = data;
        sd_event *event = NULL;
        HypervisorRequest *req = NULL;
        Standin s = {};
        Answer a = {};

        g_assert_cmpint(sd_event_new(&event), >=, 0);
        standin_start(&s, c->backend->control_socket, c->canned);
        g_assert_cmpint((c->power_off ? c->backend->power_off : c->backend->query_state)(event, s.runtime_dir,
                                                                                        on_answer, &a, &req),
                        ==, 0);
        g_assert_nonnull(req);
        g_assert_cmpuint(a.calls, ==, 0); /* never from within the call */
        run_until_answered(event, &a);
        g_assert_cmpint(a.r, ==, c->r);
        g_assert_cmpstr(a.detail, ==, c->detail);
        /* The stand-in ends when the client closed: after the answer. */
        g_thread_join(MVM_TAKE_PTR(s.thread));
        g_assert_nonnull(strstr(s.request->str, c->request));
        standin_stop(&s);
        g_free(a.detail);
        sd_event_unref(event);
}

/* No control socket: the failure comes from the loop too, with why. */
static void test_backend_unreachable(gconstpointer data) {
        const HypervisorBackend *b = data;
        g_autofree char *dir = g_dir_make_tmp("hypervisor-XXXXXX", NULL);
        sd_event *event = NULL;
        Answer a = {};

        g_assert_cmpint(sd_event_new(&event), >=, 0);
        g_assert_cmpint(b->power_off(event, dir, on_answer, &a, NULL), ==, 0);
        g_assert_cmpuint(a.calls, ==, 0);
        run_until_answered(event, &a);
        g_assert_cmpint(a.r, ==, -ENOENT);
        g_assert_nonnull(a.detail);
        g_assert_nonnull(strstr(a.detail, "No such file or directory"));
        g_free(a.detail);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
        sd_event_unref(event);
}

/* A hypervisor that never answers, cancelled: no callback, the connection closed (the
 * stand-in thread sees the end), nothing leaked (ASan). */
static void test_backend_cancel(gconstpointer data) {
        const HypervisorBackend *b = data;
        sd_event *event = NULL;
        HypervisorRequest *req = NULL;
        Standin s = {};
        Answer a = {};

        g_assert_cmpint(sd_event_new(&event), >=, 0);
        /* Sends nothing that completes an answer. */
        standin_start(&s, b->control_socket, " ");
        g_assert_cmpint(b->query_state(event, s.runtime_dir, on_answer, &a, &req), ==, 0);
        for (int i = 0; i < 10; i++)
                g_assert_cmpint(sd_event_run(event, 10 * 1000), >=, 0);
        g_assert_null(hypervisor_request_cancel(req));
        g_assert_null(hypervisor_request_cancel(NULL));
        standin_stop(&s);
        for (int i = 0; i < 10; i++)
                g_assert_cmpint(sd_event_run(event, 10 * 1000), >=, 0);
        g_assert_cmpuint(a.calls, ==, 0);
        sd_event_unref(event);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/hypervisor/cloud-hypervisor/argv", test_cloud_hypervisor);
        g_test_add_data_func("/hypervisor/qemu/argv-tcg", GINT_TO_POINTER(false), test_qemu);
        g_test_add_data_func("/hypervisor/qemu/argv-kvm", GINT_TO_POINTER(true), test_qemu);
        g_test_add_func("/hypervisor/no-network", test_no_network);
        g_test_add_func("/hypervisor/from-name", test_from_name);
        for (size_t i = 0; i < G_N_ELEMENTS(backend_cases); i++) {
                const BackendCase *c = &backend_cases[i];
                g_autofree char *answer = g_strdup_printf("/hypervisor/%s/%s/%zu", c->backend->name,
                                                          c->power_off ? "power-off" : "query-state", i);

                g_test_add_data_func(answer, c, test_backend_request);
        }
        g_test_add_data_func("/hypervisor/qemu/unreachable", &hypervisor_qemu, test_backend_unreachable);
        g_test_add_data_func("/hypervisor/cloud-hypervisor/unreachable", &hypervisor_cloud_hypervisor,
                             test_backend_unreachable);
        g_test_add_data_func("/hypervisor/qemu/cancel", &hypervisor_qemu, test_backend_cancel);
        g_test_add_data_func("/hypervisor/cloud-hypervisor/cancel", &hypervisor_cloud_hypervisor, test_backend_cancel);
        return g_test_run();
}
