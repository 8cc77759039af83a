/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "systemd-client.h"
#include "log.h"
#include "manager.h"
#include "mvm-macro.h"

#include <glib.h>
#include <stdarg.h>
#include <string.h>

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"
#define OUR_UNIT_PREFIX "microvm-"

typedef struct JobWait {
        char *unit;
        JobCallback callback;
        void *userdata;
} JobWait;

void systemd_job_wait_free(void *p) {
        JobWait *w = p;

        g_free(w->unit);
        g_free(w);
}

static UnitChangedCallback unit_changed_callback;

void unit_status_clear(UnitStatus *s) {
        g_clear_pointer(&s->active_state, g_free);
        g_clear_pointer(&s->result, g_free);
        g_clear_pointer(&s->environment, g_strfreev);
}

static bool is_our_unit(const char *unit) {
        return unit && g_str_has_prefix(unit, OUR_UNIT_PREFIX) && g_str_has_suffix(unit, ".service");
}

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *job, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result);
        if (r < 0)
                return 0;
        g_autofree char *key = NULL;
        JobWait *w;

        if (!g_hash_table_steal_extended(m->jobs, job, (gpointer *) &key, (gpointer *) &w))
                return 0;
        if (w->callback)
                w->callback(m, unit, result, w->userdata);
        systemd_job_wait_free(w);
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
        Manager *m = userdata;
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
                unit_changed_callback(m, unit, &changes);
        unit_status_clear(&changes);
        return 0;
}

/* UnitRemoved, checked without blocking: PID 1 announces every unit as removed when it
 * reloads, then loads it again. Only a unit that is really gone (NoSuchUnit) or no
 * longer running is reported, from the answers of GetUnit and then of ActiveState. */
typedef struct RemovedCheck {
        Manager *manager;
        char *unit;
} RemovedCheck;

static void removed_check_free(void *p) {
        RemovedCheck *c = p;

        g_free(c->unit);
        g_free(c);
}

static void report_removed(RemovedCheck *c) {
        UnitStatus changes = { .removed = true };

        unit_changed_callback(c->manager, c->unit, &changes);
}

static int call_async_owned(Manager *m, const char *path, const char *interface, const char *method,
                            sd_bus_message_handler_t callback, RemovedCheck *c, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        sd_bus_slot *slot = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, SYSTEMD_SERVICE, path, interface, method);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(msg, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = sd_bus_call_async(m->bus, &slot, msg, callback, c, 0);
        if (r < 0)
                return r;
        /* The slot owns the check from here on, and the bus owns the slot (floating): both
         * go when the reply came or the bus is closed. */
        (void) sd_bus_slot_set_destroy_callback(slot, removed_check_free);
        (void) sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
        return 0;
}

static int on_removed_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        RemovedCheck *c = userdata;
        const char *state = NULL;

        /* An error: the unit went away in between. */
        if (sd_bus_message_is_method_error(reply, NULL) ||
            sd_bus_message_read(reply, "v", "s", &state) < 0 || g_strcmp0(state, "inactive") == 0 ||
            g_strcmp0(state, "failed") == 0)
                report_removed(c);
        return 0;
}

static int on_removed_unit_path(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        RemovedCheck *c = userdata, *next;
        const char *path;

        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "o", &path) < 0) {
                report_removed(c);
                return 0;
        }
        next = g_new0(RemovedCheck, 1);
        *next = (RemovedCheck) { .manager = c->manager, .unit = g_strdup(c->unit) };
        if (call_async_owned(c->manager, path, "org.freedesktop.DBus.Properties", "Get", on_removed_state, next,
                             "ss", "org.freedesktop.systemd1.Unit", "ActiveState") < 0) {
                removed_check_free(next);
                report_removed(c);
        }
        return 0;
}

static int on_unit_removed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *unit, *path;
        RemovedCheck *c;

        if (sd_bus_message_read(msg, "so", &unit, &path) < 0 || !is_our_unit(unit))
                return 0;
        c = g_new0(RemovedCheck, 1);
        *c = (RemovedCheck) { .manager = m, .unit = g_strdup(unit) };
        if (call_async_owned(m, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit", on_removed_unit_path, c, "s", unit) < 0) {
                removed_check_free(c);
                log_warning("Cannot ask PID 1 about the removed unit %s.", unit);
        }
        return 0;
}

int systemd_client_start(Manager *m, UnitChangedCallback on_unit_changed) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        unit_changed_callback = on_unit_changed;
        r = sd_bus_match_signal(m->bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                                on_job_removed, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal(m->bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "UnitRemoved",
                                on_unit_removed, m);
        if (r < 0)
                return r;
        r = sd_bus_add_match(m->bus, NULL,
                             "type='signal',sender='" SYSTEMD_SERVICE "',"
                             "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                             "path_namespace='" SYSTEMD_UNIT_PREFIX "'",
                             on_unit_properties_changed, m);
        if (r < 0)
                return r;
        /* Without Subscribe() PID 1 sends no signals at all. */
        r = sd_bus_call_method(m->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", &error,
                               NULL, NULL);
        if (r < 0) {
                log_error("Cannot subscribe to systemd's signals: %s", error.message ?: strerror(-r));
                return r;
        }
        return 0;
}

int systemd_start_transient_unit(Manager *m, const char *unit, UnitPropertiesBuilder build, void *data,
                                 JobCallback callback, void *userdata, sd_bus_error *error) {
        return systemd_start_transient_unit_with_aux(m, unit, build, NULL, NULL, data, callback, userdata, error);
}

