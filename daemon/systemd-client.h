/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-bus.h>

/* A client of PID 1's D-Bus API (org.freedesktop.systemd1): transient units for the
 * hypervisors and their virtiofsd, and the signals that follow them. A lower layer: it
 * knows units and jobs, not VMs. Every call during operation is asynchronous (PID 1 may
 * take its time under load; microvmd keeps answering meanwhile); only the start-up
 * reconcile reads unit states synchronously, before microvmd takes its bus name. */

typedef struct SystemdClient SystemdClient;

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

/* PID 1 reports changes of one of our services (microvm-*.service): the fields the
 * signal carried are set (see the has_ flags; NULL strings were absent). */
typedef void (*UnitChangedCallback)(const char *unit, const UnitStatus *changes, void *userdata);

/* A job we started ended; result as in JobRemoved ("done", "failed", "dependency",
 * "timeout", "canceled", "skipped"). */
typedef void (*JobCallback)(const char *unit, const char *result, void *userdata);

/* A call's answer: r >= 0, or r < 0 with error set (PID 1's error, or the transport's). */
typedef void (*SystemdReplyCallback)(int r, const sd_bus_error *error, void *userdata);

/* Subscribes to PID 1's signals on bus and installs the matches. */
int systemd_client_new(sd_bus *bus, UnitChangedCallback on_unit_changed, void *userdata, SystemdClient **ret);
SystemdClient *systemd_client_free(SystemdClient *sc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SystemdClient, systemd_client_free)

/* Appends the a(sv) properties of a transient unit to msg. */
typedef int (*UnitPropertiesBuilder)(sd_bus_message *msg, void *data);

/* A transient unit to create: a service, or a socket with its service as the auxiliary
 * unit (created in the same call). */
typedef struct TransientUnit {
        const char *name;
        UnitPropertiesBuilder build;
        const char *aux_name;          /* or NULL */
        UnitPropertiesBuilder aux_build;
        void *data;
} TransientUnit;

/* Creates and starts the transient unit u: its builders run now (data need not live
 * longer than this call). reply (with reply_userdata) is called with PID 1's answer;
 * once it accepted the unit, job_done (may be NULL; with job_userdata) follows when the
 * start job ends. Calls sent one after the other reach PID 1 in that order. *ret_slot
 * (may be NULL: floating) owns the pending reply: unref it to forget the call. */
int systemd_start_transient_unit_async(SystemdClient *sc, const TransientUnit *u, SystemdReplyCallback reply,
                                       void *reply_userdata, JobCallback job_done, void *job_userdata,
                                       sd_bus_slot **ret_slot);

/* StartUnit / StopUnit / KillUnit(who=all), asynchronously; reply may be NULL (failures
 * are then logged). */
int systemd_start_unit_async(SystemdClient *sc, const char *unit, SystemdReplyCallback reply, void *userdata,
                             sd_bus_slot **ret_slot);
int systemd_stop_unit_async(SystemdClient *sc, const char *unit, SystemdReplyCallback reply, void *userdata,
                            sd_bus_slot **ret_slot);
/* StartUnit(mode replace) whose job is followed: reply gets PID 1's answer; once it
 * queued the job, job_done follows when the job ends. Both get userdata. */
int systemd_start_unit_job_async(SystemdClient *sc, const char *unit, SystemdReplyCallback reply,
                                 JobCallback job_done, void *userdata, sd_bus_slot **ret_slot);
int systemd_kill_unit_async(SystemdClient *sc, const char *unit, int signo, SystemdReplyCallback reply,
                            void *userdata, sd_bus_slot **ret_slot);

/* Which of units PID 1 still has loaded, asynchronously and without loading any:
 * callback gets r < 0 on failure, else a set (name → ActiveState) of the loaded ones
 * (an active unit with a stop job queued is "deactivating").
 * Loaded units that are down get a reset-failed and a no-op stop on the way, so that
 * PID 1 collects them (an inactive unit is only collected once something puts it on its
 * collection queue; a failed one only once its failure is forgotten). */
typedef void (*UnitsLoadedCallback)(int r, GHashTable *loaded, void *userdata);
int systemd_units_loaded_async(SystemdClient *sc, char *const *units, UnitsLoadedCallback callback,
                               void *userdata, sd_bus_slot **ret_slot);


/* Reads a loaded unit's status, blocking (the start-up reconcile only); -ENOENT when it
 * is not loaded. */
int systemd_get_unit_status(SystemdClient *sc, const char *unit, UnitStatus *ret);

/* The names of our units PID 1 has loaded (microvm-*, services and sockets), in one
 * blocking call (the start-up reconcile only): *ret is a set of names. */
int systemd_list_our_units(SystemdClient *sc, GHashTable **ret);

/* Forgets pending job callbacks whose userdata is userdata (its owner goes away). */
void systemd_forget_jobs(SystemdClient *sc, void *userdata);

/* Sets MemoryMax= (bytes; UINT64_MAX: none) and CPUWeight= of a slice for this boot,
 * asynchronously; a failure is logged. */
int systemd_set_slice_limits(SystemdClient *sc, const char *slice, uint64_t memory_max, uint64_t cpu_weight);

/* sd_bus_message_append() helpers for unit properties. */
int unit_property_string(sd_bus_message *msg, const char *name, const char *value);
int unit_property_bool(sd_bus_message *msg, const char *name, bool value);
int unit_property_u64(sd_bus_message *msg, const char *name, uint64_t value);
int unit_property_strv(sd_bus_message *msg, const char *name, char *const *values);
int unit_property_exec(sd_bus_message *msg, const char *name, char *const *argv);
