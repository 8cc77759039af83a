/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The backends' command lines, exactly. */
#include "hypervisor.h"

#include <glib.h>
#include <string.h>

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

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/hypervisor/cloud-hypervisor/argv", test_cloud_hypervisor);
        g_test_add_data_func("/hypervisor/qemu/argv-tcg", GINT_TO_POINTER(false), test_qemu);
        g_test_add_data_func("/hypervisor/qemu/argv-kvm", GINT_TO_POINTER(true), test_qemu);
        g_test_add_func("/hypervisor/no-network", test_no_network);
        g_test_add_func("/hypervisor/from-name", test_from_name);
        return g_test_run();
}
