/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-init: PID 1 of a microvmd guest.
 *
 * It runs from the initramfs, whose root stays the guest's root file system: a tmpfs-like
 * rootfs, the ephemeral writable layer that is gone when the VM stops. It mounts the
 * kernel's file systems, loads the modules the initramfs carries, mounts the read-only
 * software share (the host's /usr, or /nix/store), the persistent volume if the VM has
 * one (formatting it at the first start) and the workspace, writes /etc from
 * the kernel command line, configures the network, runs sshd (and a root shell on the
 * virtio console) and restarts them when they die, reaps every orphan, and powers off
 * on the ACPI power button, SIGTERM, SIGINT (ctrl-alt-del) or SIGPWR.
 *
 * PID 1 must never exit (the kernel panics): every failure is reported on the console and
 * the guest carries on as well as it can, always ready to power off. The parsing and
 * generating parts live in the other files of guest/ and are unit tested on the host. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "cmdline.h"
#include "etc.h"
#include "log.h"
#include "modules.h"
#include "mvm-macro.h"
#include "network.h"
#include "power.h"
#include "volume.h"

#define SSHD_PATH "/usr/sbin/sshd"
#define CONSOLE_TTY "/dev/hvc0"
#define MKFS_EXT4_PATH "/usr/sbin/mkfs.ext4"
#define GUEST_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define SHARE_MOUNT_WAIT_MS 5000
#define VOLUME_DEVICE_WAIT_MS 5000
/* Formatting writes the journal (up to 1 GiB on big volumes), slow under emulation. */
#define MKFS_TIMEOUT_MS 300000
#define STOP_TIMEOUT_MS 10000
#define KILL_TIMEOUT_MS 3000
#define UNMOUNT_TIMEOUT_MS 10000
/* A service that lived shorter than this failed; its restarts back off up to the max. */
#define SERVICE_MIN_UPTIME_MS 5000
#define SERVICE_MAX_BACKOFF_MS 60000
#define POWER_BUTTON_RESCAN_MS 500
#define POWER_BUTTON_RESCAN_FOR_MS 10000
/* At boot: how long to wait for the power button and the guest channel to appear. */
#define ARM_WAIT_MS 2000
#define ARM_POLL_MS 20
/* The channel is looked for this long after boot (a host without one: no spinning). */
#define CHANNEL_OPEN_FOR_MS 60000
#define CHANNEL_RETRY_MS 200
/* sshd's listening socket is looked for this often (Ready within this of it), then
 * less often after a while (an sshd that never listens). */
#define SSHD_LISTEN_POLL_MS 20
#define SSHD_LISTEN_FAST_FOR_MS 120000
#define SSHD_LISTEN_SLOW_POLL_MS 1000
#define SSH_PORT 22
#define CHANNEL_PORTS_DIR "/sys/class/virtio-ports"

typedef uint64_t msec_t;

static msec_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (msec_t) ts.tv_sec * 1000 + (msec_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Waits ms during start-up while a power button press or SIGTERM still shuts down at
 * once (defined with the main loop). */
static void startup_wait_ms(unsigned ms);

/* ---- file systems ---- */

static int mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];

        if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf))
                return -ENAMETOOLONG;
        for (char *p = buf + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char saved = *p;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = saved;
                if (saved == '\0')
                        return 0;
        }
}

static int mount_fs(const char *source, const char *target, const char *type, unsigned long flags,
                    const char *data) {
        int r = mkdir_p(target, 0755);

        if (r < 0) {
                guest_log_error("cannot create %s: %s", target, strerror(-r));
                return r;
        }
        if (mount(source, target, type, flags, data) < 0) {
                r = -errno;
                /* devtmpfs may have been mounted by the kernel already */
                if (errno == EBUSY)
                        return 0;
                guest_log_error("cannot mount %s on %s: %s", type, target, strerror(errno));
                return r;
        }
        return 0;
}

static void write_string_file(const char *path, const char *s) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write(fd, s, strlen(s)) < 0)
                guest_log_error("cannot write %s: %s", path, strerror(errno));
}

static void reopen_console(void) {
        int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

        if (fd < 0)
                return;
        for (int i = 0; i < 3; i++)
                if (fd != i)
                        dup2(fd, i);
        if (fd > 2)
                close(fd);
}

