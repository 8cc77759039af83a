/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "firewall.h"
#include "network.h"

/* The network's calls to the kernel, made in one worker thread in the order they were
 * asked for, so that a tap or a table going (tens of milliseconds of RCU grace periods)
 * never holds up the event loop, and a start queued after a stop finds the network as
 * that stop left it. The answers come back on the event loop. */
typedef struct NetworkWorker NetworkWorker;
typedef struct NetworkJob NetworkJob;

/* r < 0 with error set, or 0. */
typedef void (*NetworkJobDone)(int r, const sd_bus_error *error, void *userdata);

/* The worker thread uses network (which must outlive it) and nothing else of the caller's. */
int network_worker_new(Network *network, sd_event *event, NetworkWorker **ret);
/* Waits until the jobs queued ran; later jobs run at once, in the caller's thread (for
 * the exit, when nothing waits on the loop). Their answers stay until the worker is freed. */
void network_worker_drain(NetworkWorker *w);
/* Drains it and drops the answers not yet delivered (a tap made for them is removed). */
NetworkWorker *network_worker_free(NetworkWorker *w);

/* A VM's network: the bridge and tables if they are not up (then the rules of the VMs in
 * running, which were lost with the old tables, again), its tap owned by owner, its
 * rules, and the neighbour entries of vm and of running pinned again. The strings are
 * copied. done is called on the event loop unless the job is cancelled first. */
NetworkJob *network_worker_vm_up(NetworkWorker *w, uid_t owner, const FirewallVm *vm, const FirewallVm *running,
                                 size_t n_running, NetworkJobDone done, void *userdata);

/* Removes a VM's rules and tap, then the network when release (no other VM runs). */
void network_worker_vm_down(NetworkWorker *w, const char *tap, const char *ip, bool release);

/* Nobody takes the job's answer: a tap it made is removed again. Only before done was
 * called: the job is gone then. */
void network_job_cancel(NetworkJob *job);