int systemd_start_transient_unit_with_aux(Manager *m, const char *unit, UnitPropertiesBuilder build,
                                          const char *aux_unit, UnitPropertiesBuilder aux_build, void *data,
                                          JobCallback callback, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
        const char *job;
        JobWait *w;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                           "StartTransientUnit");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "ss", unit, "fail");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'a', "(sv)");
        if (r < 0)
                return r;
        r = build(msg, data);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(msg, 'a', "(sa(sv))");
        if (r < 0)
                return r;
        if (aux_unit) {
                r = sd_bus_message_open_container(msg, 'r', "sa(sv)");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(msg, "s", aux_unit);
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(msg, 'a', "(sv)");
                if (r < 0)
                        return r;
                r = aux_build(msg, data);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(msg);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(msg);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(msg);
        if (r < 0)
                return r;

        /* The JobRemoved match is in place already; a signal that arrives while we wait
         * for the reply is queued and dispatched after the job is registered below. */
        r = sd_bus_call(m->bus, msg, 0, error, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return r;

        w = g_new0(JobWait, 1);
        w->unit = g_strdup(unit);
        w->callback = callback;
        w->userdata = userdata;
        g_hash_table_replace(m->jobs, g_strdup(job), w);
        return 0;
}

int systemd_stop_unit(Manager *m, const char *unit, sd_bus_error *error) {
        return sd_bus_call_method(m->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "StopUnit", error,
                                  NULL, "ss", unit, "replace");
}

int systemd_kill_unit(Manager *m, const char *unit, int signo, sd_bus_error *error) {
        return sd_bus_call_method(m->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "KillUnit", error,
                                  NULL, "ssi", unit, "all", signo);
}

static int get_property(Manager *m, const char *path, const char *interface, const char *name,
                        const char *type, void *ret) {
        return sd_bus_get_property_trivial(m->bus, SYSTEMD_SERVICE, path, interface, name, NULL, type[0], ret);
}

int systemd_get_unit_status(Manager *m, const char *unit, UnitStatus *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *state = NULL, *result = NULL;
        UnitStatus s = {};
        const char *path;
        char **env = NULL;
        int r;

        r = sd_bus_call_method(m->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit", &error,
                               &reply, "s", unit);
        if (r < 0)
                return sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ? -ENOENT : r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;

        r = sd_bus_get_property_string(m->bus, SYSTEMD_SERVICE, path, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", NULL, &state);
        if (r < 0)
                return r;
        (void) sd_bus_get_property_string(m->bus, SYSTEMD_SERVICE, path, "org.freedesktop.systemd1.Service",
                                          "Result", NULL, &result);
        (void) get_property(m, path, "org.freedesktop.systemd1.Service", "MainPID", "u", &s.main_pid);
        (void) get_property(m, path, "org.freedesktop.systemd1.Service", "ExecMainCode", "i", &s.exec_main_code);
        (void) get_property(m, path, "org.freedesktop.systemd1.Service", "ExecMainStatus", "i",
                            &s.exec_main_status);
        (void) get_property(m, path, "org.freedesktop.systemd1.Unit", "ActiveEnterTimestamp", "t",
                            &s.active_enter_usec);
        (void) sd_bus_get_property_strv(m->bus, SYSTEMD_SERVICE, path, "org.freedesktop.systemd1.Service",
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

int systemd_list_our_units(Manager *m, GHashTable **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GHashTable) units = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        const char *name;
        int r;

        r = sd_bus_call_method(m->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "ListUnitsByPatterns",
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

int systemd_wait_unit_gone(Manager *m, const char *unit, uint64_t timeout_usec) {
        uint64_t deadline = (uint64_t) g_get_monotonic_time() + timeout_usec;

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                UnitStatus st = {};
                bool down;
                int r;

                r = systemd_get_unit_status(m, unit, &st);
                if (r == -ENOENT)
                        return 0;
                down = r >= 0 && (g_strcmp0(st.active_state, "inactive") == 0 ||
                                  g_strcmp0(st.active_state, "failed") == 0);
                /* Still stopping is worth waiting for; running is not. */
                if (r >= 0 && !down && g_strcmp0(st.active_state, "deactivating") != 0) {
                        unit_status_clear(&st);
                        return -EBUSY;
                }
                unit_status_clear(&st);
                /* A failed unit is only collected once its failure is forgotten, and an
                 * inactive one only once something (here: a no-op stop job) puts it on
                 * PID 1's collection queue, which a reload does not. */
                (void) sd_bus_call_method(m->bus, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER, "ResetFailedUnit",
                                          &error, NULL, "s", unit);
                sd_bus_error_free(&error);
                (void) systemd_stop_unit(m, unit, &error);
                if ((uint64_t) g_get_monotonic_time() >= deadline)
                        return -ETIMEDOUT;
                g_usleep(50 * 1000);
        }
}

void systemd_forget_jobs(Manager *m, void *userdata) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->jobs);
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

int systemd_set_slice_limits(Manager *m, const char *slice, uint64_t memory_max, uint64_t cpu_weight) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &msg, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                           "SetUnitProperties");
        if (r < 0)
                return r;
        r = sd_bus_message_append(msg, "sba(sv)", slice, 1, 2, "MemoryMax", "t", memory_max, "CPUWeight", "t",
                                  cpu_weight);
        if (r < 0)
                return r;
        return sd_bus_call_async(m->bus, NULL, msg, on_slice_limits_set, NULL, 0);
}
