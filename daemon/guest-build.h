/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>

#include "systemd-client.h"

/* The guest microvm-guest.service builds (microvm-build-guest, into
 * /var/lib/microvm/guest). microvmd.service wants that unit but does not wait for it:
 * microvmd answers at once, and only a start of a VM that boots the built guest waits
 * while the build started with microvmd still runs. */

#define GUEST_BUILD_UNIT "microvm-guest.service"

typedef void (*GuestBuildDone)(void *userdata);

typedef struct GuestBuild {
        bool pending;              /* until PID 1 said the build job (if any) ended */
        sd_bus_slot *query;
        GPtrArray *waiters;        /* GuestBuildWaiter* */
} GuestBuild;

/* Asks PID 1 about the build's job; pending until it ends (or there is none). */
int guest_build_watch(GuestBuild *gb, SystemdClient *sc);

bool guest_build_pending(const GuestBuild *gb);

/* Whether path lies in the directory the build writes. */
bool guest_build_owns(const char *path);

/* Calls done (from the event loop) once the build is no longer pending. */
void guest_build_wait(GuestBuild *gb, GuestBuildDone done, void *userdata);

/* Forgets the waits of userdata (its owner goes away). */
void guest_build_forget(GuestBuild *gb, void *userdata);

void guest_build_clear(GuestBuild *gb, SystemdClient *sc);
