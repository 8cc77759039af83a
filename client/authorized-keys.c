/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "authorized-keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mvm-keys.h"
#include "mvm-macro.h"

char *client_default_ssh_dir(GError **error) {
        const char *home = getenv("HOME");

        if (!home || home[0] != '/') {
                struct passwd *pw = getpwuid(getuid());

                if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/') {
                        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                                    "cannot find your home directory to look for SSH keys; "
                                    "set HOME or pass --key");
                        return NULL;
                }
                home = pw->pw_dir;
        }
        return g_build_filename(home, ".ssh", NULL);
}

static bool looks_like_private_key(const char *line) {
        return g_str_has_prefix(line, "-----BEGIN") && strstr(line, "PRIVATE KEY");
}

/* Opens one key file. With skip_missing, a file that vanished or is not a regular
 * file is ignored (the default scan of ~/.ssh): 0 and *ret NULL; otherwise that is an
 * error. Returns 0, or a negative errno with error set. */
static int open_key_file(const char *path, bool skip_missing, FILE **ret, GError **error) {
        _cleanup_fclose_ FILE *f = NULL;
        struct stat st;
        int fd;

        *ret = NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int saved = errno;

                if (skip_missing && saved == ENOENT)
                        return 0;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved),
                            "cannot read SSH public key file %s: %s", path, g_strerror(saved));
                return -saved;
        }
        f = fdopen(fd, "re");
        if (!f) {
                int saved = errno;

                close(fd);
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved),
                            "cannot read SSH public key file %s: %s", path, g_strerror(saved));
                return -saved;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                if (skip_missing)
                        return 0;
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "SSH public key file %s is not a regular file", path);
                return -EINVAL;
        }
        /* O_NONBLOCK only kept open() from hanging on a FIFO; read normally now. */
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        *ret = MVM_TAKE_PTR(f);
        return 0;
}

/* Checks line line_no of path (n bytes as read) and adds its key, unless the line is
 * blank or a comment. Returns 0, or a negative errno with error set. */
static int add_key_line(const char *path, unsigned line_no, char *line, size_t n,
                        GPtrArray *keys, GError **error) {
        const char *reason;
        char *key;

        if (memchr(line, '\0', n)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "%s is not a text file of SSH public keys", path);
                return -EINVAL;
        }
        key = g_strstrip(line);
        if (key[0] == '\0' || key[0] == '#')
                return 0;

        if (looks_like_private_key(key)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "%s is a private key; pass the public key (the .pub file) instead",
                            path);
                return -EINVAL;
        }
        reason = mvm_authorized_key_invalid_reason(key);
        if (reason) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "%s, line %u: %s", path, line_no, reason);
                return -EINVAL;
        }
        if (keys->len >= MVM_AUTHORIZED_KEYS_MAX) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                            "more than %d SSH public keys (the last one read from %s); "
                            "choose the keys to send with --key",
                            MVM_AUTHORIZED_KEYS_MAX, path);
                return -E2BIG;
        }
        g_ptr_array_add(keys, g_strdup(key));
        return 0;
}

/* Adds the keys in one file; skip_missing as for open_key_file(). */
static int read_key_file(const char *path, bool skip_missing, GPtrArray *keys, GError **error) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t allocated = 0;
        unsigned line_no = 0;
        int r;

        r = open_key_file(path, skip_missing, &f, error);
        if (r < 0 || !f)
                return r;

        for (;;) {
                ssize_t n;

                errno = 0;
                n = getline(&line, &allocated, f);
                if (n < 0) {
                        if (ferror(f)) {
                                int saved = errno;

                                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved),
                                            "cannot read SSH public key file %s: %s",
                                            path, g_strerror(saved));
                                return -saved;
                        }
                        break;
                }
                r = add_key_line(path, ++line_no, line, (size_t) n, keys, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int is_pub_file(const struct dirent *de) {
        return de->d_name[0] != '.' && g_str_has_suffix(de->d_name, ".pub");
}

static void free_dirents(struct dirent **entries, int n) {
        for (int i = 0; i < n; i++)
                free(entries[i]);
        free(entries);
}

static int read_default_key_files(GPtrArray *keys, GError **error) {
        g_autofree char *dir = NULL;
        struct dirent **entries = NULL;
        int n, r = 0;

        dir = client_default_ssh_dir(error);
        if (!dir)
                return -ENOENT;

        n = scandir(dir, &entries, is_pub_file, alphasort);
        if (n < 0) {
                int saved = errno;

                /* No ~/.ssh simply means no keys. */
                if (saved == ENOENT || saved == ENOTDIR)
                        return 0;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved),
                            "cannot read directory %s: %s", dir, g_strerror(saved));
                return -saved;
        }

        for (int i = 0; i < n && r >= 0; i++) {
                g_autofree char *path = g_build_filename(dir, entries[i]->d_name, NULL);

                r = read_key_file(path, true, keys, error);
        }
        free_dirents(entries, n);
        return r;
}

GPtrArray *client_collect_authorized_keys(char **key_files, GError **error) {
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);

        if (key_files && key_files[0]) {
                for (char **f = key_files; *f; f++)
                        if (read_key_file(*f, false, keys, error) < 0)
                                return NULL;
        } else if (read_default_key_files(keys, error) < 0)
                return NULL;

        return g_steal_pointer(&keys);
}
