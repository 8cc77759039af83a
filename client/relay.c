/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mvm-macro.h"

#define RELAY_BUFFER_SIZE 65536

static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int sig) {
        stop_requested = sig;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* The stop signals are caught and blocked except inside ppoll(), so one that arrives
 * between the check of stop_requested and the wait cannot be missed. SIGPIPE is
 * ignored: a closed stdout or socket shows up as EPIPE. */
typedef struct SignalGuard {
        struct sigaction old_actions[MVM_ELEMENTSOF(stop_signals)];
        struct sigaction old_pipe_action;
        sigset_t old_mask;
        sigset_t wait_mask; /* the mask inside ppoll(): the stop signals let through */
} SignalGuard;

static int signal_guard_enter(SignalGuard *g) {
        struct sigaction sa = { .sa_handler = on_stop_signal }; /* no SA_RESTART */
        struct sigaction ignore = { .sa_handler = SIG_IGN };
        sigset_t block;

        stop_requested = 0;
        sigemptyset(&sa.sa_mask);
        sigemptyset(&ignore.sa_mask);
        sigemptyset(&block);
        for (size_t i = 0; i < MVM_ELEMENTSOF(stop_signals); i++)
                sigaddset(&block, stop_signals[i]);

        if (sigprocmask(SIG_BLOCK, &block, &g->old_mask) < 0)
                return -errno;
        for (size_t i = 0; i < MVM_ELEMENTSOF(stop_signals); i++)
                (void) sigaction(stop_signals[i], &sa, &g->old_actions[i]);
        (void) sigaction(SIGPIPE, &ignore, &g->old_pipe_action);

        g->wait_mask = g->old_mask;
        for (size_t i = 0; i < MVM_ELEMENTSOF(stop_signals); i++)
                sigdelset(&g->wait_mask, stop_signals[i]);
        return 0;
}

static void signal_guard_leave(SignalGuard *g) {
        /* The mask first: a pending stop signal then still meets our handler instead
         * of the default action. */
        (void) sigprocmask(SIG_SETMASK, &g->old_mask, NULL);
        for (size_t i = 0; i < MVM_ELEMENTSOF(stop_signals); i++)
                (void) sigaction(stop_signals[i], &g->old_actions[i], NULL);
        (void) sigaction(SIGPIPE, &g->old_pipe_action, NULL);
}

/* Writes everything, also to a non-blocking fd. */
static int write_all(int fd, const char *buf, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, buf, size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                (void) poll(&p, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                buf += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Reads what is there. Returns the number of bytes, 0 at EOF, -EAGAIN when there was
 * nothing after all, or a negative errno. A reset connection counts as EOF. */
static ssize_t read_some(int fd, char *buf, size_t size) {
        ssize_t n = read(fd, buf, size);

        if (n >= 0)
                return n;
        if (errno == EINTR || errno == EAGAIN)
                return -EAGAIN;
        if (errno == ECONNRESET)
                return 0;
        return -errno;
}

static int copy_loop(int fd, const SignalGuard *g) {
        char buf[RELAY_BUFFER_SIZE];

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r;

                if (stop_requested)
                        return RELAY_END_INTERRUPTED;
                if (ppoll(&p, 1, NULL, &g->wait_mask) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n = read_some(fd, buf, sizeof(buf));
                if (n == -EAGAIN)
                        continue;
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        return RELAY_END_EOF;
                r = write_all(STDOUT_FILENO, buf, (size_t) n);
                if (r == -EPIPE)
                        return RELAY_END_OUTPUT_GONE;
                if (r < 0)
                        return r;
        }
}

int relay_copy_to_stdout(int fd) {
        SignalGuard g;
        int r;

        r = signal_guard_enter(&g);
        if (r < 0)
                return r;
        r = copy_loop(fd, &g);
        signal_guard_leave(&g);
        return r;
}

/* Handles what the VM sent. Returns 0 to go on, otherwise as relay_console(). */
static int forward_from_vm(int fd, char *buf, size_t size) {
        ssize_t n = read_some(fd, buf, size);
        int r;

        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return (int) n;
        if (n == 0)
                return RELAY_END_EOF;
        r = write_all(STDOUT_FILENO, buf, (size_t) n);
        if (r == -EPIPE)
                return RELAY_END_OUTPUT_GONE;
        return r;
}

/* Handles what was typed or piped in. Returns 0 to go on, RELAY_END_INPUT_DONE at
 * the end of stdin, otherwise as relay_console(). */
static int forward_to_vm(int fd, bool interactive, char *buf, size_t size) {
        ssize_t n = read_some(STDIN_FILENO, buf, size);
        const char *escape = NULL;
        size_t len;
        int r;

        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return (int) n;
        if (n == 0)
                return RELAY_END_INPUT_DONE;
        len = (size_t) n;
        if (interactive) {
                escape = memchr(buf, RELAY_ESCAPE_BYTE, len);
                if (escape)
                        len = (size_t) (escape - buf);
        }
        r = write_all(fd, buf, len);
        if (r == -EPIPE)
                return RELAY_END_EOF;
        if (r < 0)
                return r;
        return escape ? RELAY_END_ESCAPE : 0;
}

static int console_loop(int fd, bool interactive, const SignalGuard *g) {
        const struct timespec idle = {
                .tv_sec = RELAY_IDLE_AFTER_INPUT_MSEC / 1000,
                .tv_nsec = (RELAY_IDLE_AFTER_INPUT_MSEC % 1000) * 1000000L,
        };
        char buf[RELAY_BUFFER_SIZE];
        bool input_open = true;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = fd, .events = POLLIN },
                        { .fd = STDIN_FILENO, .events = POLLIN },
                };
                int r;

                if (stop_requested)
                        return RELAY_END_INTERRUPTED;
                /* Once the input has ended, wait only as long as the VM keeps talking. */
                r = ppoll(p, input_open ? 2 : 1, input_open ? NULL : &idle, &g->wait_mask);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return RELAY_END_INPUT_DONE;

                if (p[0].revents) {
                        r = forward_from_vm(fd, buf, sizeof(buf));
                        if (r != 0)
                                return r;
                }
                if (input_open && p[1].revents) {
                        if (p[1].revents & POLLNVAL)
                                r = RELAY_END_INPUT_DONE;
                        else
                                r = forward_to_vm(fd, interactive, buf, sizeof(buf));
                        /* A terminal in raw mode has no EOF: there stdin was closed under us. */
                        if (r == RELAY_END_INPUT_DONE && !interactive)
                                input_open = false;
                        else if (r != 0)
                                return r;
                }
        }
}

int relay_console(int fd, bool interactive) {
        struct termios saved, raw;
        SignalGuard g;
        int r;

        if (interactive) {
                if (tcgetattr(STDIN_FILENO, &saved) < 0)
                        return -errno;
                raw = saved;
                cfmakeraw(&raw);
                raw.c_cc[VMIN] = 1;
                raw.c_cc[VTIME] = 0;
        }

        r = signal_guard_enter(&g);
        if (r < 0)
                return r;
        if (interactive && tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
                r = -errno;
                signal_guard_leave(&g);
                return r;
        }

        r = console_loop(fd, interactive, &g);

        /* Before the signals are let through again, so the terminal is always restored. */
        if (interactive)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        signal_guard_leave(&g);
        return r;
}
