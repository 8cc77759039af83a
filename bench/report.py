#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints bench/run's table and the issue's targets from its JSON, and adds the
summaries ("figures") and the targets ("targets") to the JSON file.

    bench/report.py RESULTS.json [--markdown]
"""
import json
import statistics
import sys


def fmt_time(v):
    if v is None:
        return "-"
    if v < 0.001:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.1f} ms"
    return f"{v:.2f} s"


def fmt_bytes(v):
    return f"{v / 1048576:.1f} MiB"


class Report:
    def __init__(self, data):
        self.data = data
        self.s = data["samples"]
        self.figures = {}

    def stat(self, key):
        v = self.s.get(key)
        if not v:
            return None
        st = {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
        self.figures[key] = st
        return st

    def med(self, key):
        st = self.stat(key)
        return st["median"] if st else None

    def cell(self, key, fmt=fmt_time):
        st = self.stat(key)
        if not st:
            return "-"
        if st["n"] == 1:
            return fmt(st["median"])
        return f"{fmt(st['median'])} ({fmt(st['min'])}–{fmt(st['max'])}, n={st['n']})"


def main():
    path = sys.argv[1]
    markdown = "--markdown" in sys.argv
    with open(path) as f:
        data = json.load(f)
    r = Report(data)
    meta = data["meta"]
    sizes = meta.get("parallel", [])
    counts = meta.get("scale", [])
    kmax = max(sizes) if sizes else None
    nmin = min(counts) if counts else None
    nmax = max(counts) if counts else None

    # What a start cannot beat with the sandbox the hypervisor's unit must have.
    q_up, sb_unit = r.med("floor_qemu_up"), r.med("floor_sandboxed_unit")
    sandboxed_floor = fmt_time(q_up + sb_unit) if q_up is not None and sb_unit is not None else "?"
    rows = [
        ("create (microvm-client create, new process)", r.cell("create"), "", ""),
        ("start returns, hypervisor up", r.cell("start"), r.cell("libvirt_start"),
         f"QEMU itself up: {r.cell('floor_qemu_up')} (its QMP greets: {r.cell('floor_qemu_greeting')}); "
         f"a transient unit: {r.cell('floor_transient_unit')}; with the hypervisor's sandbox: "
         f"{r.cell('floor_sandboxed_unit')}; QEMU itself up + the sandboxed unit: {sandboxed_floor}"),
        ("start to Ready", r.cell("start_to_ready"), "", ""),
        ("start to the guest's SSH greeting", r.cell("start_to_ssh_greeting"),
         r.cell("libvirt_start_to_ssh_greeting"), ""),
        ("start to the first successful microvm-client ssh NAME true", r.cell("start_to_ssh"), "", ""),
        ("graceful stop of a booted guest", r.cell("stop_booted"), r.cell("libvirt_stop_booted"), ""),
        ("stop right after start (guest still booting)", r.cell("stop_booting"), "", ""),
        ("restart (call returns, hypervisor up again)", r.cell("restart"), "", ""),
        ("restart to Ready", r.cell("restart_to_ready"), "", ""),
    ]
    cores = meta.get("machine", {}).get("cores")
    one_cpu = r.med("parallel1_cpu")
    for k in sizes:
        # What k starts need of the machine's CPUs, at the least: k times what one took
        # (microvmd, PID 1 with the sandboxes, dbus-daemon, QEMU) spread over every core.
        floor = ""
        if one_cpu is not None and cores and k > 1:
            floor = f"CPU-bound: {k} × one start's CPU ÷ {cores} cores = {fmt_time(k * one_cpu / cores)}"
        rows.append((f"{k} VM{'s' if k > 1 else ''} started at once: all up / all Ready / CPU used until all up "
                     "(all cores)",
                     f"{r.cell(f'parallel{k}_up')} / {r.cell(f'parallel{k}_ready')} / {r.cell(f'parallel{k}_cpu')}",
                     "", floor))
    rows.append(("ListVMs idle: new process / in-process",
                 f"{r.cell('listvms_idle_newprocess')} / {r.cell('listvms_idle_inprocess')}", "", ""))
    if r.s.get("listvms_idleloop_newprocess"):
        rows.append(("ListVMs idle, measured as during the starts (the same loop for 1.5 s, nothing else "
                     "happening): new process / in-process",
                     f"{r.cell('listvms_idleloop_newprocess')} / {r.cell('listvms_idleloop_inprocess')}", "", ""))
    for k in sizes:
        rows.append((f"ListVMs while {k} VM{'s' if k > 1 else ''} start: new process / in-process",
                     f"{r.cell(f'listvms_parallel{k}_newprocess')} / {r.cell(f'listvms_parallel{k}_inprocess')}",
                     "", ""))
    rows.append(("ListVMs while a hung hypervisor starts and stops: new process / in-process",
                 f"{r.cell('listvms_hung_newprocess')} / {r.cell('listvms_hung_inprocess')}", "", ""))
    rows.append(("the hung VM: start / stop", f"{r.cell('hung_start')} / {r.cell('hung_stop')}", "", ""))
    rows.append(("the hung VM that also ignores SIGTERM: stop", r.cell("hung_hard_stop"), "", ""))
    for n in counts:
        rows += [
            (f"{n} VMs defined: daemon start-up to first answer", r.cell(f"daemon_startup_{n}"), "", ""),
            (f"{n} VMs: ListVMs, new process / in-process",
             f"{r.cell(f'listvms_{n}_newprocess')} / {r.cell(f'listvms_{n}_inprocess')}", "", ""),
            (f"{n} VMs: GetManagedObjects, new process / in-process",
             f"{r.cell(f'getmanagedobjects_{n}_newprocess')} / {r.cell(f'getmanagedobjects_{n}_inprocess')}",
             "", ""),
            (f"{n} VMs: microvm-client list", r.cell(f"client_list_{n}"), "", ""),
            (f"{n} VMs: daemon RSS (VmRSS)", r.cell(f"daemon_rss_{n}", fmt_bytes), "", ""),
        ]

    # The targets; each (text, measured, limit, met) with medians unless said.
    targets = []

    def target(text, measured, limit, shown=None):
        if measured is None or limit is None:
            targets.append({"target": text, "measured": None, "limit": limit, "met": None, "shown": "not measured"})
            return
        targets.append({"target": text, "measured": measured, "limit": limit, "met": measured <= limit,
                        "shown": shown or f"{fmt_time(measured)} vs {fmt_time(limit)}"})

    start, qemu, unit, vstart = r.med("start"), r.med("floor_qemu_up"), r.med("floor_transient_unit"), \
        r.med("libvirt_start")
    target("start ≤ QEMU's own start-up + 1.5 × the transient-unit floor", start,
           qemu + 1.5 * unit if qemu is not None and unit is not None else None)
    target("start ≤ 0.3 × virsh start", start, 0.3 * vstart if vstart else None)
    g, vg = r.med("start_to_ssh_greeting"), r.med("libvirt_start_to_ssh_greeting")
    target("start to SSH greeting ≤ 0.9 × libvirt's", g, 0.9 * vg if vg else None)
    stops = [x for k in ("stop_booted", "stop_booting", "hung_stop", "hung_hard_stop") for x in r.s.get(k, [])]
    target("every stop ≤ 2 s (the slowest of booted, still booting, hung, hung ignoring SIGTERM)", max(stops) if stops else None, 2.0)
    # Idle as measured by the same loop as the "during" figures (older results: the calls
    # one after the other).
    idle = r.med("listvms_idleloop_newprocess") or r.med("listvms_idle_newprocess")
    if kmax:
        target(f"ListVMs during {kmax} parallel starts ≤ 1.2 × idle (new process, medians, same loop)",
               r.med(f"listvms_parallel{kmax}_newprocess"), 1.2 * idle if idle else None)
    target("ListVMs while a hypervisor hangs ≤ 1.2 × idle (new process, medians, same loop)",
           r.med("listvms_hung_newprocess"), 1.2 * idle if idle else None)
    if kmax and 1 in sizes:
        one = r.med("parallel1_up")
        target(f"{kmax} parallel starts ≤ 2 × one start (all up)", r.med(f"parallel{kmax}_up"),
               2 * one if one else None)
    if nmax:
        target(f"{nmax} VMs defined: daemon start-up to first answer ≤ 300 ms", r.med(f"daemon_startup_{nmax}"), 0.3)
        l10 = r.med(f"listvms_{nmin}_newprocess")
        target(f"{nmax} VMs defined: ListVMs ≤ 2 × with {nmin} (new process)", r.med(f"listvms_{nmax}_newprocess"),
               2 * l10 if l10 else None)
        rss = r.med(f"daemon_rss_{nmax}")
        target(f"{nmax} VMs defined: RSS ≤ 32 MB", rss, 32e6,
               shown=f"{fmt_bytes(rss)} vs {fmt_bytes(32e6)}" if rss else None)

    m = meta.get("machine", {})
    header = (f"{m.get('date', '?')}: {m.get('cores', '?')} cores ({m.get('cpu', '?')}), "
              f"{m.get('memory_mib', 0) / 1024:.0f} GiB, kernel {m.get('kernel', '?')}; "
              f"QEMU with -accel {meta.get('accel', '?')} ({meta.get('qemu', '?')}), libvirt {meta.get('libvirt', '?')}; "
              f"{meta.get('runs', '?')} run(s) of each{', --quick' if meta.get('quick') else ''}; "
              f"bench took {meta.get('duration_s', '?')} s")
    print(header)
    print()
    if markdown:
        print("| what | microvmd | libvirt 9.0 (`virsh`) | floor |")
        print("|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()
        print("| target | measured vs limit | |")
        print("|---|---|---|")
        for t in targets:
            mark = "met" if t["met"] else ("missed" if t["met"] is False else "?")
            print(f"| {t['target']} | {t['shown']} | {mark} |")
    else:
        w = max(len(x[0]) for x in rows)
        print(f"{'what':<{w}}  microvmd  [libvirt]  [floor]")
        for what, mv, lv, fl in rows:
            line = f"{what:<{w}}  {mv}"
            if lv:
                line += f"   [libvirt: {lv}]"
            if fl:
                line += f"   [floor: {fl}]"
            print(line)
        print()
        print("targets (issue 10):")
        for t in targets:
            mark = "MET   " if t["met"] else ("MISSED" if t["met"] is False else "??    ")
            print(f"  {mark} {t['target']}: {t['shown']}")
    if data.get("notes"):
        print()
        print("notes:")
        for n in data["notes"]:
            print(f"  - {n}")

    data["figures"] = r.figures
    data["targets"] = targets
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


if __name__ == "__main__":
    main()
