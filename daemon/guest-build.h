/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>

#include "systemd-client.h"

/* The guest microvm-guest.service builds (microvm-build-guest, into
 * /var/lib/microvm/guest). microvmd starts that unit once its VMs are loaded (not
 * microvmd.service's Wants=: the builder's up-to-date check would share the CPUs with
 * the loading of thousands of definitions) and does not wait for it: it answers at once,
 * and only a start of a VM that boots the built guest waits while the build runs. */

#define GUEST_BUILD_UNIT "microvm-guest.service"

typedef void (*GuestBuildDone)(void *userdata);

typedef struct GuestBuild {
        bool pending;              /* until PID 1 said the build job (if any) ended */
        sd_bus_slot *query;
        GPtrArray *waiters;        /* GuestBuildWaiter* */
} GuestBuild;

/* Has PID 1 start the build; pending until its job ends (or PID 1 refused it). */
int guest_build_start(GuestBuild *gb, SystemdClient *sc);

bool guest_build_pending(const GuestBuild *gb);

/* Whether path lies in the directory the build writes. */
bool guest_build_owns(const char *path);

/* Calls done (from the event loop) once the build is no longer pending. */
void guest_build_wait(GuestBuild *gb, GuestBuildDone done, void *userdata);

/* Forgets the waits of userdata (its owner goes away). */
void guest_build_forget(GuestBuild *gb, void *userdata);

void guest_build_clear(GuestBuild *gb, SystemdClient *sc);
