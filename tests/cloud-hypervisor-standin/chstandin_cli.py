# SPDX-License-Identifier: LGPL-2.1-or-later
"""Command-line grammar of the cloud-hypervisor STAND-IN (tests only, never installed).

This mirrors the command-line grammar of cloud-hypervisor v54 (cloud-hypervisor/src/main.rs:
clap definitions; vmm/src/config.rs: the `key=value,...` parsers and VmConfig::validate;
option_parser/src/lib.rs: OptionParser, Toggle, ByteSized) for the subset of options the
stand-in can honour by running QEMU. It was written from reading that code; it shares none.

parse_command_line(argv) -> StandinConfig, or raises CliError(exit_code, message):
  - exit code 2 for what clap rejects (unknown option, repeated single-valued option,
    missing value, VM options without --kernel, bad --seccomp value, no arguments),
  - exit code 1 for what cloud-hypervisor rejects after clap (bad key=value strings,
    malformed numbers/sizes/MACs, failed VmConfig validation), printed as its error chain.
Options and keys that cloud-hypervisor accepts but the stand-in cannot honour are refused
with a message that says so (exit 2 for options, 1 for keys), never silently ignored.
"""

import ipaddress
import re

VERSION = "54.0.0"          # the cloud-hypervisor release whose grammar this follows
PROG = "cloud-hypervisor"

DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MB = 512
MAX_SUPPORTED_CPUS = 8192   # x86_64 with KVM
VIRTIO_FS_TAG_LEN = 36
VIRTIO_MAX_QUEUE_SIZE = 32768
MINIMUM_BLOCK_QUEUE_SIZE = 2
DEFAULT_DISK_NUM_QUEUES = 1
DEFAULT_DISK_QUEUE_SIZE = 128
DEFAULT_NET_NUM_QUEUES = 2
DEFAULT_NET_QUEUE_SIZE = 256
DEFAULT_FS_NUM_QUEUES = 1
DEFAULT_FS_QUEUE_SIZE = 1024


class CliError(Exception):
        def __init__(self, exit_code, message):
                super().__init__(message)
                self.exit_code = exit_code
                self.message = message


# ---------------------------------------------------------------------------------------
# Errors shaped like cloud-hypervisor's: a clap usage error (exit 2) or an error chain
# printed by cli_print_error_chain (exit 1).

USAGE = "Usage: cloud-hypervisor [OPTIONS]"


def clap_error(text):
        return CliError(2, "error: %s\n\n%s\n\nFor more information, try '--help'.\n" % (text, USAGE))


def chain_error(*chain):
        chain = ("Error parsing config",) + chain
        lines = "".join("  %d: %s\n" % (i, e) for i, e in enumerate(chain))
        return CliError(1, "Error: Cloud Hypervisor exited with the following chain of errors:\n" + lines)


def top_error(message):
        return CliError(1, "Error: Cloud Hypervisor exited with the following error:\n  %s\n" % message)


class OptionError(Exception):
        """An OptionParserError (option_parser crate); str() is its Display text."""


# ---------------------------------------------------------------------------------------
# option_parser: "key=value,key=value" with "..." quoting and [...] nesting.

def split_commas(s):
        out, current, brackets, in_quotes = [], "", 0, False
        for c in s.strip():
                if c == '"':
                        in_quotes = not in_quotes
                elif in_quotes:
                        pass
                elif c == "[":
                        brackets += 1
                elif c == "]":
                        if brackets < 1:
                                raise OptionError("Invalid syntax: %s" % s)
                        brackets -= 1
                elif c == "," and brackets == 0:
                        out.append(current)
                        current = ""
                        continue
                current += c
        out.append(current)
        if in_quotes or brackets != 0:
                raise OptionError("Invalid syntax: %s" % s)
        return out


def dequote(s):
        out, prev, in_quotes = [], "", False
        for c in s:
                if c == '"':
                        if prev == '"' and not in_quotes:
                                out.append('"')
                        in_quotes = not in_quotes
                else:
                        out.append(c)
                prev = c
        return "".join(out)


