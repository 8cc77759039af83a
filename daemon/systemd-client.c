/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "systemd-client.h"
#include "log.h"
#include "mvm-macro.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"
#define OUR_UNIT_PREFIX "microvm-"

struct SystemdClient {
        sd_bus *bus;
        GHashTable *jobs;        /* job path → JobWait* */
        UnitChangedCallback on_unit_changed;
        void *userdata;
        sd_bus_slot *match_job_removed, *match_unit_removed, *match_properties;
};

typedef struct JobWait {
        char *unit;
        JobCallback callback;
        void *userdata;
} JobWait;

static void job_wait_free(void *p) {
        JobWait *w = p;

        g_free(w->unit);
        g_free(w);
}

/* The state of one asynchronous call, owned by its slot. */
typedef struct PendingCall {
        SystemdClient *client;
        char *unit;
        SystemdReplyCallback reply;
        JobCallback job_done;
        void *job_userdata;
        UnitsLoadedCallback loaded;
        void *userdata;
} PendingCall;

static void pending_call_free(void *p) {
        PendingCall *c = p;

        g_free(c->unit);
        g_free(c);
}

void unit_status_clear(UnitStatus *s) {
        g_clear_pointer(&s->active_state, g_free);
        g_clear_pointer(&s->result, g_free);
        g_clear_pointer(&s->environment, g_strfreev);
}

static bool is_our_unit(const char *unit) {
        return unit && g_str_has_prefix(unit, OUR_UNIT_PREFIX) && g_str_has_suffix(unit, ".service");
}

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        SystemdClient *sc = userdata;
        const char *job, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result);
        if (r < 0)
                return 0;
        g_autofree char *key = NULL;
        JobWait *w;

        if (!g_hash_table_steal_extended(sc->jobs, job, (gpointer *) &key, (gpointer *) &w))
                return 0;
        if (w->callback)
                w->callback(unit, result, w->userdata);
        job_wait_free(w);
        return 0;
}

static int read_changes(sd_bus_message *msg, bool service_interface, UnitStatus *c) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *name, *value;

                r = sd_bus_message_read(msg, "s", &name);
                if (r < 0)
                        return r;
                if (!service_interface && strcmp(name, "ActiveState") == 0) {
                        r = sd_bus_message_read(msg, "v", "s", &value);
                        if (r >= 0)
                                c->active_state = g_strdup(value);
                } else if (service_interface && strcmp(name, "Result") == 0) {
                        r = sd_bus_message_read(msg, "v", "s", &value);
                        if (r >= 0)
                                c->result = g_strdup(value);
                } else if (service_interface && strcmp(name, "MainPID") == 0) {
                        r = sd_bus_message_read(msg, "v", "u", &c->main_pid);
                        c->has_main_pid = r >= 0;
                } else if (service_interface && strcmp(name, "ExecMainCode") == 0) {
                        r = sd_bus_message_read(msg, "v", "i", &c->exec_main_code);
                        c->has_exec_main = r >= 0;
                } else if (service_interface && strcmp(name, "ExecMainStatus") == 0) {
                        r = sd_bus_message_read(msg, "v", "i", &c->exec_main_status);
                } else
                        r = sd_bus_message_skip(msg, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        return r;
}

static int on_unit_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *unit = NULL;
        UnitStatus changes = {};
        SystemdClient *sc = userdata;
        const char *interface;
        bool service;

        if (sd_bus_path_decode(sd_bus_message_get_path(msg), SYSTEMD_UNIT_PREFIX, &unit) <= 0 || !is_our_unit(unit))
                return 0;
        if (sd_bus_message_read(msg, "s", &interface) < 0)
                return 0;
        service = strcmp(interface, "org.freedesktop.systemd1.Service") == 0;
        if (!service && strcmp(interface, "org.freedesktop.systemd1.Unit") != 0)
                return 0;
        if (read_changes(msg, service, &changes) >= 0)
                sc->on_unit_changed(unit, &changes, sc->userdata);
        unit_status_clear(&changes);
        return 0;
}

/* Sends a method call to PID 1's manager object with a PendingCall as the slot's
 * userdata; the slot owns it from then on. Floating when ret_slot is NULL. */
