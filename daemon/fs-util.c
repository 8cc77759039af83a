/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fs-util.h"
#include "log.h"
#include "mvm-macro.h"

#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int open_dir_at(int dirfd, const char *name) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int open_root_owned_dir(const char *path) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = open_dir_at(AT_FDCWD, path);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
                return -EPERM;
        return mvm_take_fd(&fd);
}

int open_private_dir_at(int dirfd, const char *name) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open_dir_at(dirfd, name);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_uid != 0 || (st.st_mode & 0077))
                return -EPERM;
        return mvm_take_fd(&fd);
}

int dir_entry_names(const char *path, GHashTable **ret) {
        g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        int fd = open_dir_at(AT_FDCWD, path);
        DIR *d;

        if (fd == -ENOENT) {
                *ret = g_steal_pointer(&names);
                return 0;
        }
        if (fd < 0)
                return fd;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        g_hash_table_add(names, g_strdup(de->d_name));
        }
        if (errno != 0) {
                int r = -errno;
                closedir(d);
                return r;
        }
        closedir(d);
        *ret = g_steal_pointer(&names);
        return 0;
}

int rm_rf_children(int fd) {
        struct stat root_st;
        DIR *d;
        int dup_fd, r = 0;

        if (fstat(fd, &root_st) < 0)
                return -errno;

        /* fdopendir takes the fd; work on a duplicate so the caller keeps theirs. */
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        d = fdopendir(dup_fd);
        if (!d) {
                r = -errno;
                close(dup_fd);
                return r;
        }

        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && r == 0)
                                r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = -1;
                        int q;

                        if (st.st_dev != root_st.st_dev) {
                                if (r == 0)
                                        r = -EBUSY;
                                continue;
                        }
                        /* O_NOFOLLOW: if it was swapped for a symlink since fstatat, this fails. */
                        sub = open_dir_at(fd, de->d_name);
                        if (sub < 0) {
                                if (sub != -ENOENT && r == 0)
                                        r = sub;
                                continue;
                        }
                        q = rm_rf_children(sub);
                        if (q < 0 && r == 0)
                                r = q;
                        if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                                r = -errno;
                } else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
        }
        if (errno != 0 && r == 0)
                r = -errno;
        closedir(d);
        return r;
}

int rm_rf_at(int dirfd, const char *name) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = open_dir_at(dirfd, name);
        if (fd == -ENOENT)
                return 0;
        if (fd == -ENOTDIR || fd == -ELOOP)
                return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
        if (fd < 0)
                return fd;
        r = rm_rf_children(fd);
        if (r < 0)
                return r;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

typedef struct RemoveJob {
        int dirfd;
        char *name, *what, *done_message;
} RemoveJob;

static void remove_job_free(void *p) {
        RemoveJob *j = p;

        safe_close(j->dirfd);
        g_free(j->name);
        g_free(j->what);
        g_free(j->done_message);
        g_free(j);
}

static void remove_in_thread(GTask *task, void *source, void *data, GCancellable *cancellable) {
        RemoveJob *j = data;

        g_task_return_int(task, rm_rf_at(j->dirfd, j->name));
}

static void on_removed(GObject *source, GAsyncResult *result, void *userdata) {
        RemoveJob *j = g_task_get_task_data(G_TASK(result));
        gssize r = g_task_propagate_int(G_TASK(result), NULL);

        if (r < 0)
                log_warning("Cannot remove %s: %s", j->what, strerror((int) -r));
        else if (j->done_message)
                log_info("%s", j->done_message);
}

void rm_rf_at_async(int dirfd, const char *name, const char *what, const char *done_message) {
        g_autoptr(GTask) task = g_task_new(NULL, NULL, on_removed, NULL);
        RemoveJob *j = g_new0(RemoveJob, 1);

        *j = (RemoveJob) {
                .dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3),
                .name = g_strdup(name),
                .what = g_strdup(what),
                .done_message = g_strdup(done_message),
        };
        g_task_set_task_data(task, j, remove_job_free);
        if (j->dirfd < 0) {
                g_task_return_int(task, -errno);
                return;
        }
        g_task_run_in_thread(task, remove_in_thread);
}

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int write_new_file_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) /* the umask does not decide our modes */
                r = -errno;
        else if ((r = write_all(fd, data, size)) >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, name, 0);
                return r;
        }
        return 0;
}

void random_suffix(char *buf, size_t n) {
        static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

        for (size_t i = 0; i + 1 < n; i++)
                buf[i] = chars[g_random_int_range(0, (gint32) sizeof(chars) - 1)];
        buf[n - 1] = '\0';
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t size, mode_t mode) {
        char suffix[9];
        _cleanup_free_ char *tmp = NULL;
        int r;

        random_suffix(suffix, sizeof(suffix));
        if (asprintf(&tmp, ".%s.%s.tmp", name, suffix) < 0)
                return -ENOMEM;
        r = write_new_file_at(dirfd, tmp, data, size, mode);
        if (r < 0)
                return r;
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                r = -errno;
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        /* Make the rename itself durable; the file is in place either way. */
        (void) fsync(dirfd);
        return 0;
}

