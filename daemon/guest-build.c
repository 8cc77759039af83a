/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"
#include "guest-build.h"
#include "log.h"

#include <string.h>

#define GUEST_DIR MICROVM_STATE_DIR "/guest/"

typedef struct GuestBuildWaiter {
        GuestBuildDone done;
        void *userdata;
} GuestBuildWaiter;

static void on_build_job_done(const char *unit, const char *result, void *userdata) {
        GuestBuild *gb = userdata;

        gb->query = sd_bus_slot_unref(gb->query);
        if (result && strcmp(result, "done") != 0)
                log_warning("%s did not build the guest (its job: %s): VMs boot what %s holds; see journalctl -u %s.",
                            unit, result, GUEST_DIR, unit);
        /* From here on nobody is added; a waiter may forget others (done = NULL). */
        gb->pending = false;
        if (gb->waiters->len > 0 && result)
                log_info("%s is done; the starts that waited for it go on.", unit);
        for (guint i = 0; i < gb->waiters->len; i++) {
                GuestBuildWaiter *w = gb->waiters->pdata[i];

                if (w->done)
                        w->done(w->userdata);
        }
        g_ptr_array_set_size(gb->waiters, 0);
}

static void on_build_start_answered(int r, const sd_bus_error *error, void *userdata) {
        GuestBuild *gb = userdata;

        if (r >= 0)
                return; /* the job's end follows */
        /* An admin who boots a guest of their own may have masked or removed the builder. */
        if (sd_bus_error_has_names(error, "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.UnitMasked"))
                log_info("%s is not there (%s): VMs boot the files [Guest] names as they are.", GUEST_BUILD_UNIT,
                         error->message);
        else
                log_warning("Cannot start %s: %s; VMs boot what %s holds.", GUEST_BUILD_UNIT, error->message,
                            GUEST_DIR);
        on_build_job_done(GUEST_BUILD_UNIT, NULL, gb);
}

int guest_build_start(GuestBuild *gb, SystemdClient *sc) {
        int r;

        gb->waiters = g_ptr_array_new_with_free_func(g_free);
        gb->pending = true;
        r = systemd_start_unit_job_async(sc, GUEST_BUILD_UNIT, on_build_start_answered, on_build_job_done, gb,
                                         &gb->query);
        if (r < 0) {
                log_warning("Cannot ask PID 1 to start %s: %s", GUEST_BUILD_UNIT, strerror(-r));
                gb->pending = false;
        }
        return r;
}

bool guest_build_pending(const GuestBuild *gb) {
        return gb->pending;
}

bool guest_build_owns(const char *path) {
        return path && g_str_has_prefix(path, GUEST_DIR);
}

void guest_build_wait(GuestBuild *gb, GuestBuildDone done, void *userdata) {
        GuestBuildWaiter *w = g_new(GuestBuildWaiter, 1);

        g_assert(gb->pending);
        *w = (GuestBuildWaiter) { .done = done, .userdata = userdata };
        g_ptr_array_add(gb->waiters, w);
}

void guest_build_forget(GuestBuild *gb, void *userdata) {
        if (!gb->waiters)
                return;
        for (guint i = 0; i < gb->waiters->len; i++) {
                GuestBuildWaiter *w = gb->waiters->pdata[i];

                if (w->userdata == userdata)
                        w->done = NULL;
        }
}

void guest_build_clear(GuestBuild *gb, SystemdClient *sc) {
        gb->query = sd_bus_slot_unref(gb->query);
        if (sc)
                systemd_forget_jobs(sc, gb);
        g_clear_pointer(&gb->waiters, g_ptr_array_unref);
        gb->pending = false;
}
