/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A tiny D-Bus client for bench/run: times calls to org.microvm.Manager on the system
 * bus from one process, so that the figures are the daemon's answer time and not a
 * tool's start-up or its output formatting.
 *
 *   busbench METHOD [COUNT [INTERVAL_MS [STOP_FILE]]]
 *   busbench WaitReady VM_OBJECT_PATH INTERVAL_MS
 *
 * METHOD is ListVMs or GetManagedObjects. Prints "connect MS" (start of main to a
 * connected bus, i.e. what a new process pays before its first call), then one line
 * per call, "call SECONDS_SINCE_START MS", flushed at once. It stops after COUNT calls
 * (0: no limit) or, checked between calls, once STOP_FILE exists. Exits non-zero when
 * a call fails. WaitReady reads the VM's property Ready every INTERVAL_MS until it is
 * true and prints "ready T", T on CLOCK_MONOTONIC (Python's time.monotonic()): a poll that costs the guests next to
 * nothing, unlike a new busctl process every few milliseconds. Built by bench/run with
 * cc and libsystemd; never installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        double t0 = now(), t1, t2;
        const char *method, *stop_file = NULL;
        long count = 1, interval_ms = 0;
        sd_bus *bus = NULL;
        int r;

        if (argc < 2) {
                fprintf(stderr, "usage: %s ListVMs|GetManagedObjects [COUNT [INTERVAL_MS [STOP_FILE]]]\n", argv[0]);
                return 2;
        }
        method = argv[1];
        if (argc > 2)
                count = strtol(argv[2], NULL, 10);
        if (argc > 3)
                interval_ms = strtol(argv[3], NULL, 10);
        if (argc > 4)
                stop_file = argv[4];

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "cannot connect to the system bus: %s\n", strerror(-r));
                return 1;
        }
        /* A daemon starting with 10,000 VMs may take longer than sd-bus's 25 s. */
        (void) sd_bus_set_method_call_timeout(bus, UINT64_C(600) * 1000 * 1000);
        printf("connect %.3f\n", (now() - t0) * 1e3);
        fflush(stdout);

        if (strcmp(method, "WaitReady") == 0) {
                const char *path = argc > 2 ? argv[2] : "";

                interval_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 25;
                while (now() - t0 < 600) {
                        sd_bus_error error = SD_BUS_ERROR_NULL;
                        int ready = 0;

                        r = sd_bus_get_property_trivial(bus, "org.microvm.Manager", path, "org.microvm.Manager.VM",
                                                        "Ready", &error, 'b', &ready);
                        if (r < 0) {
                                fprintf(stderr, "Ready of %s: %s\n", path, error.message ? error.message : strerror(-r));
                                sd_bus_error_free(&error);
                                sd_bus_unref(bus);
                                return 1;
                        }
                        if (ready) {
                                printf("ready %.4f\n", now());
                                sd_bus_flush_close_unref(bus);
                                return 0;
                        }
                        usleep((useconds_t) interval_ms * 1000);
                }
                fprintf(stderr, "Ready of %s is still false after 600 s\n", path);
                sd_bus_unref(bus);
                return 1;
        }

        for (long i = 0; count == 0 || i < count; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;

                if (stop_file && access(stop_file, F_OK) == 0)
                        break;
                t1 = now();
                if (strcmp(method, "GetManagedObjects") == 0)
                        r = sd_bus_call_method(bus, "org.microvm.Manager", "/org/microvm/Manager",
                                               "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &error,
                                               &reply, "");
                else
                        r = sd_bus_call_method(bus, "org.microvm.Manager", "/org/microvm/Manager",
                                               "org.microvm.Manager", method, &error, &reply, "");
                t2 = now();
                if (r < 0) {
                        fprintf(stderr, "%s failed: %s\n", method, error.message ? error.message : strerror(-r));
                        sd_bus_error_free(&error);
                        sd_bus_unref(bus);
                        return 1;
                }
                sd_bus_message_unref(reply);
                printf("call %.4f %.3f\n", t1 - t0, (t2 - t1) * 1e3);
                fflush(stdout);
                if (interval_ms > 0)
                        usleep((useconds_t) interval_ms * 1000);
        }
        sd_bus_flush_close_unref(bus);
        return 0;
}