int read_file_at(int dirfd, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        *ret = MVM_TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int unix_address_nofollow(const char *path, struct sockaddr_un *ret_address, socklen_t *ret_size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int path_fd = -1;
        struct stat st;

        path_fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (path_fd < 0)
                return -errno;
        if (fstat(path_fd, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP; /* O_PATH|O_NOFOLLOW opens the link itself */
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        /* Connecting through the O_PATH fd reaches exactly the inode checked above. */
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", path_fd);
        *ret_address = sa;
        *ret_size = offsetof(struct sockaddr_un, sun_path) + strlen(sa.sun_path) + 1;
        return mvm_take_fd(&path_fd);
}

int connect_unix_nofollow(const char *path) {
        struct sockaddr_un sa;
        socklen_t size;
        _cleanup_close_ int path_fd = -1, fd = -1;

        path_fd = unix_address_nofollow(path, &sa, &size);
        if (path_fd < 0)
                return path_fd;
        /* Non-blocking: a listener whose backlog is full (a hypervisor that never accepts)
         * must not hold microvmd; a unix connect otherwise completes at once. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, size) < 0)
                return errno == EINPROGRESS ? -EAGAIN : -errno;
        /* The caller (and whoever it hands the socket to) gets a blocking one. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
                return -errno;
        return mvm_take_fd(&fd);
}

/* A directory reached from / one component at a time, none of them a symbolic link
 * (openat2()'s RESOLVE_NO_SYMLINKS is not available here: RestrictSUIDSGID= in
 * microvmd.service makes it fail with ENOSYS). Async-signal-safe: no allocation. */
static int open_directory_no_symlinks(const char *path) {
        char buf[PATH_MAX], *save = NULL;
        struct stat st;
        int fd, next;

        if (path[0] != '/' || strlen(path) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, strlen(path) + 1);
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (char *name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                        close(fd);
                        return -EINVAL;
                }
                /* O_PATH|O_NOFOLLOW opens a symbolic link itself: fstat() tells. */
                next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                close(fd);
                if (next < 0)
                        return -errno;
                if (fstat(next, &st) < 0) {
                        int r = -errno;
                        close(next);
                        return r;
                }
                if (!S_ISDIR(st.st_mode)) {
                        close(next);
                        return S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
                }
                fd = next;
        }
        return fd;
}

/* In the child, as the user: a regular file opened for reading, or a directory reached
 * without any symbolic link in its path (O_PATH: nothing of it is read). */
static int open_in_child(const char *path, bool directory) {
        struct stat st;
        int fd;

        if (directory)
                return open_directory_no_symlinks(path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        return fd;
}

static int open_as_user(const char *path, uid_t uid, gid_t gid, bool directory, int *ret_fd) {
        /* Reentrant: microvmd calls this from worker threads too. */
        struct passwd pw_buf, *pw = NULL;
        char pw_strings[4096];
        gid_t groups[256]; /* a user in more groups gets none of them here: stricter */
        int n_groups = (int) G_N_ELEMENTS(groups), pair[2], status, r;
        union {
                struct cmsghdr header;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char result;
        struct iovec iov = { .iov_base = &result, .iov_len = 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                              .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg;
        pid_t pid;

        /* The groups first: the child may only make async-signal-safe calls. */
        if (getpwuid_r(uid, &pw_buf, pw_strings, sizeof(pw_strings), &pw) != 0 || !pw ||
            getgrouplist(pw->pw_name, gid, groups, &n_groups) < 0)
                n_groups = 0;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pair[0]);
                close(pair[1]);
                return r;
        }
        if (pid == 0) {
                int fd;

                close(pair[0]);
                if (setgroups((size_t) n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        _exit(EPERM);
                fd = open_in_child(path, directory);
                if (fd < 0)
                        _exit(-fd);
                cmsg = CMSG_FIRSTHDR(&msg);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
                result = 0;
                _exit(sendmsg(pair[1], &msg, MSG_NOSIGNAL) < 0 ? errno : 0);
        }
        close(pair[1]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        close(pair[0]);
                        return -errno;
                }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                close(pair[0]);
                return WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
        }
        if (recvmsg(pair[0], &msg, MSG_CMSG_CLOEXEC) < 0) {
                r = -errno;
                close(pair[0]);
                return r;
        }
        close(pair[0]);
        cmsg = CMSG_FIRSTHDR(&msg);
        if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS || cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
                return -EIO;
        memcpy(ret_fd, CMSG_DATA(cmsg), sizeof(int));
        return 0;
}

int open_regular_as_user(const char *path, uid_t uid, gid_t gid, int *ret_fd) {
        return open_as_user(path, uid, gid, false, ret_fd);
}

int open_directory_as_user(const char *path, uid_t uid, gid_t gid, int *ret_fd) {
        return open_as_user(path, uid, gid, true, ret_fd);
}

int copy_fd_to_new_file_at(int fd, int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int out = -1;
        char buf[65536];
        ssize_t n;

        out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (out < 0)
                return -errno;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = write(out, buf + done, (size_t) (n - done));
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        done += w;
                }
        }
        if (fchown(out, uid, gid) < 0 || fchmod(out, mode) < 0)
                return -errno;
        return 0;
}
