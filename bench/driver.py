#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The measurements of bench/run. Runs inside the booted container as root, with
microvmd installed and the user alice (group microvm, an SSH key) set up; writes every
sample to a JSON file. Never run it on a machine itself: it restarts microvmd, rewrites
its configuration and moves its VM definitions around.

Every figure is in seconds. "New process" figures time a whole client process (what a
script calling busctl pays); "in-process" ones time one call on an open connection
(bench/busbench.c)."""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

BUS = "org.microvm.Manager"
MPATH = "/org/microvm/Manager"
MIFACE = "org.microvm.Manager"
VMIFACE = "org.microvm.Manager.VM"
STATE = "/var/lib/microvm"
CONF = "/etc/microvm/microvmd.conf"
LIBDIR = os.path.dirname(os.path.abspath(__file__))
BUSBENCH = os.path.join(LIBDIR, "busbench")
HANG_QEMU = os.path.join(LIBDIR, "hang-qemu")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USER_ENV = {"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice", "PATH": PATH, "LANG": "C.UTF-8"}
ROOT_ENV = {"HOME": "/root", "PATH": PATH, "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
BOOT_TIMEOUT = 300      # start -> SSH under TCG, with other VMs around: generous
CALL_TIMEOUT = 600

RESULTS = {"samples": {}, "notes": [], "meta": {}}


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def note(msg):
    log("NOTE: " + msg)
    RESULTS["notes"].append(msg)


def add(key, value):
    RESULTS["samples"].setdefault(key, []).append(round(value, 6))


def run(cmd, user=False, timeout=CALL_TIMEOUT, check=True, quiet=False):
    """Runs cmd (as alice when user); returns (elapsed, stdout)."""
    kw = {"env": ROOT_ENV}
    if user:
        kw = {"env": USER_ENV, "user": "alice", "group": "alice", "extra_groups": ["microvm"], "cwd": "/home/alice"}
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, text=True, **kw)
    elapsed = time.monotonic() - t0
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
    if not quiet and p.returncode != 0:
        log(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return elapsed, p.stdout


def popen(cmd, user=False):
    kw = {"env": ROOT_ENV}
    if user:
        kw = {"env": USER_ENV, "user": "alice", "group": "alice", "extra_groups": ["microvm"], "cwd": "/home/alice"}
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def vm_path(name):
    return MPATH + "/vm/" + "".join(c if c.isalnum() else "_%02x" % ord(c) for c in name)


def lifecycle(method, name, user=True):
    """A lifecycle call as alice from a new process (busctl); returns its duration."""
    args = ["busctl", "call", f"--timeout={CALL_TIMEOUT}", BUS, MPATH, MIFACE, method, "sa{sv}", name, "0"]
    return run(args, user=user)[0]


def prop(name, key):
    out = run(["busctl", "get-property", BUS, vm_path(name), VMIFACE, key])[1].strip()
    return out.split(" ", 1)[1].strip('"')


def ready_waiter(name):
    """Starts a busbench that reads the VM's property Ready every 25 ms (one call per
    poll, not a new process every time, so the guests barely feel it); wait_ready()
    returns the time.monotonic() at which it saw true."""
    return popen([BUSBENCH, "WaitReady", vm_path(name), "25"])


def wait_ready(p):
    out, err = p.communicate(timeout=BOOT_TIMEOUT)
    if p.returncode != 0:
        raise BenchError(f"busbench WaitReady: {err.strip()}")
    return float(out.split()[-1])


def vm_json(name):
    with open(f"{STATE}/vms/{name}.json") as f:
        return json.load(f)


def wait_for(what, pred, timeout, interval):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def stats(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# ---------------------------------------------------------------- probes

def ssh_greeting(ip, t0, timeout=BOOT_TIMEOUT):
    """Seconds from t0 until the guest's sshd sends its banner. Connection attempts
    give up after 0.1 s (nothing answers while the guest's network is down) and are
    repeated every 20 ms; once connected the banner is awaited for up to 20 s (sshd
    under TCG takes 1-2 s per connection to send it: a short read timeout would miss
    it and inflate the figure)."""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(0.1)
            s.connect((ip, 22))
            s.settimeout(20)
            data = s.recv(64)
            if data.startswith(b"SSH-"):
                return time.monotonic() - t0
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.02)
    raise BenchError(f"no SSH greeting from {ip} within {timeout} s")


class ListLoop:
    """ListVMs latencies while something happens: busbench's in-process loop (a call
    every 20 ms after the previous answer) and a new busbench process every 50 ms,
    each timed as a whole. The new processes are started at a fixed rate, not one after
    the other, so a daemon that blocks for a while delays every call issued meanwhile
    and the median shows it (sequential calls would see one slow call only)."""

    def __init__(self, tag):
        self.tag = tag
        self.stop_file = f"/run/bench-stop-{tag}"
        if os.path.exists(self.stop_file):
            os.unlink(self.stop_file)
        self.t0 = time.monotonic()
        self.proc = popen([BUSBENCH, "ListVMs", "0", "20", self.stop_file])
        self.newproc = []       # (issued at, duration)
        self.calls = []
        self.failed = 0
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _one(self):
        t = time.monotonic()
        p = subprocess.run([BUSBENCH, "ListVMs", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=ROOT_ENV)
        if p.returncode == 0:
            self.newproc.append((t, time.monotonic() - t))
        else:
            self.failed += 1

    def _loop(self):
        next_t = time.monotonic()
        while self.running:
            th = threading.Thread(target=self._one, daemon=True)
            th.start()
            self.calls.append(th)
            next_t += 0.05
            time.sleep(max(0.0, next_t - time.monotonic()))

    def finish(self):
        """Returns ([(issued at, in-process duration)], [(issued at, new-process duration)])."""
        self.running = False
        open(self.stop_file, "w").close()
        out, err = self.proc.communicate(timeout=120)
        self.thread.join(timeout=120)
        for th in self.calls:
            th.join(timeout=120)
        if self.failed:
            raise BenchError(f"{self.failed} new-process ListVMs calls failed")
        os.unlink(self.stop_file)
        if self.proc.returncode != 0:
            raise BenchError(f"busbench ListVMs loop failed: {err.strip()}")
        inproc = []
        for line in out.splitlines():
            w = line.split()
            if w[0] == "call":
                inproc.append((self.t0 + float(w[1]), float(w[2]) / 1e3))
        return inproc, self.newproc


def window(samples, start, end):
    """The durations of calls issued in [start, end]."""
    return [d for t, d in samples if start <= t <= end]


# ---------------------------------------------------------------- set-up

def daemon_pid():
    return int(run(["systemctl", "show", "-p", "MainPID", "--value", "microvmd"])[1].strip() or 0)


def write_config(extra_hypervisor=""):
    with open(CONF + ".bench-base") as f:
        base = f.read()
    with open(CONF, "w") as f:
        f.write(base.replace("[Hypervisor]\n", "[Hypervisor]\n" + extra_hypervisor))


def reset_failed():
    run(["systemctl", "reset-failed", "microvmd"], check=False)
    # Not loaded (nothing to reset) once a run of it ended well.
    run(["systemctl", "reset-failed", "microvm-guest.service"], check=False, quiet=True)


def restart_daemon():
    # Also the guest unit microvmd starts: past systemd's start limit (5 in 10 s) it would
    # be refused, a start-up faster than real.
    reset_failed()
    run(["systemctl", "restart", "microvmd"])


def create_vm(name, timed_key=None):
    t, _ = run(["microvm-client", "--no-ask-password", "create", name], user=True)
    if timed_key:
        add(timed_key, t)


def ensure_stopped(name):
    if prop(name, "State") not in ("stopped", "failed"):
        run(["busctl", "call", f"--timeout={CALL_TIMEOUT}", BUS, MPATH, MIFACE, "StopVM", "sa{sv}", name, "1",
             "force", "b", "true"], check=False)
        wait_for(f"{name} to stop", lambda: prop(name, "State") in ("stopped", "failed"), 60, 0.2)


# ---------------------------------------------------------------- phases

def capture_qemu_argv(name):
    """The QEMU command line of the VM's running hypervisor (setpriv execs it)."""
    pid = int(run(["systemctl", "show", "-p", "MainPID", "--value", f"microvm-{name}.service"])[1].strip())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    return argv