static int call_manager_async(SystemdClient *sc, sd_bus_message *msg, sd_bus_message_handler_t handler,
                              PendingCall *c, sd_bus_slot **ret_slot) {
        sd_bus_slot *slot = NULL;
        int r;

        r = sd_bus_call_async(sc->bus, &slot, msg, handler, c, 0);
        if (r < 0) {
                pending_call_free(c);
                return r;
        }
        (void) sd_bus_slot_set_destroy_callback(slot, pending_call_free);
        if (ret_slot) {
                *ret_slot = slot;
                return 0;
        }
        /* The bus owns a floating slot: it goes when the reply came or the bus is closed. */
        (void) sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
        return 0;
}

static int new_manager_call(SystemdClient *sc, const char *method, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(sc->bus, ret, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, method);
}

static PendingCall *pending_call_new(SystemdClient *sc, const char *unit, void *userdata) {
        PendingCall *c = g_new0(PendingCall, 1);

        c->client = sc;
        c->unit = g_strdup(unit);
        c->userdata = userdata;
        return c;
}

/* UnitRemoved, checked without blocking: PID 1 announces every unit as removed when it
 * reloads, then loads it again. Only a unit that is really gone (NoSuchUnit) or no
 * longer running is reported, from the answers of GetUnit and then of ActiveState. */
static void report_removed(PendingCall *c) {
        UnitStatus changes = { .removed = true };

        c->client->on_unit_changed(c->unit, &changes, c->client->userdata);
}

static int on_removed_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PendingCall *c = userdata;
        const char *state = NULL;

        /* An error: the unit went away in between. */
        if (sd_bus_message_is_method_error(reply, NULL) ||
            sd_bus_message_read(reply, "v", "s", &state) < 0 || g_strcmp0(state, "inactive") == 0 ||
            g_strcmp0(state, "failed") == 0)
                report_removed(c);
        return 0;
}

static int on_removed_unit_path(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        PendingCall *c = userdata;
        const char *path;

        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "o", &path) < 0) {
                report_removed(c);
                return 0;
        }
        if (sd_bus_message_new_method_call(c->client->bus, &msg, SYSTEMD_SERVICE, path,
                                           "org.freedesktop.DBus.Properties", "Get") < 0 ||
            sd_bus_message_append(msg, "ss", "org.freedesktop.systemd1.Unit", "ActiveState") < 0 ||
            call_manager_async(c->client, msg, on_removed_state, pending_call_new(c->client, c->unit, NULL), NULL) < 0)
                report_removed(c);
        return 0;
}

static int on_unit_removed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        SystemdClient *sc = userdata;
        const char *unit, *path;

        if (sd_bus_message_read(msg, "so", &unit, &path) < 0 || !is_our_unit(unit))
                return 0;
        if (new_manager_call(sc, "GetUnit", &call) < 0 || sd_bus_message_append(call, "s", unit) < 0 ||
            call_manager_async(sc, call, on_removed_unit_path, pending_call_new(sc, unit, NULL), NULL) < 0)
                log_warning("Cannot ask PID 1 about the removed unit %s.", unit);
        return 0;
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        /* Without it PID 1 sends no signals at all: the VMs' states would never move. */
        if (e)
                log_error("Cannot subscribe to systemd's signals: %s", e->message);
        return 0;
}

int systemd_client_new(sd_bus *bus, UnitChangedCallback on_unit_changed, void *userdata, SystemdClient **ret) {
        g_autoptr(SystemdClient) sc = g_new0(SystemdClient, 1);
        int r;

        sc->bus = sd_bus_ref(bus);
        sc->jobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, job_wait_free);
        sc->on_unit_changed = on_unit_changed;
        sc->userdata = userdata;
        r = sd_bus_match_signal(bus, &sc->match_job_removed, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                "JobRemoved", on_job_removed, sc);
        if (r < 0)
                return r;
        r = sd_bus_match_signal(bus, &sc->match_unit_removed, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                "UnitRemoved", on_unit_removed, sc);
        if (r < 0)
                return r;
        r = sd_bus_add_match(bus, &sc->match_properties,
                             "type='signal',sender='" SYSTEMD_SERVICE "',"
                             "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                             "path_namespace='" SYSTEMD_UNIT_PREFIX "'",
                             on_unit_properties_changed, sc);
        if (r < 0)
                return r;
        /* Asynchronous: PID 1 handles our calls in order, so everything sent after this
         * is answered after it took effect. */
        r = sd_bus_call_method_async(bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe",
                                     on_subscribed, NULL, NULL);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&sc);
        return 0;
}

