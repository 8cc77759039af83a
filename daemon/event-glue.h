/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-event.h>

/* Runs an sd-event loop inside a GMainContext, so sd-bus (attached to the sd-event)
 * and GLib-based libraries (polkit) share one thread and one loop. Returns the source
 * attached to the default context; g_source_destroy + g_source_unref it to detach. */
GSource *event_glue_attach(sd_event *event);
