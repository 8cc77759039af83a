/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* microvm-client ssh: waits until the VM's sshd answers, then runs ssh as the VM's
 * owner with only the VM's own host key trusted. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus-util.h"
#include "commands.h"
#include "mvm-macro.h"
#include "output.h"
#include "progress.h"
#include "vm-info.h"

/* How often to look again at a booting VM. */
#define SSH_RETRY_INTERVAL_USEC (UINT64_C(500) * 1000)
/* How long one check of port 22 waits for the SSH banner: sshd in a guest under
 * software emulation can be slow to answer. */
#define SSH_PROBE_TIMEOUT_MSEC 10000

/* What wait_for_ssh() returns when --timeout passed; exit codes are never negative. */
#define SSH_WAIT_TIMED_OUT (-2)

/* ---------------------------------------------------------------------------------- */
/* Waiting for the VM's sshd. */

/* Waits until fd has one of events, or deadline (monotonic, usec) passes, or the user
 * interrupts. */
static bool wait_for_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int64_t left = deadline - g_get_monotonic_time();
                int r;

                if (left <= 0 || wait_interrupted())
                        return false;
                r = poll(&p, 1, (int) ((left + 999) / 1000));
                if (r > 0)
                        return true;
                if (r == 0 || errno != EINTR)
                        return false;
        }
}

/* Whether sshd answers on ip port 22: the connection is accepted and the server's
 * identification ("SSH-2.0-...") arrives. A port that is open before sshd really
 * runs, or a VM still booting (no answer at all), is "not yet". */
static bool ssh_port_answers(const char *ip) {
        const struct addrinfo hints = {
                .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                .ai_socktype = SOCK_STREAM,
        };
        int64_t deadline = g_get_monotonic_time() + SSH_PROBE_TIMEOUT_MSEC * 1000;
        struct addrinfo *ai = NULL;
        _cleanup_close_ int fd = -1;
        socklen_t len = sizeof(int);
        char banner[4];
        size_t have = 0;
        int error = 0;

        if (getaddrinfo(ip, "22", &hints, &ai) != 0 || !ai)
                return false;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
                fd = safe_close(fd);
        freeaddrinfo(ai);
        if (fd < 0)
                return false;

        if (!wait_for_fd(fd, POLLOUT, deadline) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error != 0)
                return false;
        while (have < sizeof(banner)) {
                ssize_t n;

                if (!wait_for_fd(fd, POLLIN, deadline))
                        return false;
                n = recv(fd, banner + have, sizeof(banner) - have, 0);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        return false;
                have += (size_t) n;
        }
        return memcmp(banner, "SSH-", sizeof(banner)) == 0;
}

/* Returns -1 while the VM runs or starts and has an address, otherwise the exit code
 * after saying why there is no point waiting. */
static int ssh_check_vm(const Args *args, const VmInfo *info) {
        const char *state = info->state ?: "unknown";

        if (!g_str_equal(state, "running") && !g_str_equal(state, "starting")) {
                if (g_str_equal(state, "failed") && info->failure_reason && info->failure_reason[0])
                        return fail(EXIT_FAILURE, "%s is not running, it failed: %s", args->name,
                                    info->failure_reason);
                return fail(EXIT_FAILURE, "%s is not running (it is %s); start it with '%s start %s'",
                            args->name, state, PROGRAM_NAME, args->name);
        }
        if (!info->ip_address || !info->ip_address[0])
                return fail(EXIT_FAILURE, "%s has no IP address (it was created before microvmd had "
                            "networking: delete it and create it again)", args->name);
        return -1;
}

/* Whether sshd in the VM takes connections now. */
static bool ssh_vm_ready(const VmInfo *info) {
        if (!g_str_equal(info->state, "running"))
                return false;
        /* microvmd watches for sshd (property Ready, in newer versions). Until it says
         * so, knock ourselves: it may have lost track, e.g. across a restart of microvmd. */
        if (info->has_ready && info->ready)
                return true;
        return ssh_port_answers(info->ip_address);
}