class OptionParser:
        def __init__(self, keys=(), valueless=()):
                self.values = {}
                self.requires_value = {}
                for k in keys:
                        self.requires_value[k] = True
                for k in valueless:
                        self.requires_value[k] = False

        def parse(self, text, ignore_unknown=False):
                if not text.strip():
                        return
                for option in split_commas(text):
                        key, eq, value = option.partition("=")
                        if key not in self.requires_value:
                                if ignore_unknown:
                                        continue
                                raise OptionError("Unknown option: %s" % key)
                        if self.requires_value[key]:
                                if not eq:
                                        raise OptionError("Invalid syntax: %s" % option)
                                self.values[key] = value.strip()
                        else:
                                self.values[key] = ""

        def is_set(self, key):
                return key in self.values

        def get(self, key):
                v = self.values.get(key)
                if not v:
                        return None
                return dequote(v)

        def convert(self, key, conv):
                """conv(str) -> value or raises ValueError; None when unset or empty."""
                v = self.values.get(key)
                if not v:
                        return None
                try:
                        return conv(v)
                except ValueError:
                        raise OptionError("Unable to convert %s for %s" % (v, key)) from None


_RUST_UINT = re.compile(r"^\+?[0-9]+$")


def rust_uint(bits):
        """u8/u16/u32/u64/usize::from_str after dequote."""
        def conv(s):
                s = dequote(s)
                if not _RUST_UINT.match(s):
                        raise ValueError(s)
                n = int(s)
                if n >= 1 << bits:
                        raise ValueError(s)
                return n
        return conv


U8, U16, U32, U64 = rust_uint(8), rust_uint(16), rust_uint(32), rust_uint(64)


def toggle(s):
        v = s.lower()
        if v in ("", "off", "false"):
                return False
        if v in ("on", "true"):
                return True
        raise ValueError(s)


def byte_sized(s):
        s = dequote(s).strip()
        shift = 10 if s.endswith("K") else 20 if s.endswith("M") else 30 if s.endswith("G") else 0
        digits = s.rstrip("KMG")
        n = U64(digits)
        return (n << shift) & ((1 << 64) - 1)     # Rust's << drops the high bits


def mac_address(s):
        s = dequote(s)
        parts = s.split(":")
        if len(parts) != 6 or any(len(p) != 2 or not re.match(r"^[0-9a-fA-F]{2}$", p) for p in parts):
                raise ValueError(s)
        return s.lower()


def ipv4(s):
        s = dequote(s)
        try:
                return str(ipaddress.IPv4Address(s))
        except ipaddress.AddressValueError:
                raise ValueError(s) from None


def string(s):
        return dequote(s)


# ---------------------------------------------------------------------------------------
# The option value parsers. KEYS are exactly cloud-hypervisor's; HONOURED are those the
# stand-in translates for QEMU (or that only need validation).

PCI_OPTIONS = ("id", "pci_segment", "pci_device_id")
PCI_OPTIONS_IOMMU = ("id", "iommu", "pci_segment", "pci_device_id")


def refuse_unhonoured(p, option, honoured):
        for key in p.values:
                if key not in honoured:
                        raise chain_error("Error parsing --%s" % option,
                                          "key '%s' is valid for cloud-hypervisor but not implemented "
                                          "by the stand-in" % key)


def parse_with(option, keys, text, valueless=()):
        p = OptionParser(keys, valueless)
        try:
                p.parse(text)
        except OptionError as e:
                raise chain_error("Error parsing --%s" % option, str(e)) from None
        return p


def convert(p, option, key, conv, default=None):
        try:
                v = p.convert(key, conv)
        except OptionError as e:
                raise chain_error("Error parsing --%s" % option, str(e)) from None
        return default if v is None else v