SystemdClient *systemd_client_free(SystemdClient *sc) {
        if (!sc)
                return NULL;
        sd_bus_slot_unref(sc->match_job_removed);
        sd_bus_slot_unref(sc->match_unit_removed);
        sd_bus_slot_unref(sc->match_properties);
        g_clear_pointer(&sc->jobs, g_hash_table_unref);
        sd_bus_unref(sc->bus);
        g_free(sc);
        return NULL;
}

static int transient_unit_message(SystemdClient *sc, const TransientUnit *u, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        int r;

        if ((r = new_manager_call(sc, "StartTransientUnit", &msg)) < 0 ||
            (r = sd_bus_message_append(msg, "ss", u->name, "fail")) < 0 ||
            (r = sd_bus_message_open_container(msg, 'a', "(sv)")) < 0 ||
            (r = u->build(msg, u->data)) < 0 ||
            (r = sd_bus_message_close_container(msg)) < 0 ||
            (r = sd_bus_message_open_container(msg, 'a', "(sa(sv))")) < 0)
                return r;
        if (u->aux_name &&
            ((r = sd_bus_message_open_container(msg, 'r', "sa(sv)")) < 0 ||
             (r = sd_bus_message_append(msg, "s", u->aux_name)) < 0 ||
             (r = sd_bus_message_open_container(msg, 'a', "(sv)")) < 0 ||
             (r = u->aux_build(msg, u->data)) < 0 ||
             (r = sd_bus_message_close_container(msg)) < 0 ||
             (r = sd_bus_message_close_container(msg)) < 0))
                return r;
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&msg);
        return 0;
}

static void reply_to(PendingCall *c, int r, const sd_bus_error *error) {
        if (c->reply)
                c->reply(r, error, c->userdata);
        else if (r < 0)
                log_warning("PID 1 refused a call about %s: %s", c->unit ?: "a unit", error->message);
}

/* r and an error for a failed reply: PID 1's own, or one for a malformed answer. */
static int reply_error(sd_bus_message *reply, sd_bus_error *error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (!e)
                return 0;
        (void) sd_bus_error_copy(error, e);
        return -sd_bus_error_get_errno(e) ?: -EIO;
}

/* c's job_done (with job_userdata) is called when job ends (JobRemoved). */
static void job_wait_add(PendingCall *c, const char *job) {
        JobWait *w = g_new0(JobWait, 1);

        *w = (JobWait) { .unit = g_strdup(c->unit), .callback = c->job_done, .userdata = c->job_userdata };
        g_hash_table_replace(c->client->jobs, g_strdup(job), w);
}

/* The answer to a call that queues a start job (StartTransientUnit, StartUnit). */
static int on_start_job_queued(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        PendingCall *c = userdata;
        const char *job;
        int r;

        r = reply_error(reply, &error);
        if (r >= 0) {
                r = sd_bus_message_read(reply, "o", &job);
                if (r < 0)
                        sd_bus_error_set_errnof(&error, -r, "Cannot read PID 1's answer: %s", strerror(-r));
        }
        if (r < 0) {
                reply_to(c, r, &error);
                return 0;
        }
        /* PID 1 answers before the job can end, and its messages arrive in order: the
         * JobRemoved of this job comes after this. */
        job_wait_add(c, job);
        reply_to(c, 0, NULL);
        return 0;
}

int systemd_start_transient_unit_async(SystemdClient *sc, const TransientUnit *u, SystemdReplyCallback reply,
                                       void *reply_userdata, JobCallback job_done, void *job_userdata,
                                       sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        PendingCall *c;
        int r;

        r = transient_unit_message(sc, u, &msg);
        if (r < 0)
                return r;
        c = pending_call_new(sc, u->name, reply_userdata);
        c->reply = reply;
        c->job_done = job_done;
        c->job_userdata = job_userdata;
        return call_manager_async(sc, msg, on_start_job_queued, c, ret_slot);
}

static int on_plain_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        PendingCall *c = userdata;

        reply_to(c, reply_error(reply, &error), &error);
        return 0;
}