/* Looks at the VM until sshd answers, a reason not to wait turns up, the user
 * interrupts or the deadline passes. Returns -1 when sshd answers, an exit code,
 * EXIT_INTERRUPTED or SSH_WAIT_TIMED_OUT. */
static int poll_vm_until_ssh(sd_bus *bus, const Args *args, const char *path, sd_bus_message **reply,
                             VmInfo *info, int64_t deadline) {
        int64_t started = g_get_monotonic_time();
        bool show_progress = isatty(STDERR_FILENO);
        Spinner spinner = {};
        int r;

        for (;;) {
                r = ssh_check_vm(args, info);
                if (r >= 0 || ssh_vm_ready(info))
                        break;
                if (wait_interrupted()) {
                        r = EXIT_INTERRUPTED;
                        break;
                }
                if (g_get_monotonic_time() >= deadline) {
                        r = SSH_WAIT_TIMED_OUT;
                        break;
                }
                if (show_progress)
                        spinner_draw(&spinner, "Waiting for %s to accept SSH connections (%" PRId64 " s)...",
                                     args->name, (g_get_monotonic_time() - started) / G_USEC_PER_SEC);
                /* A signal cuts the pause short. */
                (void) poll(NULL, 0, (int) (SSH_RETRY_INTERVAL_USEC / 1000));

                *reply = sd_bus_message_unref(*reply);
                r = vm_info_get(bus, args, path, reply, info);
                if (r >= 0)
                        break;
        }
        spinner_clear(&spinner);
        return r;
}

/* Waits until sshd in the VM answers, up to --timeout. Returns -1 with *info (pointing
 * into *reply) fresh, or the exit code. */
static int wait_for_ssh(sd_bus *bus, const Args *args, const char *path, sd_bus_message **reply,
                        VmInfo *info) {
        int64_t deadline = g_get_monotonic_time() + (int64_t) args->timeout_sec * G_USEC_PER_SEC;
        InterruptHandlers saved;
        int r;

        interrupts_catch(&saved);
        r = poll_vm_until_ssh(bus, args, path, reply, info, deadline);
        interrupts_restore(&saved);

        if (r == EXIT_INTERRUPTED)
                return fail(EXIT_INTERRUPTED, "no longer waiting for %s to accept SSH connections", args->name);
        if (r == SSH_WAIT_TIMED_OUT)
                return fail(EXIT_FAILURE, "%s does not accept SSH connections after %" PRIu64 " s "
                            "(is it still booting? '%s logs %s' shows its console)",
                            args->name, args->timeout_sec, PROGRAM_NAME, args->name);
        return r;
}

/* ---------------------------------------------------------------------------------- */
/* The VM's host key, pinned for ssh. */

/* Whether s is not empty and has only ASCII letters, digits and the characters of
 * extra. */
static bool is_word(const char *s, const char *extra) {
        if (!s[0])
                return false;
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && !strchr(extra, *s))
                        return false;
        return true;
}

/* The VM's host public key, as "TYPE BASE64", from WORKSPACE/ssh-host-keys: a file of
 * the caller's own workspace, read with the caller's rights. */
static int read_host_key(const Args *args, const char *workspace, char **ret_key) {
        g_autofree char *path = g_build_filename(workspace, "ssh-host-keys", "ssh_host_ed25519_key.pub", NULL);
        g_autofree char *contents = NULL;
        g_auto(GStrv) fields = NULL;
        g_autoptr(GError) error = NULL;

        if (!g_file_get_contents(path, &contents, NULL, &error))
                return fail(EXIT_FAILURE, "cannot read the SSH host key of %s: %s", args->name, error->message);
        fields = g_strsplit_set(g_strstrip(contents), " \t\n", 3);
        if (g_strv_length(fields) < 2 || !is_word(fields[0], "-.@") || !is_word(fields[1], "+/="))
                return fail(EXIT_FAILURE, "%s is not an SSH public key", path);
        *ret_key = g_strdup_printf("%s %s", fields[0], fields[1]);
        return -1;
}

