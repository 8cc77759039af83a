/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"
#include "bus.h"
#include "log.h"
#include "manager.h"
#include "mvm-dbus.h"
#include "mvm-macro.h"

#include <stdbool.h>
#include <systemd/sd-event.h>

/* What polkit said about one action with one set of details. */
typedef struct AuthAnswer {
        char *action;
        char **details;
        int verdict;            /* 1 allowed, -EACCES refused, other < 0 the check failed */
        sd_bus_error error;     /* when verdict < 0 */
} AuthAnswer;

/* The polkit checks of one method call, keyed by the message in Manager.auth_queries. */
typedef struct AuthQuery {
        Manager *manager;
        sd_bus_message *call;
        char *action;           /* the check in flight, NULL when none is */
        char **details;
        GPtrArray *answers;     /* AuthAnswer*, every check of this call so far */
        sd_event_source *defer; /* puts the call back into the read queue, then frees the query */
        bool handed_back;       /* the call is queued (or was dispatched) again */
} AuthQuery;

static void auth_answer_free(void *p) {
        AuthAnswer *a = p;

        g_free(a->action);
        g_strfreev(a->details);
        sd_bus_error_free(&a->error);
        g_free(a);
}

static char **details_copy(const char *const *details) {
        return g_strdupv((char **) (details ?: (const char *const []) { NULL }));
}

static bool details_equal(char **a, const char *const *b) {
        return g_strv_equal((const char *const *) a, b ?: (const char *const []) { NULL });
}

static void auth_query_free(AuthQuery *q) {
        g_hash_table_remove(q->manager->auth_queries, q->call);
        sd_event_source_disable_unref(q->defer);
        sd_bus_message_unref(q->call);
        g_free(q->action);
        g_strfreev(q->details);
        g_ptr_array_unref(q->answers);
        g_free(q);
}

/* The call is answered here when it cannot go back to its handler. */
static void auth_query_fail(AuthQuery *q, const char *name, const char *message) {
        if (!q->handed_back)
                (void) sd_bus_reply_method_errorf(q->call, name, "%s", message);
        auth_query_free(q);
}

static int on_defer(sd_event_source *s, void *userdata) {
        AuthQuery *q = userdata;
        int r;

        if (q->handed_back) {
                /* Idle again: the call has been dispatched a second time and used what it
                 * needed. An answer must not outlive it. */
                auth_query_free(q);
                return 0;
        }

        /* Handed back from within sd-event, not from polkit's GLib callback, so that the bus
         * sees its read queue grow (and dispatches it at normal priority) before this source
         * runs again at idle priority to free the query. */
        r = sd_event_source_set_priority(s, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r >= 0)
                r = sd_bus_message_rewind(q->call, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->call), q->call);
        if (r < 0) {
                log_error("Cannot dispatch %s again after the polkit check: %s",
                          sd_bus_message_get_member(q->call) ?: "a call", strerror(-r));
                auth_query_fail(q, MVM_ERROR_FAILED, "Cannot continue the call after the authorization check.");
                return 0;
        }
        q->handed_back = true;
        return 0;
}

static void on_polkit_result(GObject *source, GAsyncResult *res, gpointer user_data) {
        AuthQuery *q = user_data;
        g_autoptr(PolkitAuthorizationResult) result = NULL;
        g_autoptr(GError) gerror = NULL;
        AuthAnswer *a;
        int r;

        result = polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &gerror);
        if (g_error_matches(gerror, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                auth_query_fail(q, MVM_ERROR_FAILED, "microvmd is shutting down.");
                return;
        }

        a = g_new0(AuthAnswer, 1);
        a->action = g_steal_pointer(&q->action);
        a->details = g_steal_pointer(&q->details);
        g_ptr_array_add(q->answers, a);
        if (!result) {
                log_error("polkit check for %s failed: %s", a->action, gerror->message);
                a->verdict = -EIO;
                sd_bus_error_setf(&a->error, MVM_ERROR_FAILED, "Cannot check authorization with polkit: %s",
                                  gerror->message);
        } else if (polkit_authorization_result_get_is_authorized(result))
                a->verdict = 1;
        else if (polkit_authorization_result_get_is_challenge(result)) {
                a->verdict = -EACCES;
                sd_bus_error_setf(&a->error, MVM_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                  "Authentication is required for %s; allow interactive "
                                  "authorization (a polkit agent) or ask an administrator.", a->action);
        } else {
                a->verdict = -EACCES;
                sd_bus_error_setf(&a->error, MVM_ERROR_NOT_AUTHORIZED, "Not authorized: polkit refused %s.",
                                  a->action);
        }

        /* Whatever the verdict, the handler gives the answer: it is the one that knows the
         * call. */
        r = sd_event_add_defer(q->manager->event, &q->defer, on_defer, q);
        if (r < 0) {
                log_error("Cannot dispatch a call again after the polkit check: %s", strerror(-r));
                auth_query_fail(q, MVM_ERROR_FAILED, "Cannot continue the call after the authorization check.");
        }
}

