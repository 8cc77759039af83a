/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <systemd/sd-daemon.h>

/* microvmd logs to stderr, which systemd hands to the journal; the <N> prefixes from
 * sd-daemon.h carry the priority. */
#define log_error(fmt, ...)   fprintf(stderr, SD_ERR fmt "\n", ##__VA_ARGS__)
#define log_warning(fmt, ...) fprintf(stderr, SD_WARNING fmt "\n", ##__VA_ARGS__)
#define log_notice(fmt, ...)  fprintf(stderr, SD_NOTICE fmt "\n", ##__VA_ARGS__)
#define log_info(fmt, ...)    fprintf(stderr, SD_INFO fmt "\n", ##__VA_ARGS__)
