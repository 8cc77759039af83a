/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The ACPI power button: the "button" module makes it an input device named
 * "Power Button", "evdev" gives it a /dev/input/eventN node; a KEY_POWER press on it
 * means "shut down" (QEMU's system_powerdown, cloud-hypervisor's vm.power-button). */

#include <linux/input.h>
#include <stdbool.h>
#include <stddef.h>

#define GUEST_POWER_BUTTONS_MAX 8

typedef struct PowerButtons {
        int fds[GUEST_POWER_BUTTONS_MAX];
        char paths[GUEST_POWER_BUTTONS_MAX][32];
        size_t n;
} PowerButtons;

void power_buttons_init(PowerButtons *b);
void power_buttons_close(PowerButtons *b);

/* Whether an input device name is a power button's. */
bool power_button_name_matches(const char *name);

/* Whether the events read from a power button contain a KEY_POWER press. */
bool power_button_pressed(const struct input_event *events, size_t n);

/* Opens the power buttons in INPUT_DIR (/dev/input) not open yet. Returns how many were
 * added. */
size_t power_buttons_scan(PowerButtons *b, const char *input_dir);

/* Reads what is pending on fd; true when it held a press. */
bool power_button_read(int fd);