static int unit_call_async(SystemdClient *sc, const char *method, const char *unit, SystemdReplyCallback reply,
                           void *userdata, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        PendingCall *c;
        int r;

        if ((r = new_manager_call(sc, method, &msg)) < 0 || (r = sd_bus_message_append(msg, "ss", unit, "replace")) < 0)
                return r;
        c = pending_call_new(sc, unit, userdata);
        c->reply = reply;
        return call_manager_async(sc, msg, on_plain_reply, c, ret_slot);
}

int systemd_start_unit_async(SystemdClient *sc, const char *unit, SystemdReplyCallback reply, void *userdata,
                             sd_bus_slot **ret_slot) {
        return unit_call_async(sc, "StartUnit", unit, reply, userdata, ret_slot);
}

int systemd_start_unit_job_async(SystemdClient *sc, const char *unit, SystemdReplyCallback reply,
                                 JobCallback job_done, void *userdata, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        PendingCall *c;
        int r;

        if ((r = new_manager_call(sc, "StartUnit", &msg)) < 0 || (r = sd_bus_message_append(msg, "ss", unit, "replace")) < 0)
                return r;
        c = pending_call_new(sc, unit, userdata);
        c->reply = reply;
        c->job_done = job_done;
        c->job_userdata = userdata;
        return call_manager_async(sc, msg, on_start_job_queued, c, ret_slot);
}

int systemd_stop_unit_async(SystemdClient *sc, const char *unit, SystemdReplyCallback reply, void *userdata,
                            sd_bus_slot **ret_slot) {
        return unit_call_async(sc, "StopUnit", unit, reply, userdata, ret_slot);
}

int systemd_kill_unit_async(SystemdClient *sc, const char *unit, int signo, SystemdReplyCallback reply,
                            void *userdata, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        PendingCall *c;
        int r;

        if ((r = new_manager_call(sc, "KillUnit", &msg)) < 0 ||
            (r = sd_bus_message_append(msg, "ssi", unit, "all", signo)) < 0)
                return r;
        c = pending_call_new(sc, unit, userdata);
        c->reply = reply;
        return call_manager_async(sc, msg, on_plain_reply, c, ret_slot);
}

static int on_quiet_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        return 0; /* a no-op on a unit that may be gone already: errors are expected */
}

static int on_units_listed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autoptr(GHashTable) loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        PendingCall *c = userdata;
        const char *name, *active, *job_type;
        int r;

        r = reply_error(reply, &error);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, &active, NULL, NULL,
                                                  NULL, NULL, &job_type, NULL)) > 0) {
                /* A stop asked for just before (a teardown's) may not have begun yet: the
                 * unit is still active with the stop job queued, and on its way down. */
                bool stopping = strcmp(active, "active") == 0 && strcmp(job_type, "stop") == 0;

                g_hash_table_insert(loaded, g_strdup(name), g_strdup(stopping ? "deactivating" : active));
                if (strcmp(active, "inactive") != 0 && strcmp(active, "failed") != 0)
                        continue;
                /* Down but loaded: have PID 1 collect it. */
                (void) sd_bus_call_method_async(c->client->bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                                "ResetFailedUnit", on_quiet_reply, NULL, "s", name);
                (void) sd_bus_call_method_async(c->client->bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                                "StopUnit", on_quiet_reply, NULL, "ss", name, "replace");
        }
        c->loaded(r < 0 ? r : 0, r < 0 ? NULL : loaded, c->userdata);
        return 0;
}

int systemd_units_loaded_async(SystemdClient *sc, char *const *units, UnitsLoadedCallback callback,
                               void *userdata, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        PendingCall *c;
        int r;

        /* By patterns, not by names: ListUnitsByNames would load the units it is asked
         * about. VM and unit names have no glob characters. */
        if ((r = new_manager_call(sc, "ListUnitsByPatterns", &msg)) < 0 ||
            (r = sd_bus_message_append_strv(msg, NULL)) < 0 ||
            (r = sd_bus_message_append_strv(msg, (char **) units)) < 0)
                return r;
        c = pending_call_new(sc, NULL, userdata);
        c->loaded = callback;
        return call_manager_async(sc, msg, on_units_listed, c, ret_slot);
}

static int get_property(SystemdClient *sc, const char *path, const char *interface, const char *name,
                        const char *type, void *ret) {
        return sd_bus_get_property_trivial(sc->bus, SYSTEMD_SERVICE, path, interface, name, NULL, type[0], ret);
}

