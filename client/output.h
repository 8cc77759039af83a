/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What microvm-client prints besides each command's own lines: the one-line messages
 * on stderr (every failure ends with exactly one), JSON, and the formatting of users
 * and times. */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Prints "microvm-client: MESSAGE" on one line and returns exit_code. */
G_GNUC_PRINTF(2, 3)
int fail(int exit_code, const char *fmt, ...);

/* Prints "microvm-client: warning: MESSAGE" on one line. */
G_GNUC_PRINTF(1, 2)
void warn(const char *fmt, ...);

/* Prints the builder's value, indented by two. */
void print_json(JsonBuilder *builder);

/* Add a member to the object being built; nothing when value is NULL, or not present. */
void json_add_string(JsonBuilder *b, const char *key, const char *value);
void json_add_uint(JsonBuilder *b, const char *key, uint64_t value, bool present);

/* The user's name, or the number when it has none. */
char *format_user(uint32_t uid);

/* "Sun 2026-11-29 21:00:00 UTC" in local time; "-" for 0. */
char *format_timestamp(uint64_t usec);

/* "2h 5min (since Sun 2026-11-29 19:00:00 UTC)": how long since started_at, and when. */
char *format_uptime(uint64_t started_at);