/* Where the private known_hosts file goes: $XDG_RUNTIME_DIR (the user's own), else the
 * temporary directory. ssh splits UserKnownHostsFile= at spaces and expands % and ~,
 * so only plain paths will do. */
static const char *known_hosts_dir(void) {
        const char *dirs[] = { g_getenv("XDG_RUNTIME_DIR"), g_get_tmp_dir() };

        for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
                const char *d = dirs[i];

                if (d && g_path_is_absolute(d) && d[strspn(d, "abcdefghijklmnopqrstuvwxyz"
                                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789/._-")] == '\0' &&
                    g_file_test(d, G_FILE_TEST_IS_DIR))
                        return d;
        }
        return "/tmp";
}

/* Writes "IP TYPE KEY" to a new file of mode 0600, for ssh to pin the VM's host key
 * without touching ~/.ssh/known_hosts. Returns -1 and its path, or the exit code. */
static int write_known_hosts(const char *ip, const char *key, char **ret_path) {
        g_autofree char *path = g_build_filename(known_hosts_dir(), "microvm-known-hosts-XXXXXX", NULL);
        g_autofree char *line = g_strdup_printf("%s %s\n", ip, key);
        _cleanup_close_ int fd = -1;
        size_t done = 0, size = strlen(line);

        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return fail(EXIT_FAILURE, "cannot create a known_hosts file in %s: %s",
                            known_hosts_dir(), strerror(errno));
        while (done < size) {
                ssize_t n = write(fd, line + done, size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int saved = errno;
                        (void) unlink(path);
                        return fail(EXIT_FAILURE, "cannot write %s: %s", path, strerror(saved));
                }
                done += (size_t) n;
        }
        *ret_path = g_steal_pointer(&path);
        return -1;
}

/* ---------------------------------------------------------------------------------- */
/* Running ssh. */

static volatile pid_t ssh_pid = 0;

static void forward_signal(int sig) {
        if (ssh_pid > 0)
                (void) kill(ssh_pid, sig);
}

/* Runs argv (ssh) and returns its exit status, 128+N if signal N ended it. Meanwhile
 * Ctrl-C and Ctrl-\ are ssh's business (they reach it through the terminal), and
 * SIGTERM and SIGHUP are passed on, so this process can remove the known_hosts file. */
static int run_and_wait(char **argv) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, forward = { .sa_handler = forward_signal };
        struct sigaction old_int, old_quit, old_term, old_hup;
        int status = 0, r;
        pid_t pid;

        sigemptyset(&ignore.sa_mask);
        sigemptyset(&forward.sa_mask);
        fflush(stdout);
        fflush(stderr);

        (void) sigaction(SIGINT, &ignore, &old_int);
        (void) sigaction(SIGQUIT, &ignore, &old_quit);
        (void) sigaction(SIGTERM, &forward, &old_term);
        (void) sigaction(SIGHUP, &forward, &old_hup);

        pid = fork();
        if (pid == 0) {
                /* Ignored signals stay ignored across exec: undo that. */
                (void) signal(SIGINT, SIG_DFL);
                (void) signal(SIGQUIT, SIG_DFL);
                execvp(argv[0], argv);
                r = errno;
                fprintf(stderr, "%s: cannot run %s: %s%s\n", PROGRAM_NAME, argv[0], strerror(r),
                        r == ENOENT ? " (is the OpenSSH client installed?)" : "");
                _exit(r == ENOENT ? 127 : 126);
        }
        if (pid > 0) {
                ssh_pid = pid;
                while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                        ;
                ssh_pid = 0;
        } else
                r = -1;
        if (r < 0)
                r = -errno;

        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGQUIT, &old_quit, NULL);
        (void) sigaction(SIGTERM, &old_term, NULL);
        (void) sigaction(SIGHUP, &old_hup, NULL);

        if (r < 0)
                return fail(EXIT_FAILURE, "cannot run %s: %s", argv[0], strerror(-r));
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

