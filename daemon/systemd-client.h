/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* A client of PID 1's D-Bus API (org.freedesktop.systemd1): transient units for the
 * hypervisors and their virtiofsd, and the signals that follow them. */

/* What microvmd needs to know about a unit. */
typedef struct UnitStatus {
        char *active_state;   /* "active", "activating", "inactive", "failed", ... */
        char *result;         /* the service's Result: "success", "signal", "exit-code", ... */
        uint32_t main_pid;
        int32_t exec_main_code; /* CLD_EXITED, CLD_KILLED, ... */
        int32_t exec_main_status;
        uint64_t active_enter_usec; /* CLOCK_REALTIME */
        char **environment;   /* the unit's Environment= */

        /* In a change notification: which of the above the signal carried. */
        bool has_main_pid;
        bool has_exec_main;
        bool removed;         /* UnitRemoved, and the unit is really gone or down (not a reload) */
} UnitStatus;

void unit_status_clear(UnitStatus *s);

/* Called when a job we started ends; result as in JobRemoved ("done", "failed",
 * "dependency", "timeout", "canceled", "skipped"). */
typedef void (*JobCallback)(Manager *m, const char *unit, const char *result, void *userdata);

/* Called when PID 1 reports changes of one of our units (microvm-*.service): the
 * fields the signal carried are set (see the has_ flags; NULL strings were absent). */
typedef void (*UnitChangedCallback)(Manager *m, const char *unit, const UnitStatus *changes);

/* Subscribes to PID 1's signals and installs the matches. */
int systemd_client_start(Manager *m, UnitChangedCallback on_unit_changed);

/* Appends the a(sv) properties of a transient unit to msg. */
typedef int (*UnitPropertiesBuilder)(sd_bus_message *msg, void *data);

/* Creates and starts a transient service; callback (may be NULL) when its start job
 * ends. Fails (with error set) if PID 1 refuses the unit, e.g. one of that name exists. */
int systemd_start_transient_unit(Manager *m, const char *unit, UnitPropertiesBuilder build, void *data,
                                 JobCallback callback, void *userdata, sd_bus_error *error);

/* The same with an auxiliary unit created in the same call (a socket's service). */
int systemd_start_transient_unit_with_aux(Manager *m, const char *unit, UnitPropertiesBuilder build,
                                          const char *aux_unit, UnitPropertiesBuilder aux_build, void *data,
                                          JobCallback callback, void *userdata, sd_bus_error *error);

int systemd_stop_unit(Manager *m, const char *unit, sd_bus_error *error);
int systemd_kill_unit(Manager *m, const char *unit, int signo, sd_bus_error *error);

/* Waits (briefly, blocking) until a unit of that name is no longer loaded, so a new
 * transient unit of the same name can be created: a stopped unit lingers until PID 1
 * collects it. -EBUSY if it is still running, -ETIMEDOUT if it does not go. */
int systemd_wait_unit_gone(Manager *m, const char *unit, uint64_t timeout_usec);

/* Reads a loaded unit's status; -ENOENT when it is not loaded. */
int systemd_get_unit_status(Manager *m, const char *unit, UnitStatus *ret);

/* The names of our units PID 1 has loaded (microvm-*, services and sockets), in one call
 * (ListUnitsByPatterns): *ret is a set of names. */
int systemd_list_our_units(Manager *m, GHashTable **ret);

/* Frees an entry of Manager.jobs. */
void systemd_job_wait_free(void *p);

/* Forgets pending job callbacks whose userdata is userdata (its owner goes away). */
void systemd_forget_jobs(Manager *m, void *userdata);

/* sd_bus_message_append() helpers for unit properties. */
/* Sets MemoryMax= (bytes; UINT64_MAX: none) and CPUWeight= of a slice for this boot,
 * asynchronously; a failure is logged. */
int systemd_set_slice_limits(Manager *m, const char *slice, uint64_t memory_max, uint64_t cpu_weight);

int unit_property_string(sd_bus_message *msg, const char *name, const char *value);
int unit_property_bool(sd_bus_message *msg, const char *name, bool value);
int unit_property_u64(sd_bus_message *msg, const char *name, uint64_t value);
int unit_property_strv(sd_bus_message *msg, const char *name, char *const *values);
int unit_property_exec(sd_bus_message *msg, const char *name, char *const *argv);
