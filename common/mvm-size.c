/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mvm-size.h"

#include <errno.h>
#include <stddef.h>
#include <strings.h>

int mvm_parse_uint64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int mvm_parse_size_mib(const char *s, uint64_t *ret_mib) {
        static const struct {
                const char *suffix;
                uint64_t factor_mib;
        } units[] = {
                { "",    1 },
                { "M",   1 }, { "MB", 1 }, { "MiB", 1 },
                { "G",   1024 }, { "GB", 1024 }, { "GiB", 1024 },
                { "T",   1024 * 1024 }, { "TB", 1024 * 1024 }, { "TiB", 1024 * 1024 },
        };
        const char *p;
        char digits[32];
        size_t n = 0;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        for (p = s; *p >= '0' && *p <= '9'; p++) {
                if (n + 1 >= sizeof(digits))
                        return -ERANGE;
                digits[n++] = *p;
        }
        digits[n] = '\0';
        if (n == 0)
                return -EINVAL;

        r = mvm_parse_uint64(digits, &v);
        if (r < 0)
                return r;

        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcasecmp(p, units[i].suffix) != 0)
                        continue;
                if (v > UINT64_MAX / units[i].factor_mib)
                        return -ERANGE;
                *ret_mib = v * units[i].factor_mib;
                return 0;
        }
        return -EINVAL;
}