/* The guest has one user: the VM's owner, with the same name as on the host. */
static int owner_name(const Args *args, const VmInfo *info, char **ret) {
        uid_t uid = info->has_owner ? (uid_t) info->owner : getuid();
        struct passwd *pw = getpwuid(uid);

        if (!pw || !pw->pw_name)
                return fail(EXIT_FAILURE, "the owner of %s (uid %u) has no user name on this host",
                            args->name, (unsigned) uid);
        *ret = g_strdup(pw->pw_name);
        return -1;
}

static GPtrArray *build_ssh_argv(const Args *args, const char *known_hosts, const char *user, const char *ip) {
        GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

        g_ptr_array_add(argv, g_strdup("ssh"));
        /* Only the VM's own key is trusted: no prompt, nothing added to ~/.ssh. */
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup_printf("UserKnownHostsFile=%s", known_hosts));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("GlobalKnownHostsFile=/dev/null"));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("StrictHostKeyChecking=yes"));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("UpdateHostKeys=no"));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("CheckHostIP=no"));
        /* Ready says that sshd listens, not that it answers yet: under emulation its first
         * greeting takes many seconds. The wait's own budget bounds it. */
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup_printf("ConnectTimeout=%" PRIu64, MAX(args->timeout_sec, (uint64_t) 5)));
        g_ptr_array_add(argv, g_strdup("-o"));
        g_ptr_array_add(argv, g_strdup("LogLevel=ERROR"));
        g_ptr_array_add(argv, g_strdup("-p"));
        g_ptr_array_add(argv, g_strdup("22"));
        g_ptr_array_add(argv, g_strdup("-l"));
        g_ptr_array_add(argv, g_strdup(user));
        g_ptr_array_add(argv, g_strdup(ip));
        /* After "--" nothing is taken for an option of ssh. */
        if (args->remote_command && args->remote_command[0]) {
                g_ptr_array_add(argv, g_strdup("--"));
                for (char **c = args->remote_command; *c; c++)
                        g_ptr_array_add(argv, g_strdup(*c));
        }
        g_ptr_array_add(argv, NULL);
        return argv;
}

/* What ssh needs before the wait: the VM must be the caller's and running or
 * starting, its host key and its owner's name known. Returns -1, or the exit code. */
static int prepare_ssh(const Args *args, const VmInfo *info, char **ret_key, char **ret_user) {
        int r;

        /* The guest has one account, its owner's: nobody else can log in. */
        if (info->has_owner && (uid_t) info->owner != getuid()) {
                g_autofree char *owner = format_user(info->owner);
                return fail(EXIT_NOT_AUTHORIZED, "%s belongs to %s; only its owner can log into it", args->name, owner);
        }
        /* Not running at all: say so at once rather than wait. */
        r = ssh_check_vm(args, info);
        if (r >= 0)
                return r;
        if (!info->workspace || !info->workspace[0])
                return fail(EXIT_FAILURE, "microvmd did not say where the workspace of %s is", args->name);
        r = read_host_key(args, info->workspace, ret_key);
        if (r >= 0)
                return r;
        return owner_name(args, info, ret_user);
}

int run_ssh(sd_bus *bus, const Args *args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *vm_reply = NULL, *reply = NULL;
        g_autofree char *key = NULL, *user = NULL, *known_hosts = NULL;
        g_autoptr(GPtrArray) argv = NULL;
        VmInfo info;
        const char *path;
        int r;

        r = bus_get_vm_path(bus, args, &vm_reply, &path);
        if (r >= 0)
                return r;
        r = vm_info_get(bus, args, path, &reply, &info);
        if (r >= 0)
                return r;
        r = prepare_ssh(args, &info, &key, &user);
        if (r >= 0)
                return r;

        r = wait_for_ssh(bus, args, path, &reply, &info);
        if (r >= 0)
                return r;

        r = write_known_hosts(info.ip_address, key, &known_hosts);
        if (r >= 0)
                return r;
        argv = build_ssh_argv(args, known_hosts, user, info.ip_address);
        r = run_and_wait((char **) argv->pdata);
        (void) unlink(known_hosts);
        return r;
}
