#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the cloud-hypervisor stand-in itself (TAP output).

  tests/cloud-hypervisor-standin/test-standin.py [GUEST_DIR]

1. Grammar: command lines cloud-hypervisor accepts parse to the right configuration; those
   it rejects exit with its status (2 from clap, 1 from its config parser).
2. Runs (need root, qemu-system-x86_64 and a test guest): boots the guest of
   tests/guest/build-test-guest (GUEST_DIR, or $CH_STANDIN_GUEST_DIR, or built into a
   temporary directory) and drives the REST API: ping, info, pause/resume, error shapes,
   power button (exit 0 with the guest's cooperation), SIGTERM, vmm.shutdown,
   vm.shutdown + vm.boot, vm.reboot, a QEMU that dies (exit 1), a stand-in that dies
   (its QEMU goes too). Skipped, with a reason, when they cannot run here.
Exit status: 0 when nothing failed.
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
STANDIN = os.path.join(HERE, "cloud-hypervisor-standin")
sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, HERE)
import chstandin_cli as cli  # noqa: E402

MARKER = "microvm-test-guest: booted"
counter = 0
failures = 0


def ok(cond, desc, detail=""):
        global counter, failures
        counter += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", counter, desc), flush=True)
        if not cond:
                failures += 1
                for line in str(detail).splitlines():
                        print("#   " + line)
        return cond


def skip(desc, reason):
        global counter
        counter += 1
        print("ok %d - %s # SKIP %s" % (counter, desc, reason), flush=True)