def parse_cpus(text):
        keys = ("boot", "max", "topology", "kvm_hyperv", "max_phys_bits", "affinity", "features",
                "nested", "core_scheduling", "profile")
        p = parse_with("cpus", keys, text)
        boot = convert(p, "cpus", "boot", U32, DEFAULT_VCPUS)
        maxv = convert(p, "cpus", "max", U32, boot)
        convert(p, "cpus", "kvm_hyperv", toggle)
        convert(p, "cpus", "max_phys_bits", U8)
        convert(p, "cpus", "nested", toggle)
        refuse_unhonoured(p, "cpus", ("boot", "max", "kvm_hyperv", "max_phys_bits", "nested"))
        return {"boot_vcpus": boot, "max_vcpus": maxv}


def parse_memory(text):
        keys = ("size", "file", "mergeable", "hotplug_method", "hotplug_size", "hotplugged_size",
                "shared", "hugepages", "hugepage_size", "prefault", "reserve", "thp")
        p = parse_with("memory", keys, text)
        m = {
                "size": convert(p, "memory", "size", byte_sized, DEFAULT_MEMORY_MB << 20),
                "mergeable": convert(p, "memory", "mergeable", toggle, False),
                "shared": convert(p, "memory", "shared", toggle, False),
                "hugepages": convert(p, "memory", "hugepages", toggle, False),
                "hugepage_size": convert(p, "memory", "hugepage_size", byte_sized),
                "prefault": convert(p, "memory", "prefault", toggle, False),
                "thp": convert(p, "memory", "thp", toggle, True),
        }
        refuse_unhonoured(p, "memory", ("size", "mergeable", "shared", "hugepages", "hugepage_size",
                                        "prefault", "thp"))
        return m


def parse_fs(text):
        p = parse_with("fs", ("tag", "queue_size", "num_queues", "socket") + PCI_OPTIONS, text)
        tag = p.get("tag")
        if tag is None:
                raise chain_error("Error parsing --fs: tag missing")
        if len(tag.encode()) > VIRTIO_FS_TAG_LEN:
                raise chain_error("Error parsing --fs: max tag length is %d" % VIRTIO_FS_TAG_LEN)
        socket = p.get("socket")
        if socket is None:
                raise chain_error("Error parsing --fs: socket missing")
        fs = {
                "tag": tag,
                "socket": socket,
                "queue_size": convert(p, "fs", "queue_size", U16, DEFAULT_FS_QUEUE_SIZE),
                "num_queues": convert(p, "fs", "num_queues", U64, DEFAULT_FS_NUM_QUEUES),
                "id": p.get("id"),
        }
        refuse_unhonoured(p, "fs", ("tag", "socket", "queue_size", "num_queues", "id"))
        return fs


def parse_disk(text):
        keys = ("path", "readonly", "direct", "queue_size", "num_queues", "vhost_user", "socket",
                "bw_size", "bw_one_time_burst", "bw_refill_time", "ops_size", "ops_one_time_burst",
                "ops_refill_time", "_disable_io_uring", "_disable_aio", "serial", "rate_limit_group",
                "queue_affinity", "backing_files", "sparse", "image_type",
                "lock_granularity") + PCI_OPTIONS_IOMMU
        p = parse_with("disk", keys, text)
        d = {
                "path": p.get("path"),
                "readonly": convert(p, "disk", "readonly", toggle, False),
                "direct": convert(p, "disk", "direct", toggle, False),
                "queue_size": convert(p, "disk", "queue_size", U16, DEFAULT_DISK_QUEUE_SIZE),
                "num_queues": convert(p, "disk", "num_queues", U64, DEFAULT_DISK_NUM_QUEUES),
                "serial": p.get("serial"),
                "id": p.get("id"),
        }
        refuse_unhonoured(p, "disk", ("path", "readonly", "direct", "queue_size", "num_queues",
                                      "serial", "id"))
        if d["path"] is None:
                raise chain_error("Error parsing --disk",
                                  "the stand-in needs path= (vhost-user disks are not implemented)")
        return d