static const AuthAnswer *auth_query_find(AuthQuery *q, const char *action, const char *const *details) {
        for (guint i = 0; i < q->answers->len; i++) {
                const AuthAnswer *a = q->answers->pdata[i];
                if (strcmp(a->action, action) == 0 && details_equal(a->details, details))
                        return a;
        }
        return NULL;
}

int auth_verify(Manager *m, sd_bus_message *call, const char *action, const char *const *details,
                sd_bus_error *error) {
        g_autoptr(PolkitSubject) subject = NULL;
        g_autoptr(PolkitDetails) polkit_details = NULL;
        PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
        AuthQuery *q;
        uid_t uid;
        int r;

        r = bus_message_get_caller_uid(call, &uid);
        if (r < 0)
                return r;
        if (uid == 0)
                return 1;

        q = g_hash_table_lookup(m->auth_queries, call);
        if (q) {
                const AuthAnswer *a;

                /* A call is dispatched again only once its check is answered. */
                if (q->action)
                        return -EBUSY;
                a = auth_query_find(q, action, details);
                if (a) {
                        if (a->verdict > 0)
                                return 1;
                        sd_bus_error_copy(error, &a->error);
                        return a->verdict;
                }
                /* Another action of the same call, or the details changed while polkit was
                 * asked (another VM by that name now): that answer does not apply. */
        }

        if (!m->polkit) {
                sd_bus_error_setf(error, MVM_ERROR_FAILED, "polkit is not available; cannot authorize %s.", action);
                return -EIO;
        }

        if (!q) {
                q = g_new0(AuthQuery, 1);
                q->manager = m;
                q->call = sd_bus_message_ref(call);
                q->answers = g_ptr_array_new_with_free_func(auth_answer_free);
                g_hash_table_insert(m->auth_queries, call, q);
        } else {
                /* Asked during the second dispatch: it stays until this check is answered too. */
                q->defer = sd_event_source_disable_unref(q->defer);
                q->handed_back = false;
        }
        q->action = g_strdup(action);
        q->details = details_copy(details);

        subject = polkit_system_bus_name_new(sd_bus_message_get_sender(call));
        polkit_details = polkit_details_new();
        for (size_t i = 0; details && details[i] && details[i + 1]; i += 2)
                polkit_details_insert(polkit_details, details[i], details[i + 1]);
        if (sd_bus_message_get_allow_interactive_authorization(call) > 0)
                flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;

        polkit_authority_check_authorization(m->polkit, subject, action, polkit_details, flags,
                                             m->cancellable, on_polkit_result, q);
        return 0;
}

static gboolean on_cancel_timeout(gpointer user_data) {
        *(bool *) user_data = true;
        return G_SOURCE_REMOVE;
}

void auth_cancel_all(Manager *m) {
        g_autoptr(GList) left = NULL;
        bool timed_out = false;
        guint timeout;

        if (g_hash_table_size(m->auth_queries) == 0)
                return;
        /* Every cancelled check still reports back (and answers its call) from the main
         * context, and an answered one is dispatched again (the Busy answer of the exit)
         * and freed from it too; wait for that, but never hang the exit on polkit. */
        g_cancellable_cancel(m->cancellable);
        timeout = g_timeout_add_seconds(5, on_cancel_timeout, &timed_out);
        while (g_hash_table_size(m->auth_queries) > 0 && !timed_out)
                g_main_context_iteration(NULL, TRUE);
        if (!timed_out) {
                g_source_remove(timeout);
                return;
        }

        /* Those whose check is answered are ours to free; one in flight is polkit's until
         * its callback, which will not run any more. */
        left = g_hash_table_get_values(m->auth_queries);
        for (GList *l = left; l; l = l->next) {
                AuthQuery *q = l->data;
                if (!q->action)
                        auth_query_fail(q, MVM_ERROR_FAILED, "microvmd is shutting down.");
        }
        if (g_hash_table_size(m->auth_queries) > 0)
                log_warning("%u polkit checks did not finish at exit.", g_hash_table_size(m->auth_queries));
}
