/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "event-glue.h"

/* The pattern of systemd's man/glib-event-glue.c. */

typedef struct SDEventSource {
        GSource source;
        GPollFD pollfd;
        sd_event *event;
} SDEventSource;

static gboolean event_prepare(GSource *source, gint *timeout) {
        /* sd_event_prepare() > 0 means events are already pending: dispatch now. */
        *timeout = -1;
        return sd_event_prepare(((SDEventSource *) source)->event) > 0;
}

static gboolean event_check(GSource *source) {
        return sd_event_wait(((SDEventSource *) source)->event, 0) > 0;
}

static gboolean event_dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
        return sd_event_dispatch(((SDEventSource *) source)->event) >= 0;
}

static void event_finalize(GSource *source) {
        sd_event_unref(((SDEventSource *) source)->event);
}

static GSourceFuncs event_funcs = {
        .prepare = event_prepare,
        .check = event_check,
        .dispatch = event_dispatch,
        .finalize = event_finalize,
};

GSource *event_glue_attach(sd_event *event) {
        SDEventSource *s = (SDEventSource *) g_source_new(&event_funcs, sizeof(SDEventSource));

        s->event = sd_event_ref(event);
        s->pollfd.fd = sd_event_get_fd(event);
        s->pollfd.events = G_IO_IN | G_IO_HUP | G_IO_ERR;
        g_source_add_poll(&s->source, &s->pollfd);
        g_source_attach(&s->source, NULL);
        return &s->source;
}