def parse_net(text):
        keys = ("tap", "ip", "mask", "mac", "host_mac", "offload_tso", "offload_ufo", "offload_csum",
                "mtu", "queue_size", "num_queues", "vhost_user", "socket", "vhost_mode", "fd",
                "bw_size", "bw_one_time_burst", "bw_refill_time", "ops_size", "ops_one_time_burst",
                "ops_refill_time") + PCI_OPTIONS_IOMMU
        p = parse_with("net", keys, text)
        n = {
                "tap": p.get("tap"),
                "ip": convert(p, "net", "ip", ipv4),
                "mask": convert(p, "net", "mask", ipv4),
                "mac": convert(p, "net", "mac", mac_address),
                "host_mac": convert(p, "net", "host_mac", mac_address),
                "offload_tso": convert(p, "net", "offload_tso", toggle, True),
                "offload_ufo": convert(p, "net", "offload_ufo", toggle, True),
                "offload_csum": convert(p, "net", "offload_csum", toggle, True),
                "mtu": convert(p, "net", "mtu", U16),
                "queue_size": convert(p, "net", "queue_size", U16, DEFAULT_NET_QUEUE_SIZE),
                "num_queues": convert(p, "net", "num_queues", U64, DEFAULT_NET_NUM_QUEUES),
                "id": p.get("id"),
        }
        refuse_unhonoured(p, "net", ("tap", "mac", "offload_tso", "offload_ufo", "offload_csum", "mtu",
                                     "queue_size", "num_queues", "id"))
        if n["tap"] is None:
                raise chain_error("Error parsing --net",
                                  "the stand-in needs tap= (an existing tap; it creates none)")
        return n


CONSOLE_VALUELESS = ("off", "pty", "tty", "null")
CONSOLE_VALUE = ("file", "socket")


# The stand-in has no vsock device (no vhost-vsock on the test machines): it carries a
# guest's connections to the host's port GUEST_VSOCK_PORT (microvmd's guest channel) only,
# over a virtio-serial port named GUEST_VSOCK_PORT_NAME, to the unix socket
# "SOCKET_PORT" as cloud-hypervisor's hybrid vsock would (see README.md).
GUEST_VSOCK_PORT = 1024
GUEST_VSOCK_PORT_NAME = "org.microvm.guest"
# CIDs 0 (hypervisor), 1 (local), 2 (host) and -1 (any) cannot be a guest's.
VSOCK_SPECIAL_CIDS = (0, 1, 2, 0xFFFFFFFF)


def parse_vsock(text):
        p = parse_with("vsock", ("socket", "cid") + PCI_OPTIONS_IOMMU, text)
        socket = p.get("socket")
        if socket is None:
                raise chain_error("Error parsing --vsock: socket missing")
        cid = convert(p, "vsock", "cid", U32)
        if cid is None:
                raise chain_error("Error parsing --vsock: cid missing")
        iommu = convert(p, "vsock", "iommu", toggle, False)
        refuse_unhonoured(p, "vsock", ("socket", "cid", "id", "iommu"))
        if iommu:
                raise chain_error("Error parsing --vsock", "iommu is not implemented by the stand-in")
        return {"cid": cid, "socket": socket, "id": p.get("id")}


def parse_console_common(option, text, extra_keys):
        p = parse_with(option, CONSOLE_VALUE + extra_keys, text, valueless=CONSOLE_VALUELESS)
        c = {"mode": None, "file": None, "socket": None}
        for mode in ("off", "pty", "tty", "null"):
                if p.is_set(mode):
                        c["mode"] = mode.capitalize()
                        break
        else:
                if p.is_set("file"):
                        c["mode"] = "File"
                        c["file"] = p.get("file")
                        if c["file"] is None:
                                raise chain_error("Error validating configuration",
                                                  "Path missing when using file console mode")
                elif p.is_set("socket"):
                        c["mode"] = "Socket"
                        c["socket"] = p.get("socket")
                        if c["socket"] is None:
                                raise chain_error("Error validating configuration",
                                                  "Path missing when using socket console mode")
                else:
                        raise chain_error("Error parsing --%s: invalid console mode given" % option)
        return p, c


