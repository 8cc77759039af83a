/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"
#include "machined.h"
#include "mvm-macro.h"

#include <errno.h>
#include <glib.h>
#include <net/if.h>
#include <string.h>

#define MACHINED_SERVICE "org.freedesktop.machine1"
#define MACHINED_PATH "/org/freedesktop/machine1"
#define MACHINED_MANAGER "org.freedesktop.machine1.Manager"

/* A floating slot that frees its copy of the name when the reply came (or the bus went). */
static int call_async(sd_bus *bus, sd_bus_message *m, sd_bus_message_handler_t callback, const char *name) {
        sd_bus_slot *slot = NULL;
        char *copy = g_strdup(name);
        int r;

        r = sd_bus_call_async(bus, &slot, m, callback, copy, 0);
        if (r < 0) {
                g_free(copy);
                return r;
        }
        (void) sd_bus_slot_set_destroy_callback(slot, g_free);
        (void) sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
        return 0;
}

static int on_registered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        char *name = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_info("VM %s is not registered with systemd-machined: %s", name, e->message);
        return 0;
}

static int on_unregistered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        /* Gone already (machined collects a machine whose unit ended): nothing to do. */
        if (e && !sd_bus_error_has_names(e, "org.freedesktop.machine1.NoSuchMachine",
                                          SD_BUS_ERROR_SERVICE_UNKNOWN))
                log_info("Cannot unregister VM %s from systemd-machined: %s", (char *) userdata, e->message);
        return 0;
}

void machined_register(sd_bus *bus, const char *name, uint32_t leader, const char *tap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int ifindex = tap ? (int) if_nametoindex(tap) : 0;
        int r;

        if (!bus || leader == 0)
                return;
        r = sd_bus_message_new_method_call(bus, &m, MACHINED_SERVICE, MACHINED_PATH, MACHINED_MANAGER,
                                           "RegisterMachineWithNetwork");
        if (r >= 0)
                /* No machine ID (an empty array), no root directory: a VM has neither here. */
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', NULL, 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "ssus", "microvmd", "vm", leader, "");
        if (r >= 0)
                r = ifindex > 0 ? sd_bus_message_append(m, "ai", 1, ifindex) : sd_bus_message_append(m, "ai", 0);
        if (r >= 0)
                r = call_async(bus, m, on_registered, name);
        if (r < 0)
                log_info("Cannot ask systemd-machined to register VM %s: %s", name, strerror(-r));
}

void machined_unregister(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (!bus)
                return;
        r = sd_bus_message_new_method_call(bus, &m, MACHINED_SERVICE, MACHINED_PATH, MACHINED_MANAGER,
                                           "UnregisterMachine");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = call_async(bus, m, on_unregistered, name);
        if (r < 0)
                log_info("Cannot ask systemd-machined to unregister VM %s: %s", name, strerror(-r));
}