def run_standin(args):
        p = subprocess.run([STANDIN] + args, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------------------
# 1. Grammar

def test_grammar():
        K = ["--kernel", "/k"]
        # The line microvmd builds (issue 3 design notes), parsed in-process.
        cfg = cli.parse_command_line([
                "--api-socket", "path=/run/microvm/vm1/api.sock", "--cpus", "boot=2",
                "--memory", "size=4096M,shared=on", "--kernel", "/k", "--initramfs", "/i",
                "--cmdline", "console=ttyS0 microvm.name=vm1",
                "--fs", "tag=workspace,socket=/run/microvm/vm1/fs-workspace.sock",
                "--fs", "tag=ssh-host-keys,socket=/run/microvm/vm1/fs-ssh-host-keys.sock",
                "--serial", "tty", "--console", "socket=/run/microvm/vm1/console.sock"])
        vm = cfg["vm"]
        ok(cfg["api_socket_path"] == "/run/microvm/vm1/api.sock", "daemon line: api socket path")
        ok(vm["cpus"] == {"boot_vcpus": 2, "max_vcpus": 2}, "daemon line: cpus", vm["cpus"])
        ok(vm["memory"]["size"] == 4096 << 20 and vm["memory"]["shared"], "daemon line: memory", vm["memory"])
        ok(vm["payload"] == {"kernel": "/k", "initramfs": "/i", "cmdline": "console=ttyS0 microvm.name=vm1"},
           "daemon line: payload", vm["payload"])
        ok([(f["tag"], f["socket"], f["num_queues"], f["queue_size"]) for f in vm["fs"]] ==
           [("workspace", "/run/microvm/vm1/fs-workspace.sock", 1, 1024),
            ("ssh-host-keys", "/run/microvm/vm1/fs-ssh-host-keys.sock", 1, 1024)], "daemon line: fs", vm["fs"])
        ok(vm["serial"]["mode"] == "Tty" and vm["console"]["mode"] == "Socket"
           and vm["console"]["socket"] == "/run/microvm/vm1/console.sock", "daemon line: serial and console")

        def parses(args, check, desc):
                try:
                        c = cli.parse_command_line(args)
                except (cli.CliError, cli.HelpRequested) as e:
                        return ok(False, desc, getattr(e, "message", repr(e)))
                try:
                        good = check(c)
                except Exception as e:      # a check that raises is a failure, with the reason
                        return ok(False, desc, repr(e))
                return ok(good, desc, json.dumps(c, default=str))

        parses(["--api-socket", "/tmp/x.sock"], lambda c: c["api_socket_path"] == "/tmp/x.sock" and c["vm"] is None,
               "bare --api-socket path, no VM")
        parses(["--api-socket", "fd=3"], lambda c: c["api_socket_fd"] == 3, "--api-socket fd=3")
        parses(["--api-socket=path=/a"], lambda c: c["api_socket_path"] == "/a", "--option=value form")
        parses(K, lambda c: c["vm"]["memory"]["size"] == 512 << 20 and c["vm"]["cpus"]["boot_vcpus"] == 1
               and c["vm"]["console"]["mode"] == "Tty" and c["vm"]["serial"]["mode"] == "Null",
               "defaults: 512M, 1 vCPU, console tty, serial null")
        for text, size in (("1G", 1 << 30), ("1024K", 1 << 20), ("1048576", 1 << 20), ("2M", 2 << 20)):
                parses(K + ["--memory", "size=" + text], lambda c, s=size: c["vm"]["memory"]["size"] == s,
                       "memory size=%s" % text)
        parses(K + ["--memory", "size=1G,shared=true,hugepages=OFF"],
               lambda c: c["vm"]["memory"]["shared"] and not c["vm"]["memory"]["hugepages"], "toggles true/OFF")
        parses(K + ["--cpus", "boot=2,max=4"], lambda c: c["vm"]["cpus"] == {"boot_vcpus": 2, "max_vcpus": 4},
               "cpus boot=2,max=4")
        parses(K + ["--disk", "path=/a,readonly=on", "--disk", "path=/b"],
               lambda c: [(d["path"], d["readonly"]) for d in c["vm"]["disks"]] == [("/a", True), ("/b", False)],
               "repeated --disk")
        parses(K + ["--disk", "path=/a", "path=/b"], lambda c: len(c["vm"]["disks"]) == 2,
               "--disk with two values (num_args 1..)")
        parses(K + ["--cpus", "boot=2", "--net", "tap=tap0,mac=52:54:00:AB:cd:01,num_queues=4"],
               lambda c: c["vm"]["net"][0]["tap"] == "tap0" and c["vm"]["net"][0]["mac"] == "52:54:00:ab:cd:01"
               and c["vm"]["net"][0]["num_queues"] == 4, "--net tap,mac,num_queues")
        parses(K + ["--memory", "size=1G,shared=on", "--fs=tag=x,socket=/s,num_queues=1,queue_size=512"],
               lambda c: c["vm"]["fs"][0]["queue_size"] == 512, "--fs=... inline with queue_size")
        parses(K + ["--cmdline", "console=ttyS0,115200 quiet"],
               lambda c: c["vm"]["payload"]["cmdline"] == "console=ttyS0,115200 quiet", "cmdline kept verbatim")
        for mode in ("off", "null", "pty", "tty"):
                parses(K + ["--console", mode, "--serial", mode],
                       lambda c, m=mode: c["vm"]["console"]["mode"] == m.capitalize() == c["vm"]["serial"]["mode"],
                       "console/serial %s" % mode)
        parses(K + ["--serial", "file=/tmp/s.log"], lambda c: c["vm"]["serial"]["file"] == "/tmp/s.log",
               "serial file=")
        parses(K + ["--serial", "socket=/tmp/s.sock"], lambda c: c["vm"]["serial"]["socket"] == "/tmp/s.sock",
               "serial socket=")
        parses(["-vv", "--seccomp", "log", "--watchdog"] + K, lambda c: c["verbosity"] == 2 and c["vm"]["watchdog"]
               and c["seccomp"] == "log", "-vv, --seccomp log, --watchdog")
        parses(["--event-monitor", "path=/tmp/ev"], lambda c: c["event_monitor_path"] == "/tmp/ev",
               "--event-monitor path=")
        parses(K + ["--vsock", "cid=3,socket=/tmp/v.sock"],
               lambda c: c["vm"]["vsock"] == {"cid": 3, "socket": "/tmp/v.sock", "id": None}, "--vsock cid=,socket=")

        # Rejections: (args, exit code, text expected on stderr)
        FS_OK = ["--memory", "size=1G,shared=on"]
        cases = [
                ([], 2, "Usage"),
                (["--bogus"], 2, "unexpected argument '--bogus'"),
                (["-x"], 2, "unexpected argument '-x'"),
                (["foo"], 2, "unexpected argument 'foo'"),
                (["--firmware", "/f"], 2, "does not implement"),
                (K + ["--kernel", "/k2"], 2, "cannot be used multiple times"),
                (K + ["--cpus", "boot=1", "--cpus", "boot=2"], 2, "cannot be used multiple times"),
                (["--kernel"], 2, "a value is required"),
                (["--memory", "size=1G"], 2, "required arguments were not provided"),
                (["--fs", "tag=x,socket=/s"], 2, "required arguments were not provided"),
                (["--seccomp", "maybe"], 2, "invalid value 'maybe'"),
                (["--watchdog=on"] + K, 2, "unexpected value"),
                (K + FS_OK + ["--fs", "tag=x,socket=/s,bogus=1"], 1, "Unknown option: bogus"),
                (K + FS_OK + ["--fs", "tag=x"], 1, "Error parsing --fs: socket missing"),
                (K + FS_OK + ["--fs", "socket=/s"], 1, "Error parsing --fs: tag missing"),
                (K + FS_OK + ["--fs", "tag=" + "t" * 37 + ",socket=/s"], 1, "max tag length is 36"),
                (K + FS_OK + ["--fs", "tag=x,socket=/s,queue_size=1000"], 1, "Queue size must be a power of 2"),
                (K + FS_OK + ["--fs", "tag=x,socket=/s,num_queues=2"], 1, "must not exceed boot vCPUs"),
                (K + FS_OK + ["--fs", 'tag="x,socket=/s'], 1, "Invalid syntax"),
                (K + FS_OK + ["--fs", "tag=x,socket"], 1, "Invalid syntax: socket"),
                (K + ["--fs", "tag=x,socket=/s"], 1, "Using vhost-user requires using shared memory or huge pages"),
                (K + ["--memory", "size=1G,shared=off", "--fs", "tag=x,socket=/s"], 1, "requires using shared memory"),
                (K + ["--cpus", "boot=two"], 1, "Unable to convert two for boot"),
                (K + ["--cpus", "boot=-1"], 1, "Unable to convert -1 for boot"),
                (K + ["--cpus", "boot=2,max=1"], 1, "Max CPUs (1) lower than boot CPUs (2)"),
                (K + ["--cpus", "boot=1,bogus=2"], 1, "Unknown option: bogus"),
                (K + ["--cpus", "boot=1,topology=1:1:1:1"], 1, "not implemented by the stand-in"),
                (K + ["--memory", "size=12X"], 1, "Unable to convert 12X for size"),
                (K + ["--memory", "size=1.5G"], 1, "Unable to convert 1.5G for size"),
                (K + ["--memory", "size=1g"], 1, "Unable to convert 1g for size"),
                (K + ["--memory", "shared=maybe"], 1, "Unable to convert maybe for shared"),
                (K + ["--memory", "size=1G,shared=on,mergeable=on"], 1, "both 'mergeable' and 'shared'"),
                (K + ["--net", "tap=t0,mac=zz:00:00:00:00:00"], 1, "Unable to convert"),
                (K + ["--net", "tap=t0,num_queues=1"], 1, "should be higher than 2"),
                (K + ["--net", "tap=t0,num_queues=4"], 1, "must not exceed boot vCPUs"),
                (K + ["--disk", "readonly=on"], 1, "needs path="),
                (K + ["--disk", "path=/a,readonly=yes"], 1, "Unable to convert yes for readonly"),
                (K + ["--console", "bogus"], 1, "Unknown option: bogus"),
                (K + ["--console", "file="], 1, "Path missing when using file console mode"),
                (K + ["--serial", ""], 1, "invalid console mode given"),
                (K + ["--disk", "path=/a,id=d", "--net", "tap=t,id=d"], 1, "Identifier d is not unique"),
                (["--api-socket", "fd=x"], 1, "Error parsing --api-socket"),
                (["--event-monitor", "bogus=1"], 1, "Unknown option: bogus"),
                (["--event-monitor", "x"], 1, "Unknown option: x"),
                (K + ["--vsock", "cid=3"], 1, "Error parsing --vsock: socket missing"),
                (K + ["--vsock", "socket=/v"], 1, "Error parsing --vsock: cid missing"),
                (K + ["--vsock", "cid=x,socket=/v"], 1, "Unable to convert x for cid"),
                (K + ["--vsock", "cid=2,socket=/v"], 1, "2 is a special VSOCK CID"),
                (K + ["--vsock", "cid=3,socket=/v,bogus=1"], 1, "Unknown option: bogus"),
                (K + ["--vsock", "cid=3,socket=/v", "--vsock", "cid=4,socket=/w"], 2, "cannot be used multiple times"),
        ]
        for args, code, text in cases:
                rc, _, err = run_standin(args)
                ok(rc == code and text in err, "rejects %s (exit %d)" % (" ".join(args) or "no arguments", code),
                   "exit %d, stderr:\n%s" % (rc, err))

        rc, out, _ = run_standin(["--version"])
        ok(rc == 0 and "stand-in" in out, "--version")
        rc, out, _ = run_standin(["-h"])
        ok(rc == 0 and "STAND-IN" in out and "--api-socket" in out, "-h")


# ---------------------------------------------------------------------------------------
# 2. Runs

class Http:
        """A minimal HTTP/1.1 client over a unix socket, one kept-alive connection."""

        def __init__(self, path):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(60)
                self.sock.connect(path)
                self.buf = b""

        def request(self, method, route, body=None, close=False):
                data = b"" if body is None else body.encode()
                head = "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\n" % (method, route)
                if data:
                        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
                if close:
                        head += "Connection: close\r\n"
                self.sock.sendall((head + "\r\n").encode() + data)
                while b"\r\n\r\n" not in self.buf:
                        chunk = self.sock.recv(65536)
                        if not chunk:
                                raise EOFError("connection closed")
                        self.buf += chunk
                raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
                lines = raw.decode().split("\r\n")
                status = int(lines[0].split(" ")[1])
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                length = int(headers.get("content-length", "0"))
                while len(self.buf) < length:
                        chunk = self.sock.recv(65536)
                        if not chunk:
                                raise EOFError("connection closed")
                        self.buf += chunk
                payload, self.buf = self.buf[:length], self.buf[length:]
                return status, headers, (json.loads(payload) if payload else None), lines[0]

        def closed_by_peer(self):
                try:
                        return self.sock.recv(1) == b""
                except OSError:
                        return True

        def close(self):
                self.sock.close()


def call(api, method, route, body=None):
        h = Http(api)
        try:
                return h.request(method, route, body)
        finally:
                h.close()


class Run:
        def __init__(self, guest, workdir, name, extra=(), fs_socket=None):
                self.api = os.path.join(workdir, name + ".api.sock")
                self.console = os.path.join(workdir, name + ".console.sock")
                self.out_path = os.path.join(workdir, name + ".out")
                self.err_path = os.path.join(workdir, name + ".err")
                self.argv = [STANDIN, "--api-socket", "path=" + self.api, "--cpus", "boot=1",
                             "--memory", "size=256M,shared=on", "--kernel", guest["kernel"],
                             "--initramfs", guest["initrd"],
                             "--cmdline", "%s microvm.name=%s microvm.workspace=/ws" % (guest["cmdline"], name)]
                if fs_socket:
                        self.argv += ["--fs", "tag=workspace,socket=" + fs_socket]
                self.argv += ["--serial", "tty", "--console", "socket=" + self.console] + list(extra)
                self.name = name
                with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
                        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

        def output(self):
                with open(self.out_path, errors="replace") as f:
                        return f.read()

        def stderr(self):
                with open(self.err_path, errors="replace") as f:
                        return f.read()

        def wait_for(self, text, count=1, timeout=90):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                        if self.output().count(text) >= count:
                                return True
                        if self.proc.poll() is not None:
                                return False
                        time.sleep(0.2)
                return False

        def wait_exit(self, timeout=60):
                try:
                        return self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                        return None

        def qemu_pid(self):
                try:
                        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                                pids = [int(p) for p in f.read().split()]
                except OSError:
                        return None
                return pids[0] if pids else None

        def kill(self):
                if self.proc.poll() is None:
                        self.proc.kill()
                        self.proc.wait()


def pid_alive(pid):
        try:
                with open("/proc/%d/stat" % pid) as f:
                        return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
                return False


def find_guest(argv):
        d = argv[1] if len(argv) > 1 else os.environ.get("CH_STANDIN_GUEST_DIR")
        if not d:
                if os.geteuid() != 0:
                        return None, "not root: cannot build the test guest"
                d = tempfile.mkdtemp(prefix="ch-standin-guest.")
                build = os.path.join(HERE, "..", "guest", "build-test-guest")
                p = subprocess.run([build, d], capture_output=True, text=True)
                if p.returncode != 0:
                        return None, "build-test-guest failed: " + p.stderr.strip().splitlines()[-1:][0]
        guest = {"kernel": os.path.join(d, "vmlinuz"), "initrd": os.path.join(d, "initrd.img")}
        if not all(os.path.exists(p) for p in guest.values()):
                return None, "no vmlinuz/initrd.img in " + d
        try:
                with open(os.path.join(d, "cmdline")) as f:
                        guest["cmdline"] = f.read().strip()
        except OSError:
                guest["cmdline"] = "console=ttyS0 panic=-1"
        return guest, None


def test_runs(guest, workdir):
        virtiofsd = "/usr/lib/qemu/virtiofsd"
        fs_sock = None
        vfs = None
        ws = os.path.join(workdir, "ws")
        os.mkdir(ws)
        if os.access(virtiofsd, os.X_OK) and os.geteuid() == 0:
                fs_sock = os.path.join(workdir, "fs.sock")
                vfs = subprocess.Popen([virtiofsd, "--socket-path=" + fs_sock, "-o", "source=" + ws,
                                        "-o", "cache=auto"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(50):
                        if os.path.exists(fs_sock):
                                break
                        time.sleep(0.1)

        # A: the API, then the power button.
        r = Run(guest, workdir, "vma", fs_socket=fs_sock)
        try:
                booted = r.wait_for(MARKER + " vma")
                ok(booted, "guest boots; its serial console is the stand-in's stdout", r.stderr())
                if not booted:
                        return
                mode = stat.S_IMODE(os.stat(r.api).st_mode)
                ok(mode & 0o077 == 0, "API socket is owner-only (umask 077): %o" % mode)
                h = Http(r.api)
                status, headers, body, line = h.request("GET", "vmm.ping")
                ok(status == 200 and body.get("build_version") == "stand-in" and body.get("pid") == r.proc.pid
                   and "version" in body, "GET vmm.ping: 200 with build_version stand-in", body)
                ok(line == "HTTP/1.1 200 " and headers.get("server") == "Cloud Hypervisor API"
                   and headers.get("content-type") == "application/json", "micro_http's status line and headers",
                   repr(line) + repr(headers))
                status, _, body, _ = h.request("GET", "vm.info")
                ok(status == 200 and body["state"] == "Running" and body["config"]["cpus"]["boot_vcpus"] == 1
                   and body["config"]["memory"]["size"] == 256 << 20 and body["memory_actual_size"] == 256 << 20
                   and body["config"]["payload"]["kernel"] == guest["kernel"],
                   "GET vm.info on the same connection (keep-alive): Running, config", body)
                status, headers, body, _ = h.request("PUT", "vm.pause")
                ok(status == 204 and "content-length" not in headers and body is None, "PUT vm.pause: 204, no body")
                ok(call(r.api, "GET", "vm.info")[2]["state"] == "Paused", "vm.info: Paused")
                status, _, body, _ = h.request("PUT", "vm.pause")
                ok(status == 500 and isinstance(body, list) and all(isinstance(s, str) for s in body),
                   "PUT vm.pause when paused: 500 (not 405) with a JSON array of strings", body)
                ok(h.request("PUT", "vm.resume")[0] == 204, "PUT vm.resume: 204")
                ok(h.request("PUT", "vm.resume")[0] == 500, "PUT vm.resume when running: 500")
                status, _, body, _ = h.request("GET", "vm.nope")
                ok(status == 404 and body == ["Not Found"], "unknown route: 404 [\"Not Found\"]", body)
                status, _, body, _ = h.request("GET", "vm.power-button")
                ok(status == 400 and body == ["Bad Request"], "wrong method: 400 [\"Bad Request\"] as cloud-hypervisor",
                   "%s %s" % (status, body))
                status, _, body, _ = h.request("PUT", "vm.info")
                ok(status == 400, "PUT vm.info: 400")
                status, _, body, _ = h.request("PUT", "vm.power-button", body="{}")
                ok(status == 400, "PUT vm.power-button with a body: 400")
                status, _, body, _ = h.request("PUT", "vm.create", body="{}")
                ok(status == 501, "vm.create: 501, not implemented by the stand-in")
                status, _, _, _ = h.request("GET", "vmm.ping", close=True)
                ok(status == 200 and h.closed_by_peer(), "Connection: close is honoured")
                h.close()
                if fs_sock:
                        ok(r.wait_for("waiting for the power button"), "guest is waiting for the power button")
                        ok(os.path.exists(os.path.join(ws, "guest-was-here")), "guest wrote into the virtiofs share")
                else:
                        skip("virtiofs share", "no virtiofsd or not root")
                status = call(r.api, "PUT", "vm.power-button")[0]
                ok(status == 204, "PUT vm.power-button: 204")
                rc = r.wait_exit(60)
                ok(rc == 0, "the guest powers off and the stand-in exits 0", "exit %s\n%s" % (rc, r.stderr()))
                ok(not os.path.exists(r.api), "API socket removed on exit")
        finally:
                r.kill()
                if vfs:
                        vfs.kill()
                        vfs.wait()

        # B: SIGTERM stops the VM and exits 0, QEMU included.
        #    With --vsock, the guest's connection to host port 1024 arrives on SOCKET_1024 (the
        #    test guest says "armed" there).
        vsock = os.path.join(workdir, "vmb.vsock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(vsock + "_1024")
        listener.listen(1)
        listener.settimeout(90)
        r = Run(guest, workdir, "vmb", extra=["--vsock", "cid=3,socket=" + vsock])
        try:
                if ok(r.wait_for(MARKER + " vmb"), "B: guest boots", r.stderr()):
                        data = b""
                        try:
                                conn, _ = listener.accept()
                                conn.settimeout(90)
                                while b"armed\n" not in data:
                                        chunk = conn.recv(64)
                                        if not chunk:
                                                break
                                        data += chunk
                                conn.close()
                        except OSError as e:
                                data += repr(e).encode()
                        ok(b"armed\n" in data, "--vsock: the guest's words arrive on SOCKET_1024", data)
                        qemu = r.qemu_pid()
                        r.proc.send_signal(signal.SIGTERM)
                        rc = r.wait_exit(30)
                        ok(rc == 0, "SIGTERM: exit 0", "exit %s\n%s" % (rc, r.stderr()))
                        time.sleep(0.2)
                        ok(qemu is not None and not pid_alive(qemu), "SIGTERM: QEMU is gone")
                        ok(not os.path.exists(r.api), "SIGTERM: API socket removed")
        finally:
                r.kill()
                listener.close()

        # C: PUT vmm.shutdown answers 200 and exits 0.
        r = Run(guest, workdir, "vmc")
        try:
                if ok(r.wait_for(MARKER + " vmc"), "C: guest boots", r.stderr()):
                        status, headers, _, _ = call(r.api, "PUT", "vmm.shutdown")
                        ok(status == 200 and headers.get("content-length") == "0", "PUT vmm.shutdown: 200")
                        ok(r.wait_exit(30) == 0, "vmm.shutdown: exit 0", r.stderr())
        finally:
                r.kill()

        # D: vm.shutdown keeps the VMM (state Created), vm.boot boots a fresh guest,
        #    vm.reboot boots another; kill -9 of the stand-in takes QEMU with it.
        r = Run(guest, workdir, "vmd")
        try:
                if ok(r.wait_for(MARKER + " vmd"), "D: guest boots", r.stderr()):
                        ok(call(r.api, "PUT", "vm.shutdown")[0] == 204, "PUT vm.shutdown: 204")
                        ok(r.proc.poll() is None and call(r.api, "GET", "vm.info")[2]["state"] == "Created",
                           "after vm.shutdown the process stays, vm.info says Created")
                        status, _, body, _ = call(r.api, "PUT", "vm.power-button")
                        ok(status == 500 and body[-1] == "VM is not running", "vm.power-button without a VM: 500", body)
                        ok(call(r.api, "PUT", "vm.boot")[0] == 204 and r.wait_for(MARKER + " vmd", 2),
                           "PUT vm.boot boots the guest again")
                        ok(call(r.api, "PUT", "vm.boot")[0] == 500, "PUT vm.boot while running: 500")
                        ok(call(r.api, "PUT", "vm.reboot")[0] == 204 and r.wait_for(MARKER + " vmd", 3),
                           "PUT vm.reboot boots the guest again")
                        qemu = r.qemu_pid()
                        r.proc.kill()
                        r.proc.wait()
                        time.sleep(0.5)
                        ok(qemu is not None and not pid_alive(qemu), "kill -9 of the stand-in: QEMU dies with it")
        finally:
                r.kill()

        # E: a QEMU that dies unexpectedly ends the stand-in with a failure.
        r = Run(guest, workdir, "vme")
        try:
                if ok(r.wait_for(MARKER + " vme"), "E: guest boots", r.stderr()):
                        os.kill(r.qemu_pid(), signal.SIGKILL)
                        rc = r.wait_exit(30)
                        ok(rc not in (None, 0), "QEMU killed: the stand-in exits non-zero (%s)" % rc, r.stderr())
        finally:
                r.kill()


def main(argv):
        print("# cloud-hypervisor stand-in tests")
        test_grammar()
        if shutil.which(os.environ.get("CH_STANDIN_QEMU", "qemu-system-x86_64")) is None:
                skip("runs with a real guest", "qemu-system-x86_64 not found")
        else:
                guest, why = find_guest(argv)
                if guest is None:
                        skip("runs with a real guest", why)
                else:
                        workdir = tempfile.mkdtemp(prefix="ch-standin-test.")
                        try:
                                test_runs(guest, workdir)
                        finally:
                                shutil.rmtree(workdir, ignore_errors=True)
        print("1..%d" % counter)
        return 1 if failures else 0


if __name__ == "__main__":
        sys.exit(main(sys.argv))