def parse_console(text):
        p, c = parse_console_common("console", text, PCI_OPTIONS_IOMMU)
        c["iommu"] = convert(p, "console", "iommu", toggle, False)
        refuse_unhonoured(p, "console", CONSOLE_VALUELESS + CONSOLE_VALUE + ("id", "iommu"))
        if c["iommu"]:
                raise chain_error("Error parsing --console", "iommu is not implemented by the stand-in")
        c["id"] = p.get("id")
        return c


def parse_serial(text):
        return parse_console_common("serial", text, ())[1]


# ---------------------------------------------------------------------------------------
# clap: the long options, their kind, and those the stand-in refuses.

SET, APPEND, FLAG, COUNT = "set", "append", "flag", "count"

OPTIONS = {
        "api-socket": SET, "cmdline": SET, "console": SET, "cpus": SET, "disk": APPEND,
        "event-monitor": SET, "fs": APPEND, "initramfs": SET, "kernel": SET, "memory": SET,
        "net": APPEND, "seccomp": SET, "serial": SET, "version": FLAG, "vsock": SET, "watchdog": FLAG,
        "help": FLAG,
}
SHORT = {"v": "v", "V": "version", "h": "help"}

# Accepted by cloud-hypervisor v54, not by the stand-in.
NOT_IMPLEMENTED = (
        "balloon", "debug-console", "device", "firmware", "generic-vhost-user", "landlock",
        "landlock-rules", "log-file", "log-format", "memory-zone", "no-shutdown", "numa",
        "pci-segment", "platform", "pmem", "pvpanic", "rate-limit-group", "restore", "rng", "rtc",
        "tpm", "user-device", "vdpa", "dbus-object-path", "dbus-service-name",
        "dbus-system-bus", "gdb", "igvm", "host-data", "ivshmem", "fw-cfg-config",
        "pvmemcontrol",
)

# clap's ArgGroup "vm-config" (requires "vm-payload" = --kernel/--firmware).
VM_CONFIG_GROUP = ("cmdline", "console", "cpus", "disk", "fs", "initramfs", "memory", "net",
                   "serial", "vsock", "watchdog")

SECCOMP_VALUES = ("true", "false", "log", "errno")

DEFAULTS = {"cpus": "boot=%d,max_phys_bits=46" % DEFAULT_VCPUS,
            "memory": "size=%dM" % DEFAULT_MEMORY_MB,
            "console": "tty", "serial": "null", "seccomp": "true"}

HELP = """Launch a cloud-hypervisor VMM. (STAND-IN for tests: runs the guest with QEMU/TCG.)

Usage: cloud-hypervisor [OPTIONS]

Options (the subset of cloud-hypervisor v%s that this stand-in implements):
      --api-socket <api-socket>        HTTP API socket (UNIX domain socket): path=<path> or fd=<fd>.
      --cmdline <cmdline>              Kernel command line
      --console <console>              Virtio console: off|null|pty|tty|file=</path/to/a/file>|socket=</path/to/a/socket> [default: tty]
      --cpus <cpus>                    boot=<boot_vcpus>,max=<max_vcpus> [default: boot=1]
      --disk <disk>...                 path=<disk_image_path>,readonly=on|off,direct=on|off,num_queues=<n>,queue_size=<n>,serial=<s>,id=<id>
      --event-monitor <event-monitor>  Path to report events on: path=<path> or fd=<fd>
      --fs <fs>...                     tag=<tag_name>,socket=<socket_path>,num_queues=<n>,queue_size=<n>,id=<id>
      --initramfs <initramfs>          Path to initramfs image
      --kernel <kernel>                Path to kernel to load
      --memory <memory>                size=<guest_memory_size>,shared=on|off,hugepages=on|off,hugepage_size=<size>,mergeable=on|off,prefault=on|off,thp=on|off [default: size=512M]
      --net <net>...                   tap=<if_name>,mac=<mac_addr>,num_queues=<n>,queue_size=<n>,mtu=<mtu>,id=<id>
      --seccomp <seccomp>              [default: true] [possible values: true, false, log, errno]
      --serial <serial>                off|null|pty|tty|file=</path/to/a/file>|socket=</path/to/a/socket> [default: null]
  -v...                                Sets the level of debugging output
  -V, --version                        Print version
      --vsock <vsock>                  cid=<context_id>,socket=<socket_path>,id=<device_id> (the stand-in carries guest connections to host port %d only)
      --watchdog                       Enable a watchdog device
  -h, --help                           Print help
""" % (VERSION, GUEST_VSOCK_PORT)