def qmp_up(p, qmp, t0):
    """Seconds from t0 until QEMU's QMP socket greets, and until it answers a command
    (query-status). QEMU 7.2 greets from its monitor thread, possibly before the machine
    is built; commands run in its main loop, so the answer means QEMU is up."""
    greeted = None
    while time.monotonic() - t0 < 60:
        if p.poll() is not None:
            raise BenchError(f"QEMU exited: {p.stderr.read().decode()[-400:]}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(qmp)
        except OSError:
            s.close()
            time.sleep(0.002)
            continue
        with s, s.makefile("rwb") as f:
            s.settimeout(30)
            if not f.readline().startswith(b'{"QMP"'):
                raise BenchError("QEMU's QMP greeting is not one")
            greeted = time.monotonic() - t0
            for cmd in (b'{"execute":"qmp_capabilities"}\n', b'{"execute":"query-status"}\n'):
                f.write(cmd)
                f.flush()
                while True:
                    line = f.readline()
                    if not line:
                        raise BenchError("QEMU closed QMP")
                    if b'"return"' in line:
                        break
                    if b'"error"' in line:
                        raise BenchError(f"QMP refused {cmd!r}: {line!r}")
            return greeted, time.monotonic() - t0
    raise BenchError("QEMU's QMP never answered")


def floors(argv, runs):
    """QEMU's own start-up (the VM's command line until QMP greets) and a transient unit
    started from a new process through PID 1's D-Bus API (systemd-run)."""
    qargv = []
    skip = False
    dropped = []
    tmp = "/run/bench-qemu"
    os.makedirs(tmp, exist_ok=True)
    qmp = f"{tmp}/qmp.sock"
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        # The shares' sockets belong to the VM's virtiofsd and the tap to the VM: this
        # copy runs without them.
        if a == "-chardev" and nxt.startswith("socket,id=fs") or a == "-device" and "vhost-user-fs" in nxt \
                or a == "-netdev" or a == "-device" and "virtio-net" in nxt:
            dropped.append(nxt.split(",")[0])
            skip = True
            continue
        if a == "-qmp":
            qargv += [a, f"unix:{qmp},server=on,wait=off"]
            skip = True
            continue
        if a == "-chardev" and nxt.startswith("socket,id=console"):
            qargv += [a, f"socket,id=console,path={tmp}/console.sock,server=on,wait=off"]
            skip = True
            continue
        if a == "-serial":
            qargv += [a, "null"]
            skip = True
            continue
        qargv.append(a)
    RESULTS["meta"]["qemu_floor_argv"] = qargv
    note("QEMU's own start-up: the VM's command line without its two vhost-user-fs devices "
         "and its tap (they belong to the running VM's virtiofsd and network), until QMP answers "
         "query-status (its greeting comes earlier, from the monitor's thread)")
    for _ in range(runs):
        if os.path.exists(qmp):
            os.unlink(qmp)
        t0 = time.monotonic()
        p = subprocess.Popen(qargv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            greeted, answered = qmp_up(p, qmp, t0)
        finally:
            p.kill()
            p.wait()
        add("floor_qemu_greeting", greeted)
        add("floor_qemu_up", answered)
    for i in range(runs):
        t, _ = run(["systemd-run", "--quiet", "--collect", f"--unit=bench-floor-{os.getpid()}-{i}",
                    "-p", "Type=exec", "/bin/true"])
        add("floor_transient_unit", t)
    # The same with the sandboxing of a VM's hypervisor unit (daemon/vm-units.c): what
    # systemd's set-up of it costs before the hypervisor runs at all.
    sandbox = ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
               "ReadWritePaths=/run", "DevicePolicy=closed", "DeviceAllow=/dev/kvm rw", "DeviceAllow=/dev/net/tun rw",
               "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
               "ProtectControlGroups=yes", "ProtectHostname=yes", "RestrictSUIDSGID=yes", "RestrictRealtime=yes",
               "LockPersonality=yes", "ProtectProc=invisible", "PrivateIPC=yes", "UMask=0077",
               "RestrictAddressFamilies=AF_UNIX", "SystemCallFilter=@system-service", "SystemCallErrorNumber=EPERM",
               "ProtectClock=yes", "RestrictNamespaces=yes", "SystemCallArchitectures=native", "IPAddressDeny=any",
               "CapabilityBoundingSet=CAP_SETUID CAP_SETGID", "Slice=microvm.slice"]
    RESULTS["meta"]["sandboxed_unit_floor_properties"] = sandbox
    for i in range(runs):
        props = [x for p in sandbox for x in ("-p", p)]
        t, _ = run(["systemd-run", "--quiet", "--collect", f"--unit=bench-floor-sandboxed-{os.getpid()}-{i}",
                    "-p", "Type=exec", *props, "/bin/true"])
        add("floor_sandboxed_unit", t)


def boot_run(name, ip, record):
    """Start, Ready, SSH greeting, microvm-client ssh, graceful stop of a booted guest."""
    t0 = time.monotonic()
    t_start = lifecycle("StartVM", name)
    waiter = ready_waiter(name)
    greeting = ssh_greeting(ip, t0)
    # microvm-client ssh only after the greeting: it would otherwise compete with the
    # probe for the guest's one emulated CPU.
    deadline = t0 + BOOT_TIMEOUT
    while True:
        p = subprocess.run(["setsid", "-w", "microvm-client", "--no-ask-password", "ssh", name, "--", "true"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env=USER_ENV, user="alice", group="alice", extra_groups=["microvm"], cwd="/home/alice",
                           timeout=BOOT_TIMEOUT)
        if p.returncode == 0:
            ssh = time.monotonic() - t0
            break
        if time.monotonic() > deadline:
            raise BenchError(f"microvm-client ssh {name} true never succeeded: {p.stderr.strip()[-300:]}")
        time.sleep(0.02)
    ready = wait_ready(waiter) - t0
    t_stop = lifecycle("StopVM", name)
    if record:
        add("start", t_start)
        add("start_to_ready", ready)
        add("start_to_ssh_greeting", greeting)
        add("start_to_ssh", ssh)
        add("stop_booted", t_stop)
    log(f"  {name}: start {t_start:.3f} s, Ready {ready:.2f} s, greeting {greeting:.2f} s, "
        f"ssh {ssh:.2f} s, stop {t_stop:.3f} s")


def stop_booting(name, runs):
    for _ in range(runs):
        lifecycle("StartVM", name)
        t = lifecycle("StopVM", name)
        add("stop_booting", t)
        log(f"  {name}: stop right after start {t:.3f} s")


def restart(name, runs):
    for _ in range(runs):
        lifecycle("StartVM", name)
        wait_ready(ready_waiter(name))
        t0 = time.monotonic()
        t = lifecycle("RestartVM", name)
        add("restart", t)
        # Ready turns false when the guest goes; RestartVM returns with the new run.
        r = wait_ready(ready_waiter(name)) - t0
        add("restart_to_ready", r)
        log(f"  {name}: restart {t:.3f} s, Ready again after {r:.2f} s")
        lifecycle("StopVM", name)


def all_ready(names):
    out = run(["busctl", "--json=short", "call", BUS, MPATH, "org.freedesktop.DBus.ObjectManager",
               "GetManagedObjects"])[1]
    objs = json.loads(out)["data"][0]
    ready = set()
    for path, ifaces in objs.items():
        vm = ifaces.get(VMIFACE)
        if vm and vm.get("Name", {}).get("data") in names and vm.get("Ready", {}).get("data"):
            ready.add(vm["Name"]["data"])
    return ready == set(names)


def idle_latency(runs):
    loop_runs = 200 if runs > 1 else 50
    out = run([BUSBENCH, "ListVMs", str(loop_runs), "5"])[1]
    for line in out.splitlines():
        w = line.split()
        if w[0] == "call":
            add("listvms_idle_inprocess", float(w[2]) / 1e3)
    for _ in range(max(10, runs * 5)):
        add("listvms_idle_newprocess", run([BUSBENCH, "ListVMs", "1"])[0])
    # The baseline of the "during" figures, measured the way they are: the same loop
    # (its in-process caller, a new process every 50 ms from the driver's threads) for as
    # long as a start and stop of the hung VM take, with nothing else happening. The
    # calls one after the other above do not carry the loop's own load on the 2 cores.
    for r in range(runs):
        loop = ListLoop(f"idle-{r}")
        time.sleep(0.3)
        t0 = time.monotonic()
        time.sleep(1.5)
        t1 = time.monotonic()
        time.sleep(0.2)
        inproc, newproc = loop.finish()
        for d in window(inproc, t0, t1):
            add("listvms_idleloop_inprocess", d)
        for d in window(newproc, t0, t1):
            add("listvms_idleloop_newprocess", d)


def cpu_busy_seconds():
    """CPU time the whole machine spent busy so far, all cores together (/proc/stat:
    everything but idle and iowait; the container shares the machine's)."""
    with open("/proc/stat") as f:
        w = f.readline().split()
    ticks = [int(x) for x in w[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def parallel(names, sizes, runs):
    for k in sizes:
        group = names[:k]
        for r in range(runs):
            loop = ListLoop(f"par{k}-{r}")
            time.sleep(0.3)
            t0 = time.monotonic()
            cpu0 = cpu_busy_seconds()
            procs = [popen(["busctl", "call", f"--timeout={CALL_TIMEOUT}", BUS, MPATH, MIFACE, "StartVM", "sa{sv}",
                            n, "0"], user=True) for n in group]
            for p, n in zip(procs, group):
                _, err = p.communicate(timeout=CALL_TIMEOUT)
                if p.returncode != 0:
                    loop.finish()
                    raise BenchError(f"StartVM {n}: {err.strip()}")
            t_up = time.monotonic()
            add(f"parallel{k}_cpu", cpu_busy_seconds() - cpu0)
            t_ready = wait_for(f"all of {group} Ready", lambda: all_ready(group), BOOT_TIMEOUT, 0.1)
            inproc, newproc = loop.finish()
            add(f"parallel{k}_up", t_up - t0)
            add(f"parallel{k}_ready", t_ready - t0)
            for d in window(inproc, t0, t_up):
                add(f"listvms_parallel{k}_inprocess", d)
            for d in window(newproc, t0, t_up):
                add(f"listvms_parallel{k}_newprocess", d)
            log(f"  {k} at once: all up {t_up - t0:.3f} s, all Ready {t_ready - t0:.2f} s, "
                f"{len(window(newproc, t0, t_up))} new-process ListVMs meanwhile")
            procs = [popen(["busctl", "call", f"--timeout={CALL_TIMEOUT}", BUS, MPATH, MIFACE, "StopVM", "sa{sv}",
                            n, "0"], user=True) for n in group]
            for p in procs:
                p.communicate(timeout=CALL_TIMEOUT)
            for n in group:
                ensure_stopped(n)


def hung_hypervisor(name, hard_name, runs):
    """A VM whose "QEMU" (bench/hang-qemu, through [Hypervisor] QEMU=) accepts QMP
    connections and never answers: ListVMs latencies while it starts and is stopped."""
    write_config(f"QEMU={HANG_QEMU}\n")
    restart_daemon()
    note("hung hypervisor: [Hypervisor] QEMU= points to bench/hang-qemu, which runs the real QEMU for "
         "every VM except those named hang*, for which it accepts QMP connections and never answers, and "
         "says on the guest channel that the guest listens to the power button (so the stop meets the hang); "
         "for those named hanghard* it also ignores SIGTERM")
    try:
        for r in range(runs):
            loop = ListLoop(f"hang-{r}")
            time.sleep(0.3)
            t0 = time.monotonic()
            t_start = lifecycle("StartVM", name)
            t1 = time.monotonic()
            t_stop = lifecycle("StopVM", name)
            t2 = time.monotonic()
            time.sleep(0.2)
            inproc, newproc = loop.finish()
            add("hung_start", t_start)
            add("hung_stop", t_stop)
            for d in window(inproc, t0, t2):
                add("listvms_hung_inprocess", d)
            for d in window(newproc, t0, t2):
                add("listvms_hung_newprocess", d)
            log(f"  hung hypervisor: start {t_start:.3f} s, stop {t_stop:.3f} s, "
                f"{len(window(newproc, t0, t2))} new-process ListVMs meanwhile "
                f"(median {statistics.median(window(newproc, t0, t2) or [0]):.3f} s)")
            ensure_stopped(name)
        # One whose hypervisor ignores SIGTERM as well (its main loop hangs).
        for r in range(runs):
            add("hung_hard_start", lifecycle("StartVM", hard_name))
            t_stop = lifecycle("StopVM", hard_name)
            add("hung_hard_stop", t_stop)
            log(f"  hung hypervisor that ignores SIGTERM: stop {t_stop:.3f} s")
            ensure_stopped(hard_name)
    finally:
        write_config()
        restart_daemon()


def scale(counts, runs, template_name):
    """Daemon start-up, ListVMs, GetManagedObjects, microvm-client list and RSS with N
    definitions written straight into the state directory (the daemon stopped)."""
    template = vm_json(template_name)
    vms = f"{STATE}/vms"
    saved = f"{STATE}/vms.bench-saved"
    activation_noted = False
    run(["systemctl", "stop", "microvmd"])
    os.rename(vms, saved)
    try:
        for n in counts:
            if os.path.exists(vms):
                shutil.rmtree(vms)
            os.mkdir(vms, 0o700)
            for i in range(n):
                d = dict(template)
                name = f"s{i:05d}"
                a = 2 + 1000 + i       # past the addresses the real VMs got (from .2 on)
                d["name"] = name
                d["workspace"] = f"{STATE}/workspaces/{name}"
                d["ip-address"] = f"10.234.{a >> 8}.{a & 255}"
                d["mac-address"] = "52:54:00:%02x:%02x:%02x" % ((a >> 16) & 255, (a >> 8) & 255, a & 255)
                fd = os.open(f"{vms}/{name}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(d, f)
            for r in range(runs):
                run(["systemctl", "stop", "microvmd"])
                # These starts come faster than the unit's start rate limit allows.
                reset_failed()
                t0 = time.monotonic()
                run(["systemctl", "start", "--no-block", "microvmd"])
                # A call that arrives before microvmd owns its name waits for it (D-Bus
                # activation of the unit already starting), but dbus-daemon gives up
                # after 25 s (service_start_timeout): then call again.
                while True:
                    p = subprocess.run([BUSBENCH, "ListVMs", "1"], stdin=subprocess.DEVNULL, capture_output=True,
                                       text=True, env=ROOT_ENV, timeout=CALL_TIMEOUT)
                    if p.returncode == 0:
                        break
                    if time.monotonic() - t0 > CALL_TIMEOUT:
                        raise BenchError(f"microvmd did not answer within {CALL_TIMEOUT} s of its start: "
                                         f"{p.stderr.strip()}")
                    if "activate" in p.stderr and not activation_noted:
                        activation_noted = True
                        note(f"with {n} VMs defined a first call timed out in dbus-daemon's activation "
                             f"({p.stderr.strip()}); the bench called again")
                    time.sleep(0.01)
                add(f"daemon_startup_{n}", time.monotonic() - t0)
            out = run([BUSBENCH, "ListVMs", "1"])[1]
            reply_check = run(["busctl", "--json=short", "call", BUS, MPATH, MIFACE, "ListVMs"])[1]
            if len(json.loads(reply_check)["data"][0]) != n:
                raise BenchError(f"ListVMs did not list the {n} definitions written")
            # New processes are noisier than the runs of a boot: five times as many.
            for r in range(runs * 5):
                add(f"listvms_{n}_newprocess", run([BUSBENCH, "ListVMs", "1"])[0])
                add(f"getmanagedobjects_{n}_newprocess", run([BUSBENCH, "GetManagedObjects", "1"])[0])
                add(f"client_list_{n}", run(["microvm-client", "--no-ask-password", "list"], user=True)[0])
            for method, key in (("ListVMs", "listvms"), ("GetManagedObjects", "getmanagedobjects")):
                out = run([BUSBENCH, method, str(max(5, runs * 3))])[1]
                for line in out.splitlines():
                    w = line.split()
                    if w[0] == "call":
                        add(f"{key}_{n}_inprocess", float(w[2]) / 1e3)
            with open(f"/proc/{daemon_pid()}/status") as f:
                rss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
            add(f"daemon_rss_{n}", rss * 1024)
            log(f"  {n} VMs: start-up {statistics.median(RESULTS['samples'][f'daemon_startup_{n}']):.3f} s, "
                f"ListVMs {statistics.median(RESULTS['samples'][f'listvms_{n}_newprocess']):.3f} s, "
                f"RSS {rss / 1024:.1f} MiB")
    finally:
        run(["systemctl", "stop", "microvmd"], check=False)
        if os.path.exists(vms):
            shutil.rmtree(vms)
        os.rename(saved, vms)
        reset_failed()
        run(["systemctl", "start", "microvmd"])


# ---------------------------------------------------------------- libvirt

def virsh(*args, check=True):
    return run(["virsh", "-q", "-c", "qemu:///system", *args], check=check)


def libvirt(name, argv, runs):
    """The same guest as NAME (its kernel, initramfs, command line, address, MAC and
    workspace) as a libvirt domain: direct kernel boot, 1 vCPU, the same memory,
    memfd shared memory, the two virtiofs shares, a tap on microvmd's bridge."""
    d = vm_json(name)
    append = argv[argv.index("-append") + 1]
    kernel = argv[argv.index("-kernel") + 1]
    initrd = argv[argv.index("-initrd") + 1]
    mem = d["memory-mib"]
    bridge = "microbr"
    conf = open(CONF).read()
    m = re.search(r"^Bridge=(\S+)", conf, re.M)
    if m:
        bridge = m.group(1)
    software = "/usr"
    made_bridge = False
    # microvmd takes its bridge down with its last VM: put one up with the host's
    # address for the domain's tap while no microvmd VM runs.
    if subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0:
        gw = re.search(r"microvm\.gateway=(\S+)", append)
        prefix = re.search(r"microvm\.ip=\S+/(\d+)", append)
        run(["ip", "link", "add", bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{gw.group(1)}/{prefix.group(1) if prefix else 16}", "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])
        made_bridge = True
    xml = f"""<domain type='qemu'>
  <name>bench-{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{append}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum'/>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs'/>
      <binary path='/usr/lib/qemu/virtiofsd'/>
      <source dir='{d["workspace"]}'/>
      <target dir='workspace'/>
    </filesystem>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs'/>
      <binary path='/usr/lib/qemu/virtiofsd'/>
      <source dir='{software}'/>
      <target dir='software'/>
    </filesystem>
    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <mac address='{d["mac-address"]}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'><source path='/var/log/libvirt/qemu/bench-{name}.serial'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""
    with open("/run/bench-domain.xml", "w") as f:
        f.write(xml)
    RESULTS["meta"]["libvirt_domain_xml"] = xml
    note("libvirt 9.0 cannot make a virtiofs share read-only (it refuses <readonly/>): "
         "the libvirt twin's software share (/usr) is writable, microvmd's is read-only")
    virsh("define", "/run/bench-domain.xml")
    ip = d["ip-address"]
    try:
        for r in range(runs + 1):       # the first run warms caches, as microvmd's first does
            t0 = time.monotonic()
            t_start = virsh("start", f"bench-{name}")[0]
            greeting = ssh_greeting(ip, t0)
            t1 = time.monotonic()
            virsh("shutdown", f"bench-{name}")
            wait_for("the libvirt domain to shut off",
                     lambda: virsh("domstate", f"bench-{name}")[1].strip() == "shut off", 120, 0.02)
            t_stop = time.monotonic() - t1
            if r > 0:
                add("libvirt_start", t_start)
                add("libvirt_start_to_ssh_greeting", greeting)
                add("libvirt_stop_booted", t_stop)
            log(f"  libvirt{' (warm-up)' if r == 0 else ''}: virsh start {t_start:.3f} s, "
                f"greeting {greeting:.2f} s, shutdown {t_stop:.3f} s")
    finally:
        if virsh("domstate", f"bench-{name}", check=False)[1].strip() != "shut off":
            virsh("destroy", f"bench-{name}", check=False)
        virsh("undefine", f"bench-{name}", check=False)
        if made_bridge:
            run(["ip", "link", "del", bridge], check=False)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", default="1,4,8")
    ap.add_argument("--scale", default="10,1000,10000")
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip", default="", help="phases to leave out (development only)")
    a = ap.parse_args()
    runs = a.runs
    sizes = [int(x) for x in a.parallel.split(",")]
    counts = [int(x) for x in a.scale.split(",")]
    skip = set(a.skip.split(","))
    RESULTS["meta"].update({"runs": runs, "parallel": sizes, "scale": counts})
    shutil.copy(CONF, CONF + ".bench-base")
    m = re.search(r"^StopTimeoutSec=(\d+)", open(CONF).read(), re.M)
    if m:
        RESULTS["meta"]["stop_timeout_sec"] = int(m.group(1))
        note(f"a stop waits at most StopTimeoutSec={m.group(1)} s for the guest before systemd stops it "
             "(microvmd's default is 150 s): what a guest that armed its power button and then "
             "never powers off costs")
    try:
        with open("/proc/self/autogroup") as f:
            autogroup = f.read().strip()
    except OSError:
        autogroup = "none (kernel without autogroup)"
    RESULTS["meta"]["driver_autogroup"] = autogroup
    if not autogroup.endswith(" nice 0") and autogroup.startswith("/"):
        note(f"the driver's session has autogroup {autogroup}: the clients it starts get less "
             "CPU than a login session's while guests run, and the new-process figures show it")
    t_begin = time.monotonic()

    def save():
        RESULTS["meta"]["duration_s"] = round(time.monotonic() - t_begin, 1)
        with open(a.out, "w") as f:
            json.dump(RESULTS, f, indent=1)

    try:
        log(f"create: {runs} VMs")
        for i in range(runs):
            create_vm(f"c{i}", "create")
        main_vm = "c0"
        ip = vm_json(main_vm)["ip-address"]
        for i in range(max(sizes)):
            create_vm(f"p{i}")
        create_vm("hang0")
        create_vm("hanghard0")

        log("warm-up boot (not counted), QEMU's command line")
        lifecycle("StartVM", main_vm)
        argv = capture_qemu_argv(main_vm)
        RESULTS["meta"]["qemu_argv"] = argv
        RESULTS["meta"]["accel"] = argv[argv.index("-accel") + 1] if "-accel" in argv else "?"
        ssh_greeting(ip, time.monotonic())
        lifecycle("StopVM", main_vm)

        log("floors: QEMU's own start-up, a transient unit, one with the hypervisor's sandbox")
        floors(argv, runs)
        save()

        if "boot" not in skip:
            log(f"boot: start, Ready, SSH greeting, microvm-client ssh, graceful stop ({runs} runs)")
            for _ in range(runs):
                boot_run(main_vm, ip, True)
            save()
        if "stop_booting" not in skip:
            log("stop right after start")
            stop_booting(main_vm, runs)
        if "restart" not in skip:
            log("restart")
            restart(main_vm, runs)
            save()
        log("ListVMs latency, idle")
        idle_latency(runs)
        if "parallel" not in skip:
            log(f"parallel starts: {sizes}")
            parallel([f"p{i}" for i in range(max(sizes))], sizes, runs)
            save()
        if "hung" not in skip:
            log("hung hypervisor")
            hung_hypervisor("hang0", "hanghard0", runs)
            save()
        if "libvirt" not in skip:
            log("libvirt: the same guest")
            libvirt(main_vm, argv, runs)
            save()
        if "scale" not in skip:
            log(f"scale: {counts} VMs defined")
            scale(counts, runs, main_vm)
        RESULTS["meta"]["complete"] = True
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        RESULTS["meta"]["error"] = str(e)
        log(f"FAILED: {e}")
        save()
        return 1
    finally:
        if os.path.exists(CONF + ".bench-base"):
            write_config()
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
