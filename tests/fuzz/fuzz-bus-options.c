/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The a{sv} option readers of CreateWorkspace, DeleteWorkspace and GetLogs, on real
 * sd-bus messages whose entries (keys, types and values) the input chooses. */
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus-options.h"
#include "mvm-macro.h"

static const char *const keys[] = {
        "vcpus", "memory-mib", "authorized-keys", "hypervisor", "kernel", "initramfs", "kernel-cmdline",
        "ip-address", "volume-gib", "egress", "remove-files", "follow", "lines", "wait", "force", "",
};

static sd_bus *bus;

typedef struct Input {
        const uint8_t *data;
        size_t size;
} Input;

static uint8_t take(Input *in) {
        uint8_t b = in->size > 0 ? in->data[0] : 0;
        if (in->size > 0) {
                in->data++;
                in->size--;
        }
        return b;
}

/* A string of up to 255 bytes of the input (NUL bytes end it). */
static char *take_string(Input *in) {
        size_t want = take(in), n = MIN(want, in->size);
        char *s = g_malloc(n + 1);

        memcpy(s, in->data, n);
        s[n] = '\0';

        in->data += n;
        in->size -= n;
        return s;
}

static int append_entry(sd_bus_message *m, Input *in) {
        const char *key = keys[take(in) % G_N_ELEMENTS(keys)];
        uint8_t type = take(in) % 6;
        uint64_t v = 0;
        int r;

        for (int i = 0; i < 8; i++)
                v = v << 8 | take(in);
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", key);
        if (r < 0)
                return r;
        switch (type) {
        case 0:
                r = sd_bus_message_append(m, "v", "u", (uint32_t) v);
                break;
        case 1:
                r = sd_bus_message_append(m, "v", "t", v);
                break;
        case 2:
                r = sd_bus_message_append(m, "v", "b", (int) (v & 1));
                break;
        case 3: {
                g_autofree char *s = take_string(in);
                r = g_utf8_validate(s, -1, NULL) ? sd_bus_message_append(m, "v", "s", s)
                                                 : sd_bus_message_append(m, "v", "s", "");
                break;
        }
        case 4: {
                g_autofree char *a = take_string(in), *b = take_string(in);
                if (!g_utf8_validate(a, -1, NULL) || !g_utf8_validate(b, -1, NULL))
                        r = sd_bus_message_append(m, "v", "as", 0);
                else
                        r = sd_bus_message_append(m, "v", "as", 2, a, b);
                break;
        }
        default:
                r = sd_bus_message_append(m, "v", "i", (int32_t) v);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static uint64_t cookie = 1;
        Input in = { data, size };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(MvmConfig) config = mvm_config_new_default();
        uint8_t which = take(&in) % 3, n = take(&in) % 8;
        int fds[2];

        if (!bus) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 || sd_bus_new(&bus) < 0 ||
                    sd_bus_set_fd(bus, fds[0], fds[0]) < 0 || sd_bus_start(bus) < 0)
                        __builtin_trap();
                close(fds[1]);
        }
        if (sd_bus_message_new_method_call(bus, &m, "org.microvm.Manager", "/org/microvm/Manager",
                                           "org.microvm.Manager", "CreateWorkspace") < 0 ||
            sd_bus_message_open_container(m, 'a', "{sv}") < 0)
                return 0;
        for (uint8_t i = 0; i < n; i++)
                if (append_entry(m, &in) < 0)
                        return 0;
        if (sd_bus_message_close_container(m) < 0 || sd_bus_message_seal(m, cookie++, 0) < 0 ||
            sd_bus_message_rewind(m, true) < 0)
                return 0;

        if (which == 0) {
                CreateOptions o = {};
                if (create_options_parse(m, config, &o, &error) >= 0)
                        create_options_clear(&o);
        } else if (which == 1) {
                DeleteOptions o = {};
                (void) delete_options_parse(m, &o, &error);
        } else {
                bool follow = false;
                uint64_t lines = 0;
                (void) logs_options_parse(m, &follow, &lines, &error);
        }
        return 0;
}