class HelpRequested(Exception):
        pass


def _arg_name(opt):
        return "--%s <%s>" % (opt, opt)


def clap_parse(argv):
        """Returns {option: value | [values] | True | count}; raises CliError / HelpRequested."""
        if not argv:
                raise CliError(2, HELP)
        m = {}
        i = 0

        def take(opt, value):
                kind = OPTIONS[opt]
                if kind == SET:
                        if opt in m:
                                raise clap_error("the argument '%s' cannot be used multiple times" % _arg_name(opt))
                        m[opt] = value
                elif kind == APPEND:
                        m.setdefault(opt, []).append(value)

        while i < len(argv):
                arg = argv[i]
                i += 1
                if arg == "--":
                        if i < len(argv):
                                raise clap_error("unexpected argument '%s' found" % argv[i])
                        break
                if arg.startswith("--"):
                        name, eq, inline = arg[2:].partition("=")
                        if name in NOT_IMPLEMENTED:
                                raise clap_error("'--%s' is a cloud-hypervisor option the stand-in does "
                                                 "not implement" % name)
                        if name not in OPTIONS:
                                raise clap_error("unexpected argument '--%s' found" % name)
                        kind = OPTIONS[name]
                        if name == "help":
                                raise HelpRequested()
                        if kind == FLAG:
                                if eq:
                                        raise clap_error("unexpected value '%s' for '--%s' found; no more "
                                                         "were expected" % (inline, name))
                                if name in m:
                                        raise clap_error("the argument '--%s' cannot be used multiple times" % name)
                                m[name] = True
                                continue
                        if eq:
                                take(name, inline)
                        else:
                                if i >= len(argv) or (argv[i].startswith("-") and len(argv[i]) > 1):
                                        raise clap_error("a value is required for '%s' but none was "
                                                         "supplied" % _arg_name(name))
                                take(name, argv[i])
                                i += 1
                        if kind == APPEND:
                                # num_args(1..): further values up to the next option.
                                while i < len(argv) and not (argv[i].startswith("-") and len(argv[i]) > 1):
                                        take(name, argv[i])
                                        i += 1
                        if name == "seccomp" and m[name] not in SECCOMP_VALUES:
                                raise clap_error("invalid value '%s' for '--seccomp <seccomp>'\n  [possible "
                                                 "values: %s]" % (m[name], ", ".join(SECCOMP_VALUES)))
                        continue
                if arg.startswith("-") and len(arg) > 1:
                        for ch in arg[1:]:
                                if ch not in SHORT:
                                        raise clap_error("unexpected argument '-%s' found" % ch)
                                name = SHORT[ch]
                                if name == "help":
                                        raise HelpRequested()
                                if name == "v":
                                        m["v"] = m.get("v", 0) + 1
                                elif name in m:
                                        raise clap_error("the argument '-%s' cannot be used multiple times" % ch)
                                else:
                                        m[name] = True
                        continue
                raise clap_error("unexpected argument '%s' found" % arg)

        if any(o in m for o in VM_CONFIG_GROUP) and "kernel" not in m:
                raise clap_error("the following required arguments were not provided:\n  "
                                 "<--firmware <firmware>|--kernel <kernel>>")
        return m