static void mount_api_file_systems(void) {
        const unsigned long nosuid_nodev = MS_NOSUID | MS_NODEV;

        mount_fs("proc", "/proc", "proc", nosuid_nodev | MS_NOEXEC, NULL);
        mount_fs("sysfs", "/sys", "sysfs", nosuid_nodev | MS_NOEXEC, NULL);
        mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
        /* The kernel opened the console before /dev existed, or from the initramfs' node. */
        reopen_console();
        mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,gid=5,ptmxmode=0666");
        mount_fs("tmpfs", "/dev/shm", "tmpfs", nosuid_nodev, "mode=1777");
        mount_fs("tmpfs", "/run", "tmpfs", nosuid_nodev, "mode=0755");
        mount_fs("tmpfs", "/tmp", "tmpfs", nosuid_nodev, "mode=1777");
        mount_fs("cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid_nodev | MS_NOEXEC, NULL);

        static const char *const links[][2] = {
                { "/proc/self/fd", "/dev/fd" },
                { "/proc/self/fd/0", "/dev/stdin" },
                { "/proc/self/fd/1", "/dev/stdout" },
                { "/proc/self/fd/2", "/dev/stderr" },
        };
        for (size_t i = 0; i < MVM_ELEMENTSOF(links); i++)
                if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
                        guest_log_error("cannot create %s: %s", links[i][1], strerror(errno));
}

/* virtiofs: the device may still be probing right after its module was loaded. */
static int mount_share(const char *tag, const char *target, unsigned long flags) {
        int r = mkdir_p(target, 0755);
        msec_t deadline = now_ms() + SHARE_MOUNT_WAIT_MS;

        if (r < 0) {
                guest_log_error("cannot create %s for the share %s: %s", target, tag, strerror(-r));
                return r;
        }
        while (mount(tag, target, "virtiofs", flags, NULL) < 0) {
                r = -errno;
                if (now_ms() >= deadline) {
                        guest_log_error("cannot mount the virtiofs share %s on %s: %s", tag, target,
                                        strerror(-r));
                        return r;
                }
                startup_wait_ms(100);
        }
        return 0;
}

/* ---- services ---- */

typedef struct Service {
        const char *name;
        const char *path;
        char *const *argv;       /* argv[0] may differ from path: "-bash" for a login shell */
        const char *tty;        /* its controlling terminal and stdio; NULL: /dev/null in, console out */
        bool enabled;
        pid_t pid;
        msec_t started_at;
        unsigned failures;      /* quick deaths in a row */
        msec_t restart_at;      /* 0: none pending */
} Service;

static char *const *child_environment(void) {
        static char *const env[] = {
                (char *) "PATH=" GUEST_PATH, (char *) "HOME=/root", (char *) "TERM=vt220",
                (char *) "LANG=C.UTF-8", (char *) "PS1=\\u@\\h:\\w\\$ ", NULL,
        };
        return env;
}

static void reset_signals_in_child(void) {
        sigset_t all;

        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
}

static _Noreturn void exec_service(const Service *s) {
        reset_signals_in_child();
        if (setsid() < 0)
                _exit(126);
        if (s->tty) {
                int fd = open(s->tty, O_RDWR);
                if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0) {
                        guest_log_error("%s: cannot open %s: %s", s->name, s->tty, strerror(errno));
                        _exit(126);
                }
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                if (fd > 2)
                        close(fd);
        } else {
                int fd = open("/dev/null", O_RDONLY);
                if (fd >= 0 && fd != 0) {
                        dup2(fd, 0);
                        close(fd);
                }
        }
        if (chdir(s->tty ? "/root" : "/") < 0)
                (void) !chdir("/");
        execve(s->path, s->argv, child_environment());
        guest_log_error("cannot run %s: %s", s->path, strerror(errno));
        _exit(127);
}

static void service_start(Service *s) {
        pid_t pid;

        s->restart_at = 0;
        pid = fork();
        if (pid < 0) {
                guest_log_error("cannot start %s: %s", s->name, strerror(errno));
                s->restart_at = now_ms() + 1000;
                return;
        }
        if (pid == 0)
                exec_service(s);
        s->pid = pid;
        s->started_at = now_ms();
        if (s->tty)
                guest_log("%s started on %s (pid %d)", s->name, s->tty, (int) pid);
        else
                guest_log("%s started (pid %d)", s->name, (int) pid);
}