int systemd_get_unit_status(SystemdClient *sc, const char *unit, UnitStatus *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *state = NULL, *result = NULL;
        UnitStatus s = {};
        const char *path;
        char **env = NULL;
        int r;

        r = sd_bus_call_method(sc->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit", &error,
                               &reply, "s", unit);
        if (r < 0)
                return sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ? -ENOENT : r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;

        r = sd_bus_get_property_string(sc->bus, SYSTEMD_SERVICE, path, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", NULL, &state);
        if (r < 0)
                return r;
        (void) sd_bus_get_property_string(sc->bus, SYSTEMD_SERVICE, path, "org.freedesktop.systemd1.Service",
                                          "Result", NULL, &result);
        (void) get_property(sc, path, "org.freedesktop.systemd1.Service", "MainPID", "u", &s.main_pid);
        (void) get_property(sc, path, "org.freedesktop.systemd1.Service", "ExecMainCode", "i", &s.exec_main_code);
        (void) get_property(sc, path, "org.freedesktop.systemd1.Service", "ExecMainStatus", "i",
                            &s.exec_main_status);
        (void) get_property(sc, path, "org.freedesktop.systemd1.Unit", "ActiveEnterTimestamp", "t",
                            &s.active_enter_usec);
        (void) sd_bus_get_property_strv(sc->bus, SYSTEMD_SERVICE, path, "org.freedesktop.systemd1.Service",
                                        "Environment", NULL, &env);

        /* sd-bus allocates with malloc; the struct holds GLib allocations. */
        s.active_state = g_strdup(state);
        s.result = g_strdup(result);
        if (env) {
                s.environment = g_strdupv(env);
                for (char **e = env; *e; e++)
                        free(*e);
                free(env);
        }
        *ret = s;
        return 0;
}

int systemd_list_our_units(SystemdClient *sc, GHashTable **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GHashTable) units = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        const char *name;
        int r;

        r = sd_bus_call_method(sc->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "ListUnitsByPatterns",
                               &error, &reply, "asas", 0, 1, OUR_UNIT_PREFIX "*");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                        NULL, NULL)) > 0)
                g_hash_table_add(units, g_strdup(name));
        if (r < 0)
                return r;
        *ret = g_steal_pointer(&units);
        return 0;
}

void systemd_forget_jobs(SystemdClient *sc, void *userdata) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, sc->jobs);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (((JobWait *) value)->userdata == userdata)
                        ((JobWait *) value)->callback = NULL;
}

int unit_property_string(sd_bus_message *msg, const char *name, const char *value) {
        return sd_bus_message_append(msg, "(sv)", name, "s", value);
}

int unit_property_bool(sd_bus_message *msg, const char *name, bool value) {
        return sd_bus_message_append(msg, "(sv)", name, "b", (int) value);
}

int unit_property_u64(sd_bus_message *msg, const char *name, uint64_t value) {
        return sd_bus_message_append(msg, "(sv)", name, "t", value);
}

int unit_property_strv(sd_bus_message *msg, const char *name, char *const *values) {
        int r;

        r = sd_bus_message_open_container(msg, 'r', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'v', "as");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(msg, (char **) values);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(msg);
}

int unit_property_exec(sd_bus_message *msg, const char *name, char *const *argv) {
        int r;

        r = sd_bus_message_open_container(msg, 'r', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'v', "a(sasb)");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'a', "(sasb)");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'r', "sasb");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "s", argv[0]);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(msg, (char **) argv);
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "b", 0);
        if (r < 0)
                return r;
        for (int i = 0; i < 4; i++) {
                r = sd_bus_message_close_container(msg);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int on_slice_limits_set(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_warning("Cannot set the limits of the VMs' slice: %s", e->message);
        return 0;
}

int systemd_set_slice_limits(SystemdClient *sc, const char *slice, uint64_t memory_max, uint64_t cpu_weight) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        int r;

        r = new_manager_call(sc, "SetUnitProperties", &msg);
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "sba(sv)", slice, 1, 2, "MemoryMax", "t", memory_max, "CPUWeight", "t",
                                  cpu_weight);
        if (r < 0)
                return r;
        return sd_bus_call_async(sc->bus, NULL, msg, on_slice_limits_set, NULL, 0);
}