def parse_api_socket(value):
        """As main.rs parse_api_socket(): errors of the key parser are ignored, so a bare
        path is taken as the path; only a non-numeric fd is an error."""
        p = OptionParser(("path", "fd"))
        try:
                p.parse(value)
        except OptionError:
                pass
        fd = p.get("fd")
        if fd is not None:
                if not re.match(r"^[+-]?[0-9]+$", fd) or not -(1 << 31) <= int(fd) < 1 << 31:
                        raise CliError(1, "Error: Cloud Hypervisor exited with the following chain of "
                                          "errors:\n  0: Error parsing --api-socket\n"
                                          "  1: invalid digit found in string\n")
                return None, int(fd)
        path = p.get("path")
        if path is not None:
                return path, None
        return value, None


def parse_event_monitor(value):
        p = OptionParser(("path", "fd"))
        try:
                p.parse(value)
                if p.is_set("fd"):
                        return None, p.convert("fd", U32)
        except OptionError as e:
                raise CliError(1, "Error: Cloud Hypervisor exited with the following chain of errors:\n"
                                  "  0: Error parsing --event-monitor\n  1: %s\n" % e) from None
        if p.is_set("path"):
                return p.get("path"), None
        raise top_error("Error parsing --event-monitor: path or fd required")


class StandinConfig(dict):
        """The parsed command line: vmm-level settings plus `vm` (None without a payload),
        shaped like cloud-hypervisor's VmConfig JSON (vm.info's `config`)."""


def validate_vm(vm):
        def fail(message):
                raise chain_error("Error validating configuration", message)

        cpus, mem = vm["cpus"], vm["memory"]
        if cpus["boot_vcpus"] == 0:
                # cloud-hypervisor fails later, when it creates the vCPUs; say it early.
                fail("the stand-in needs at least one boot vCPU")
        if cpus["max_vcpus"] < cpus["boot_vcpus"]:
                fail("Max CPUs (%d) lower than boot CPUs (%d)" % (cpus["max_vcpus"], cpus["boot_vcpus"]))
        if cpus["max_vcpus"] > MAX_SUPPORTED_CPUS:
                fail("Too many CPUs: specified %d but %d is the limit" % (cpus["max_vcpus"], MAX_SUPPORTED_CPUS))
        if mem["size"] == 0:
                fail("the stand-in needs a memory size above 0 (memory zones are not implemented)")
        shared = mem["shared"] or mem["hugepages"]
        ids = set()

        def identifier(i):
                if i is None:
                        return
                if i.startswith("__"):
                        fail("Identifier %s is not valid" % i)
                if i in ids:
                        fail("Identifier %s is not unique" % i)
                ids.add(i)

        def queue_size(q):
                if q == 0 or q & (q - 1):
                        fail("Queue size must be a power of 2 no greater than %d: %d" % (VIRTIO_MAX_QUEUE_SIZE, q))

        for d in vm["disks"]:
                if d["num_queues"] > cpus["boot_vcpus"]:
                        fail("Queue count (%d) must not exceed boot vCPUs (%d)" % (d["num_queues"], cpus["boot_vcpus"]))
                queue_size(d["queue_size"])
                if d["queue_size"] <= MINIMUM_BLOCK_QUEUE_SIZE:
                        fail("Block queue size must be greater than %d: %d" % (MINIMUM_BLOCK_QUEUE_SIZE, d["queue_size"]))
                if d["serial"] is not None and len(d["serial"]) > 20:
                        fail("Block device serial length (%d) exceeds maximum allowed length (20)" % len(d["serial"]))
                identifier(d["id"])
        for n in vm["net"]:
                if n["num_queues"] < 2:
                        fail("Number of queues (%d) to virtio_net should be higher than 2" % n["num_queues"])
                if n["num_queues"] // 2 > cpus["boot_vcpus"]:
                        fail("Queue count (%d) must not exceed boot vCPUs (%d)" % (n["num_queues"], cpus["boot_vcpus"]))
                queue_size(n["queue_size"])
                if n["mtu"] is not None and n["mtu"] < 1280:
                        fail("Provided MTU %d is lower than 1280 (minimum MTU for IPv6)" % n["mtu"])
                if not n["offload_csum"] and (n["offload_tso"] or n["offload_ufo"]):
                        fail('"offload_tso" and "offload_ufo" depend on "offload_csum"')
                identifier(n["id"])
        if vm["fs"] and not shared:
                fail("Using vhost-user requires using shared memory or huge pages")
        for f in vm["fs"]:
                if f["num_queues"] > cpus["boot_vcpus"]:
                        fail("Queue count (%d) must not exceed boot vCPUs (%d)" % (f["num_queues"], cpus["boot_vcpus"]))
                queue_size(f["queue_size"])
                identifier(f["id"])
        identifier(vm["console"].get("id"))
        if vm["vsock"] is not None:
                if vm["vsock"]["cid"] in VSOCK_SPECIAL_CIDS:
                        fail("%d is a special VSOCK CID" % vm["vsock"]["cid"])
                identifier(vm["vsock"]["id"])
        if mem["hugepage_size"] is not None:
                if not mem["hugepages"]:
                        fail("Huge page size specified but huge pages not enabled")
                if mem["hugepage_size"] & (mem["hugepage_size"] - 1):
                        fail("Huge page size is not power of 2: %d" % mem["hugepage_size"])
        if mem["shared"] and mem["mergeable"]:
                fail("Invalid to set both 'mergeable' and 'shared' for memory")


