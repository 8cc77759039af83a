/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"

#include <stdbool.h>

typedef struct AuthQuery {
        Manager *manager;
        sd_bus_message *call;
        char *action;
        AuthCallback callback;
        void *userdata;
} AuthQuery;

static void auth_query_free(AuthQuery *q) {
        sd_bus_message_unref(q->call);
        g_free(q->action);
        g_free(q);
}

static void auth_finish(AuthQuery *q, int r, sd_bus_error *error) {
        g_hash_table_remove(q->manager->auth_queries, q);
        q->callback(q->manager, q->call, r, error, q->userdata);
        auth_query_free(q);
}

static void on_polkit_result(GObject *source, GAsyncResult *res, gpointer user_data) {
        AuthQuery *q = user_data;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(PolkitAuthorizationResult) result = NULL;
        g_autoptr(GError) gerror = NULL;

        result = polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &gerror);
        if (g_error_matches(gerror, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                sd_bus_error_setf(&error, MVM_ERROR_FAILED, "microvmd is shutting down.");
                auth_finish(q, -ECANCELED, &error);
        } else if (!result) {
                log_error("polkit check for %s failed: %s", q->action, gerror->message);
                sd_bus_error_setf(&error, MVM_ERROR_FAILED,
                                  "Cannot check authorization with polkit: %s", gerror->message);
                auth_finish(q, -EIO, &error);
        } else if (polkit_authorization_result_get_is_authorized(result))
                auth_finish(q, 1, &error);
        else if (polkit_authorization_result_get_is_challenge(result)) {
                sd_bus_error_setf(&error, MVM_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                  "Authentication is required for %s; allow interactive "
                                  "authorization (a polkit agent) or ask an administrator.", q->action);
                auth_finish(q, 0, &error);
        } else {
                sd_bus_error_setf(&error, MVM_ERROR_NOT_AUTHORIZED,
                                  "Not authorized: polkit refused %s.", q->action);
                auth_finish(q, 0, &error);
        }
}

int auth_check_async(Manager *m, sd_bus_message *call, const char *action,
                     const char *const *details, AuthCallback callback, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(PolkitSubject) subject = NULL;
        g_autoptr(PolkitDetails) polkit_details = NULL;
        PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
        AuthQuery *q;
        uid_t uid;
        int r;

        r = bus_message_get_caller_uid(call, &uid);
        if (r < 0)
                return r;

        q = g_new0(AuthQuery, 1);
        q->manager = m;
        q->call = sd_bus_message_ref(call);
        q->action = g_strdup(action);
        q->callback = callback;
        q->userdata = userdata;

        if (uid == 0) {
                g_hash_table_add(m->auth_queries, q);
                auth_finish(q, 1, &error);
                return 0;
        }

        if (!m->polkit) {
                sd_bus_error_setf(&error, MVM_ERROR_FAILED, "polkit is not available; cannot authorize %s.", action);
                g_hash_table_add(m->auth_queries, q);
                auth_finish(q, -EIO, &error);
                return 0;
        }

        subject = polkit_system_bus_name_new(sd_bus_message_get_sender(call));
        polkit_details = polkit_details_new();
        for (size_t i = 0; details && details[i] && details[i + 1]; i += 2)
                polkit_details_insert(polkit_details, details[i], details[i + 1]);
        if (sd_bus_message_get_allow_interactive_authorization(call))
                flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;

        g_hash_table_add(m->auth_queries, q);
        polkit_authority_check_authorization(m->polkit, subject, action, polkit_details, flags,
                                             m->cancellable, on_polkit_result, q);
        return 0;
}

static gboolean on_cancel_timeout(gpointer user_data) {
        *(bool *) user_data = true;
        return G_SOURCE_REMOVE;
}

void auth_cancel_all(Manager *m) {
        bool timed_out = false;
        guint timeout;

        if (g_hash_table_size(m->auth_queries) == 0)
                return;
        /* Every cancelled check still reports back (and frees its caller's state) from
         * the main context; wait for that, but never hang the exit on polkit. */
        g_cancellable_cancel(m->cancellable);
        timeout = g_timeout_add_seconds(5, on_cancel_timeout, &timed_out);
        while (g_hash_table_size(m->auth_queries) > 0 && !timed_out)
                g_main_context_iteration(NULL, TRUE);
        if (!timed_out)
                g_source_remove(timeout);
        else
                log_warning("%u polkit checks did not finish at exit.", g_hash_table_size(m->auth_queries));
}
