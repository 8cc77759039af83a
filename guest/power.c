/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "power.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

void power_buttons_init(PowerButtons *b) {
        b->n = 0;
        for (size_t i = 0; i < GUEST_POWER_BUTTONS_MAX; i++)
                b->fds[i] = -1;
}

void power_buttons_close(PowerButtons *b) {
        for (size_t i = 0; i < b->n; i++)
                if (b->fds[i] >= 0)
                        close(b->fds[i]);
        power_buttons_init(b);
}

bool power_button_name_matches(const char *name) {
        return strstr(name, "Power Button") != NULL;
}

bool power_button_pressed(const struct input_event *events, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (events[i].type == EV_KEY && events[i].code == KEY_POWER && events[i].value == 1)
                        return true;
        return false;
}

static bool already_open(const PowerButtons *b, const char *path) {
        for (size_t i = 0; i < b->n; i++)
                if (strcmp(b->paths[i], path) == 0)
                        return true;
        return false;
}

size_t power_buttons_scan(PowerButtons *b, const char *input_dir) {
        DIR *d = opendir(input_dir);
        struct dirent *de;
        size_t added = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)) && b->n < GUEST_POWER_BUTTONS_MAX) {
                char path[sizeof(b->paths[0])], name[256] = "";
                int fd;

                if (strncmp(de->d_name, "event", 5) != 0)
                        continue;
                if (snprintf(path, sizeof(path), "%s/%s", input_dir, de->d_name) >= (int) sizeof(path) ||
                    already_open(b, path))
                        continue;
                fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        continue;
                if (ioctl(fd, EVIOCGNAME(sizeof(name) - 1), name) < 0 || !power_button_name_matches(name)) {
                        close(fd);
                        continue;
                }
                b->fds[b->n] = fd;
                memcpy(b->paths[b->n], path, sizeof(path));
                b->n++;
                added++;
        }
        closedir(d);
        return added;
}

bool power_button_read(int fd) {
        struct input_event events[16];
        bool pressed = false;

        for (;;) {
                ssize_t n = read(fd, events, sizeof(events));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (power_button_pressed(events, (size_t) n / sizeof(events[0])))
                        pressed = true;
        }
        return pressed;
}