def parse_command_line(argv):
        """argv without the program name. Returns a StandinConfig; raises CliError (with
        exit_code and the message to print on stderr) or HelpRequested (print HELP, exit 0)."""
        m = clap_parse(argv)
        cfg = StandinConfig()
        cfg["version"] = bool(m.get("version"))
        cfg["verbosity"] = m.get("v", 0)
        if cfg["version"]:
                return cfg
        cfg["seccomp"] = m.get("seccomp", DEFAULTS["seccomp"])
        cfg["api_socket_path"], cfg["api_socket_fd"] = (parse_api_socket(m["api-socket"])
                                                         if "api-socket" in m else (None, None))
        cfg["event_monitor_path"], cfg["event_monitor_fd"] = (parse_event_monitor(m["event-monitor"])
                                                               if "event-monitor" in m else (None, None))
        cfg["vm"] = None
        if "kernel" not in m:
                return cfg

        # VmConfig::parse order: disks, net, fs, console, serial, then cpus and memory.
        vm = {}
        vm["disks"] = [parse_disk(v) for v in m.get("disk", [])]
        vm["net"] = [parse_net(v) for v in m.get("net", [])]
        vm["fs"] = [parse_fs(v) for v in m.get("fs", [])]
        vm["console"] = parse_console(m.get("console", DEFAULTS["console"]))
        vm["serial"] = parse_serial(m.get("serial", DEFAULTS["serial"]))
        vm["vsock"] = parse_vsock(m["vsock"]) if "vsock" in m else None
        vm["cpus"] = parse_cpus(m.get("cpus", DEFAULTS["cpus"]))
        vm["memory"] = parse_memory(m.get("memory", DEFAULTS["memory"]))
        vm["payload"] = {"kernel": m["kernel"]}
        if "initramfs" in m:
                vm["payload"]["initramfs"] = m["initramfs"]
        if "cmdline" in m:
                vm["payload"]["cmdline"] = m["cmdline"]
        vm["watchdog"] = bool(m.get("watchdog"))
        validate_vm(vm)
        cfg["vm"] = vm
        return cfg