static void describe_status(int status, char *buf, size_t size) {
        if (WIFEXITED(status))
                snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "was killed by signal %s", sigabbrev_np(WTERMSIG(status)) ?: "?");
        else
                snprintf(buf, size, "ended");
}

static void service_exited(Service *s, int status) {
        msec_t now = now_ms(), delay;
        char how[64];

        s->pid = 0;
        if (!s->enabled)
                return;
        if (now - s->started_at < SERVICE_MIN_UPTIME_MS)
                s->failures++;
        else
                s->failures = 0;
        delay = s->failures == 0 ? 1000 : 1000ULL << (s->failures > 6 ? 6 : s->failures);
        if (delay > SERVICE_MAX_BACKOFF_MS)
                delay = SERVICE_MAX_BACKOFF_MS;
        s->restart_at = now + delay;
        describe_status(status, how, sizeof(how));
        guest_log("%s %s; restarting it in %llu s", s->name, how, (unsigned long long) (delay / 1000));
}

/* ---- the state of PID 1 ---- */

typedef struct Init {
        GuestConfig config;
        int signal_fd;
        PowerButtons buttons;
        msec_t booted_at;
        bool workspace_mounted;
        bool software_mounted;
        bool volume_mounted;
        bool credentials_mounted;
        char *shell;
        char *shell_login_name; /* "-bash": a login shell */
        Service services[2];
        size_t n_services;
        GuestChannel channel;   /* facts for the host: armed, ready, stopping */
        msec_t channel_retry_at;
        bool channel_opened;    /* once: from then on it is reopened whenever it goes */
        bool sshd_listens;      /* told the host */
        msec_t sshd_check_at;
} Init;

static void reap_children(Init *init) {
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);

                if (pid <= 0)
                        return;
                for (size_t i = 0; i < init->n_services; i++)
                        if (init->services[i].pid == pid)
                                service_exited(&init->services[i], status);
        }
}

