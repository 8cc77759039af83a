/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "polkit-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mvm-macro.h"

/* The agent closes the notify fd once it has registered. Do not wait forever if it
 * hangs (for example when polkitd does not answer): the call then just goes ahead. */
#define AGENT_REGISTER_TIMEOUT_MSEC 10000

#define AGENT_NOTIFY_FD 3
#define AGENT_NOTIFY_FD_STR "3"

static pid_t agent_pid = 0;

static void close_fds_from(int first) {
        if (close_range((unsigned) first, ~0U, 0) == 0)
                return;
        /* Kernels before 5.9 lack close_range(). */
        for (long fd = first, max = sysconf(_SC_OPEN_MAX); fd < max; fd++)
                (void) close((int) fd);
}

/* In the child between fork() and exec(): only async-signal-safe calls. */
_Noreturn static void exec_agent(int notify_fd, pid_t parent) {
        sigset_t all;

        /* Die with microvm-client, even if it is killed before it can clean up. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);

        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);

        /* dup2() also clears close-on-exec on the copy. */
        if (notify_fd != AGENT_NOTIFY_FD) {
                if (dup2(notify_fd, AGENT_NOTIFY_FD) < 0)
                        _exit(EXIT_FAILURE);
        } else if (fcntl(notify_fd, F_SETFD, 0) < 0)
                _exit(EXIT_FAILURE);
        close_fds_from(AGENT_NOTIFY_FD + 1);

        /* The agent talks on the terminal. If our output goes to a pipe, give it the
         * terminal instead, so whoever reads that pipe is not kept waiting for EOF by
         * the agent's copy and the prompt is seen. */
        if (!isatty(STDOUT_FILENO) || !isatty(STDERR_FILENO)) {
                int tty = open("/dev/tty", O_WRONLY | O_CLOEXEC | O_NOCTTY);

                if (tty < 0)
                        _exit(EXIT_FAILURE);
                if (!isatty(STDOUT_FILENO) && dup2(tty, STDOUT_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                if (!isatty(STDERR_FILENO) && dup2(tty, STDERR_FILENO) < 0)
                        _exit(EXIT_FAILURE);
        }

        execl(MICROVM_PKTTYAGENT, MICROVM_PKTTYAGENT,
              "--notify-fd", AGENT_NOTIFY_FD_STR, "--fallback", (char *) NULL);
        _exit(EXIT_FAILURE);
}

static int64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the agent has closed its end of the pipe (or exited). */
static void wait_for_registration(int fd) {
        int64_t deadline = now_msec() + AGENT_REGISTER_TIMEOUT_MSEC;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - now_msec();
                char buf[64];
                ssize_t n;
                int r;

                if (left <= 0)
                        return;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return;
                if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
                        return;
                /* Data instead of a close: drain it and keep waiting for the close. */
                n = read(fd, buf, sizeof(buf));
                if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                        return;
        }
}

int polkit_agent_open(void) {
        _cleanup_close_ int read_fd = -1, write_fd = -1;
        int pipe_fd[2];
        pid_t parent, pid;

        if (agent_pid > 0)
                return 0;
        /* root needs no password, and without a terminal nobody could type one. */
        if (geteuid() == 0)
                return 0;
        if (!isatty(STDIN_FILENO))
                return 0;
        if (access(MICROVM_PKTTYAGENT, X_OK) < 0)
                return -errno;

        if (pipe2(pipe_fd, O_CLOEXEC) < 0)
                return -errno;
        read_fd = pipe_fd[0];
        write_fd = pipe_fd[1];

        fflush(NULL);
        parent = getpid();
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                exec_agent(write_fd, parent);

        agent_pid = pid;
        /* Only the agent may hold the write end, or we would never see it closed. */
        close(mvm_take_fd(&write_fd));

        wait_for_registration(read_fd);
        return 0;
}

void polkit_agent_close(void) {
        if (agent_pid <= 0)
                return;

        (void) kill(agent_pid, SIGTERM);
        (void) kill(agent_pid, SIGCONT);
        while (waitpid(agent_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        agent_pid = 0;
}

bool polkit_agent_is_running(void) {
        return agent_pid > 0;
}