static bool has_children(void) {
        siginfo_t si = {};

        return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* Waits up to ms for all children to end, reaping them; true when none is left. */
static bool wait_for_children(Init *init, unsigned ms) {
        msec_t deadline = now_ms() + ms;

        for (;;) {
                reap_children(init);
                if (!has_children())
                        return true;
                msec_t now = now_ms();
                if (now >= deadline)
                        return false;
                struct pollfd p = { .fd = init->signal_fd, .events = POLLIN };
                if (poll(&p, 1, (int) (deadline - now)) > 0) {
                        struct signalfd_siginfo si;
                        while (read(init->signal_fd, &si, sizeof(si)) == sizeof(si))
                                ;
                }
        }
}

static void unmount_share(const char *path) {
        if (umount2(path, 0) == 0)
                return;
        if (errno == EBUSY && umount2(path, MNT_DETACH) == 0) {
                guest_log("%s was busy, detached it", path);
                return;
        }
        guest_log_error("cannot unmount %s: %s", path, strerror(errno));
}

static void unmount_volume(const char *path) {
        if (umount2(path, 0) == 0)
                return;
        /* Read-only first, so that the file system is clean on the disk even though a
         * detached mount lingers until power-off. */
        if (errno == EBUSY && mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
                guest_log_error("cannot remount %s read-only: %s", path, strerror(errno));
        unmount_share(path);
}

/* Sync and unmount in a child: a share whose virtiofsd is gone could block them for ever,
 * and the power-off must come whatever happens. */
static void sync_and_unmount(Init *init) {
        pid_t pid = fork();

        if (pid == 0) {
                reset_signals_in_child();
                sync();
                /* The credentials and the workspace may lie on the volume, which lies beside
                 * the software share. */
                if (init->credentials_mounted)
                        unmount_share(init->config.credentials);
                if (init->workspace_mounted)
                        unmount_share(init->config.workspace);
                if (init->volume_mounted)
                        unmount_volume(init->config.volume);
                if (init->software_mounted)
                        unmount_share(init->config.software);
                sync();
                _exit(0);
        }
        if (pid < 0) {
                guest_log_error("cannot fork to unmount the shares and the volume: %s", strerror(errno));
                sync();
                return;
        }
        if (!wait_for_children(init, UNMOUNT_TIMEOUT_MS))
                guest_log_error("syncing and unmounting did not finish in %d s; powering off anyway",
                                UNMOUNT_TIMEOUT_MS / 1000);
}

static _Noreturn void shut_down(Init *init, const char *why) {
        guest_log("%s, shutting down", why);
        /* The host stops pressing the button. */
        guest_channel_say(&init->channel, MVM_GUEST_WORD_STOPPING);
        for (size_t i = 0; i < init->n_services; i++) {
                Service *s = &init->services[i];
                s->enabled = false;
                /* An interactive shell ignores SIGTERM; a hangup ends it, as a getty's would. */
                if (s->tty && s->pid > 0)
                        kill(-s->pid, SIGHUP);
        }

        /* Every process but PID 1 (and kernel threads); orphans are our children, so no
         * children left means no processes left. */
        if (kill(-1, SIGTERM) == 0) {
                kill(-1, SIGCONT);
                if (!wait_for_children(init, STOP_TIMEOUT_MS)) {
                        guest_log("processes still running after %d s, killing them", STOP_TIMEOUT_MS / 1000);
                        kill(-1, SIGKILL);
                        if (!wait_for_children(init, KILL_TIMEOUT_MS))
                                guest_log_error("processes did not end after SIGKILL; going on");
                }
        }
        sync_and_unmount(init);
        guest_log("powering off");
        reboot(RB_POWER_OFF);
        guest_log_error("power-off failed: %s", strerror(errno));
        for (;;)
                pause();
}

/* ---- the persistent volume ---- */

/* Runs argv (argv[0] a path) to its end, or kills it after timeout_ms: 0 and its wait
 * status, or -errno (-ETIMEDOUT). Its output goes to the console. */
static int run_and_wait(char *const argv[], unsigned timeout_ms, int *ret_status) {
        msec_t deadline = now_ms() + timeout_ms;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                reset_signals_in_child();
                int fd = open("/dev/null", O_RDONLY);
                if (fd > 0) {
                        dup2(fd, 0);
                        close(fd);
                }
                execve(argv[0], argv, child_environment());
                guest_log_error("cannot run %s: %s", argv[0], strerror(errno));
                _exit(127);
        }
        for (;;) {
                pid_t r = waitpid(pid, ret_status, WNOHANG);
                if (r == pid)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (now_ms() >= deadline) {
                        kill(pid, SIGKILL);
                        (void) waitpid(pid, ret_status, 0);
                        return -ETIMEDOUT;
                }
                sleep_ms(50);
        }
}

/* virtio_blk has just been loaded: the disk may still be probing. */
static int wait_for_block_device(const char *path, unsigned ms) {
        msec_t deadline = now_ms() + ms;
        struct stat st;

        while (stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
                if (now_ms() >= deadline)
                        return -ENODEV;
                startup_wait_ms(100);
        }
        return 0;
}

static int format_volume(void) {
        static char *const argv[] = { (char *) MKFS_EXT4_PATH, (char *) "-q", (char *) "-F", (char *) "-L",
                                      (char *) GUEST_VOLUME_LABEL, (char *) GUEST_VOLUME_DEVICE, NULL };
        char how[64];
        int r, status;

        if (access(MKFS_EXT4_PATH, X_OK) < 0) {
                guest_log_error("cannot format the volume %s: no %s in the software share (install "
                                "e2fsprogs on the host)", GUEST_VOLUME_DEVICE, MKFS_EXT4_PATH);
                return -ENOENT;
        }
        r = run_and_wait(argv, MKFS_TIMEOUT_MS, &status);
        if (r < 0) {
                guest_log_error("cannot format the volume %s: %s", GUEST_VOLUME_DEVICE,
                                r == -ETIMEDOUT ? "mkfs.ext4 did not finish in time" : strerror(-r));
                return r;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                describe_status(status, how, sizeof(how));
                guest_log_error("cannot format the volume %s: mkfs.ext4 %s", GUEST_VOLUME_DEVICE, how);
                return -EIO;
        }
        return 0;
}

/* Formats the disk when it has no file system yet (the first start: microvmd creates it
 * all zeros) and mounts it. Any failure leaves the mount point on the ephemeral root. */
static void mount_volume(Init *init) {
        const char *path = init->config.volume;
        int r;

        if (!path)
                return;
        if (wait_for_block_device(GUEST_VOLUME_DEVICE, VOLUME_DEVICE_WAIT_MS) < 0) {
                guest_log_error("no volume: %s did not appear in %d s (microvm.volume=%s)", GUEST_VOLUME_DEVICE,
                                VOLUME_DEVICE_WAIT_MS / 1000, path);
                return;
        }
        r = guest_has_ext4(GUEST_VOLUME_DEVICE);
        if (r < 0) {
                guest_log_error("cannot read the volume %s: %s", GUEST_VOLUME_DEVICE, strerror(-r));
                return;
        }
        if (r == 0) {
                if (format_volume() < 0)
                        return;
                guest_log("volume %s formatted (ext4)", GUEST_VOLUME_DEVICE);
        }
        r = mkdir_p(path, 0755);
        if (r < 0) {
                guest_log_error("cannot create %s for the volume: %s", path, strerror(-r));
                return;
        }
        if (mount(GUEST_VOLUME_DEVICE, path, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
                guest_log_error("cannot mount the volume %s on %s: %s", GUEST_VOLUME_DEVICE, path, strerror(errno));
                return;
        }
        init->volume_mounted = true;
        guest_log("volume %s mounted on %s", GUEST_VOLUME_DEVICE, path);
}

/* ---- start-up ---- */

static void load_modules(void) {
        static const char *const dirs[] = GUEST_MODULES_DIRS;

        for (size_t i = 0; i < MVM_ELEMENTSOF(dirs); i++) {
                char load_order[64];

                snprintf(load_order, sizeof(load_order), "%s/load-order", dirs[i]);
                if (access(load_order, F_OK) < 0)
                        continue;
                int loaded = guest_load_modules(dirs[i], load_order);
                if (loaded >= 0)
                        guest_log("loaded %d kernel modules (%s)", loaded, load_order);
                return;
        }
        guest_log("no /modules/load-order or /lib/modules/load-order: no kernel modules loaded");
}

static void read_cmdline(Init *init) {
        char buf[4096 + 1];
        _cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

        if (n < 0) {
                guest_log_error("cannot read /proc/cmdline: %s", strerror(errno));
                n = 0;
        }
        buf[n] = '\0';
        guest_cmdline_parse(buf, &init->config);
}

/* The software share first (mkfs.ext4 comes from it), then the volume, then the
 * workspace and the credentials directory, which may lie on the volume (a volume on /var,
 * a workspace in /var/lib). */
static void mount_shares(Init *init) {
        GuestConfig *c = &init->config;

        if (mount_share("software", c->software, MS_RDONLY | MS_NOSUID | MS_NODEV) == 0) {
                init->software_mounted = true;
                guest_log("software share mounted read-only on %s", c->software);
        }
        mount_volume(init);
        if (c->workspace && mount_share("workspace", c->workspace, MS_NOSUID | MS_NODEV) == 0) {
                init->workspace_mounted = true;
                guest_log("workspace mounted on %s", c->workspace);
        }
        if (!c->credentials)
                return;
        if (mount_share("credentials", c->credentials, MS_NOSUID | MS_NODEV) == 0) {
                init->credentials_mounted = true;
                guest_log("credentials directory mounted on %s", c->credentials);
        } else {
                /* Not the home then: the owner's $HOME falls back to the workspace. */
                free(c->credentials);
                c->credentials = NULL;
        }
}

static void configure_system(Init *init) {
        GuestConfig *c = &init->config;
        const char *shell = guest_pick_shell("/");

        /* guest_pick_shell() falls back to /bin/sh whether it exists or not. */
        if (access("/bin/sh", X_OK) < 0)
                guest_log_error("no /bin/sh: the software share does not provide a shell");
        init->shell = strdup(shell);
        if (sethostname(c->name, strlen(c->name)) < 0)
                guest_log_error("cannot set the host name: %s", strerror(errno));
        if (guest_etc_write("/", c, shell) == 0) {
                if (c->has_user)
                        guest_log("wrote /etc: owner %s (%u:%u), shell %s", c->user_name, (unsigned) c->uid,
                                  (unsigned) c->gid, shell);
                else
                        guest_log("wrote /etc: no owner, shell %s", shell);
        }
        /* Unprivileged ICMP sockets, so that the owner can ping without capabilities. */
        write_string_file("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
}

static void configure_network(Init *init) {
        GuestConfig *c = &init->config;
        char ifname[IFNAMSIZ], ip[INET_ADDRSTRLEN] = "?", gw[INET_ADDRSTRLEN] = "none";

        guest_loopback_up();
        if (!c->has_ip) {
                guest_log("no network (no microvm.ip= on the kernel command line)");
                return;
        }
        inet_ntop(AF_INET, &c->ip, ip, sizeof(ip));
        if (c->has_gateway)
                inet_ntop(AF_INET, &c->gateway, gw, sizeof(gw));
        if (guest_network_configure(c, ifname) == 0)
                guest_log("network %s/%u via %s on %s", ip, c->prefix, gw, ifname);
}

static void setup_services(Init *init) {
        GuestConfig *c = &init->config;
        static char *sshd_argv[] = { (char *) SSHD_PATH, (char *) "-D", (char *) "-e", (char *) "-f",
                                     (char *) GUEST_SSHD_CONFIG, NULL };
        static char *shell_argv[2];
        char *login_name = NULL;

        if (!c->workspace || !c->has_user || !init->workspace_mounted)
                guest_log_error("sshd not started: it needs the workspace and microvm.user=");
        else if (access(SSHD_PATH, X_OK) < 0)
                guest_log_error("sshd not started: no %s in the software share (install openssh-server "
                                "on the host)", SSHD_PATH);
        else
                init->services[init->n_services++] = (Service) {
                        .name = "sshd", .path = SSHD_PATH, .argv = sshd_argv, .enabled = true,
                };

        /* The console shell is root's; only the VM's owner may open the console. */
        for (int i = 0; i < 10 && access(CONSOLE_TTY, F_OK) < 0; i++)
                startup_wait_ms(100);
        if (access(CONSOLE_TTY, F_OK) < 0)
                guest_log("no virtio console (%s), no console shell", CONSOLE_TTY);
        else if (init->shell && access(init->shell, X_OK) == 0 &&
                 asprintf(&login_name, "-%s", strrchr(init->shell, '/') + 1) >= 0) {
                /* argv[0] of a login shell starts with '-'. */
                init->shell_login_name = login_name;
                shell_argv[0] = login_name;
                shell_argv[1] = NULL;
                init->services[init->n_services++] = (Service) {
                        .name = "console shell", .path = init->shell, .argv = shell_argv, .tty = CONSOLE_TTY,
                        .enabled = true,
                };
        }

        for (size_t i = 0; i < init->n_services; i++)
                service_start(&init->services[i]);
}

static int setup_signals(void) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGPWR);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                guest_log_error("signalfd: %s", strerror(errno));
        /* Ctrl-Alt-Del sends SIGINT to PID 1 instead of rebooting at once. */
        if (reboot(RB_DISABLE_CAD) < 0)
                guest_log_error("cannot disable ctrl-alt-del: %s", strerror(errno));
        return fd;
}

static void scan_power_buttons(Init *init, bool report) {
        size_t before = init->buttons.n;

        power_buttons_scan(&init->buttons, "/dev/input");
        if (init->buttons.n > before || report) {
                char list[GUEST_POWER_BUTTONS_MAX * 34] = "";
                for (size_t i = 0; i < init->buttons.n; i++) {
                        strcat(list, i ? " " : "");
                        strcat(list, init->buttons.paths[i]);
                }
                if (init->buttons.n > 0)
                        guest_log("waiting for the power button (%s)", list);
                else
                        guest_log_error("no power button input device yet; SIGTERM, SIGINT and SIGPWR still "
                                        "shut down");
        }
}

/* ---- the main loop ---- */

static void handle_signals(Init *init) {
        struct signalfd_siginfo si;

        while (read(init->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                        break;
                case SIGTERM:
                        shut_down(init, "SIGTERM");
                case SIGINT:
                        shut_down(init, "SIGINT (ctrl-alt-del)");
                case SIGPWR:
                        shut_down(init, "SIGPWR");
                default:
                        break;
                }
        }
        reap_children(init);
}

static int next_timeout(Init *init, msec_t now) {
        msec_t next = UINT64_MAX;

        for (size_t i = 0; i < init->n_services; i++) {
                Service *s = &init->services[i];
                if (s->enabled && s->pid == 0 && s->restart_at && s->restart_at < next)
                        next = s->restart_at;
        }
        if (now - init->booted_at < POWER_BUTTON_RESCAN_FOR_MS && now + POWER_BUTTON_RESCAN_MS < next)
                next = now + POWER_BUTTON_RESCAN_MS;
        /* Without a signalfd, children are reaped by polling. */
        if (init->signal_fd < 0 && now + 1000 < next)
                next = now + 1000;
        if (next == UINT64_MAX)
                return -1;
        return next <= now ? 0 : (int) (next - now);
}

/* The guest channel: looked for while the guest is young, reopened whenever it went;
 * what the host has not heard is sent again. */
static bool channel_wanted(Init *init, msec_t now) {
        return init->channel.fd >= 0 || init->channel_opened || now - init->booted_at < CHANNEL_OPEN_FOR_MS;
}

static void service_channel(Init *init, msec_t now) {
        GuestChannel *c = &init->channel;

        if (now < init->channel_retry_at || !channel_wanted(init, now))
                return;
        init->channel_retry_at = now + CHANNEL_RETRY_MS;
        if (c->fd < 0) {
                if (guest_channel_open(c, CHANNEL_PORTS_DIR) < 0)
                        return;
                if (!init->channel_opened)
                        guest_log("guest channel open (%s)", c->vsock ? "vsock" : "virtio-serial");
                init->channel_opened = true;
        }
        (void) guest_channel_flush(c);
}

static bool channel_needs_timer(Init *init, msec_t now) {
        return channel_wanted(init, now) && guest_channel_poll_fd(&init->channel) < 0;
}

static const Service *sshd_service(Init *init) {
        for (size_t i = 0; i < init->n_services; i++)
                if (strcmp(init->services[i].name, "sshd") == 0 && init->services[i].enabled)
                        return &init->services[i];
        return NULL;
}

static bool tcp_port_listens(unsigned port) {
        static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
        /* A booting guest has a few sockets; the listening ones come first anyway. */
        static char buf[65536];

        for (size_t i = 0; i < MVM_ELEMENTSOF(tables); i++) {
                _cleanup_close_ int fd = open(tables[i], O_RDONLY | O_CLOEXEC);
                size_t have = 0;
                ssize_t n;

                if (fd < 0)
                        continue;
                while (have < sizeof(buf) - 1 && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0)
                        have += (size_t) n;
                buf[have] = '\0';
                if (guest_tcp_table_listens(buf, port))
                        return true;
        }
        return false;
}

/* Ready: the host hears it as soon as sshd listens (no connection to sshd: nothing
 * forked, nothing logged). */
static void watch_sshd(Init *init, msec_t now) {
        const Service *sshd = sshd_service(init);

        if (init->sshd_listens || !sshd || sshd->pid <= 0 || now < init->sshd_check_at)
                return;
        init->sshd_check_at = now + (now - sshd->started_at < SSHD_LISTEN_FAST_FOR_MS ? SSHD_LISTEN_POLL_MS :
                                                                                       SSHD_LISTEN_SLOW_POLL_MS);
        if (!tcp_port_listens(SSH_PORT))
                return;
        init->sshd_listens = true;
        guest_log("sshd listens on port %d", SSH_PORT);
        guest_channel_say(&init->channel, MVM_GUEST_WORD_READY);
}

/* One round of the loop: at most cap_ms (-1: none) waiting. Never returns when a
 * press or a signal shuts the guest down. */
static void poll_once(Init *init, int cap_ms) {
        struct pollfd fds[2 + GUEST_POWER_BUTTONS_MAX];
        size_t n = 0, first_button, channel_index = SIZE_MAX;
        msec_t now = now_ms();
        int timeout, channel_fd;

        for (size_t i = 0; i < init->n_services; i++) {
                Service *s = &init->services[i];
                if (s->enabled && s->pid == 0 && s->restart_at && s->restart_at <= now)
                        service_start(s);
        }
        if (now - init->booted_at < POWER_BUTTON_RESCAN_FOR_MS)
                scan_power_buttons(init, false);
        /* A button that appeared after arm() gave up waiting for it. */
        if (init->buttons.n > 0 && !init->channel.facts[MVM_GUEST_WORD_ARMED])
                guest_channel_say(&init->channel, MVM_GUEST_WORD_ARMED);
        service_channel(init, now);
        watch_sshd(init, now);

        /* A negative fd (no signalfd) is skipped by poll. */
        fds[n++] = (struct pollfd) { .fd = init->signal_fd, .events = POLLIN };
        first_button = n;
        for (size_t i = 0; i < init->buttons.n; i++)
                fds[n++] = (struct pollfd) { .fd = init->buttons.fds[i], .events = POLLIN };
        /* Asks for nothing: a hang-up (the host went) is reported anyway. */
        channel_fd = guest_channel_poll_fd(&init->channel);
        if (channel_fd >= 0) {
                channel_index = n;
                fds[n++] = (struct pollfd) { .fd = channel_fd, .events = 0 };
        }

        now = now_ms();
        timeout = next_timeout(init, now);
        if (channel_needs_timer(init, now) && (timeout < 0 || timeout > CHANNEL_RETRY_MS))
                timeout = CHANNEL_RETRY_MS;
        if (!init->sshd_listens && sshd_service(init) && (timeout < 0 || timeout > SSHD_LISTEN_POLL_MS))
                timeout = SSHD_LISTEN_POLL_MS;
        if (cap_ms >= 0 && (timeout < 0 || timeout > cap_ms))
                timeout = cap_ms;

        if (poll(fds, n, timeout) < 0) {
                if (errno != EINTR)
                        sleep_ms(100); /* never spin */
                return;
        }
        if (fds[0].revents & POLLIN)
                handle_signals(init);
        reap_children(init);
        for (size_t i = first_button; i < first_button + init->buttons.n; i++)
                if ((fds[i].revents & POLLIN) && power_button_read(fds[i].fd))
                        shut_down(init, "power button");
        if (channel_index != SIZE_MAX && fds[channel_index].revents)
                guest_channel_on_revents(&init->channel, fds[channel_index].revents);
}

static _Noreturn void main_loop(Init *init) {
        for (;;)
                poll_once(init, -1);
}

static Init *startup_init;

static void startup_wait_ms(unsigned ms) {
        msec_t deadline = now_ms() + ms;

        if (!startup_init) {
                sleep_ms(ms);
                return;
        }
        do {
                msec_t now = now_ms();
                poll_once(startup_init, deadline > now ? (int) (deadline - now) : 0);
        } while (now_ms() < deadline);
}

/* Before anything that must end cleanly (the volume): open the power button, then tell
 * the host the guest listens. Until then the host stops the VM without asking, which
 * loses nothing (the root is ephemeral, nothing is mounted from a disk yet). */
static void arm(Init *init) {
        msec_t deadline = now_ms() + ARM_WAIT_MS;
        GuestChannel *c = &init->channel;

        for (;;) {
                power_buttons_scan(&init->buttons, "/dev/input");
                if (c->fd < 0 && guest_channel_open(c, CHANNEL_PORTS_DIR) >= 0)
                        init->channel_opened = true;
                if ((init->buttons.n > 0 && c->fd >= 0) || now_ms() >= deadline)
                        break;
                sleep_ms(ARM_POLL_MS);
        }
        if (init->buttons.n == 0) {
                guest_log_error("no power button input device yet; the host cannot stop the guest gracefully");
                return;
        }
        guest_channel_say(c, MVM_GUEST_WORD_ARMED);
        if (c->fd >= 0)
                guest_log("power button armed (%s); told the host on the guest channel (%s)",
                          init->buttons.paths[0], c->vsock ? "vsock" : "virtio-serial");
        else
                guest_log("power button armed (%s); no guest channel yet", init->buttons.paths[0]);
}

int main(int argc, char *argv[]) {
        static Init init = { .signal_fd = -1 };

        if (getpid() != 1) {
                fprintf(stderr, "microvm-init is the init (PID 1) of a microvmd guest; it does not run "
                                "elsewhere.\n");
                return 1;
        }
        umask(022);
        /* The initramfs' root is a tmpfs, created world-writable (1777). */
        if (chmod("/", 0755) < 0)
                guest_log_error("cannot chmod /: %s", strerror(errno));
        init.booted_at = now_ms();
        power_buttons_init(&init.buttons);
        init.signal_fd = setup_signals();
        setenv("PATH", GUEST_PATH, 1);

        mount_api_file_systems();
        /* Keep the kernel's informational messages off the console: errors still show. */
        write_string_file("/proc/sys/kernel/printk", "3");

        guest_channel_init(&init.channel, true);
        guest_config_init(&init.config);
        read_cmdline(&init);
        guest_log("booted %s", init.config.name);

        load_modules();
        arm(&init);
        /* From here on a press or SIGTERM is heard during the waits of the start-up. */
        startup_init = &init;

        mount_shares(&init);
        configure_system(&init);
        configure_network(&init);
        setup_services(&init);
        scan_power_buttons(&init, true);
        main_loop(&init);
}
