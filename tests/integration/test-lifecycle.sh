#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the VM lifecycle: microvmd installed into a disposable container
# that boots a real systemd, VMs booting the real test guest (tests/guest: Debian's cloud
# kernel and a busybox initramfs) for real. Users: alice and carol in the group microvm,
# bob in neither.
#
# Usage: tests/integration/test-lifecycle.sh [--cloud-hypervisor] [BUILD_DIR]
#
#   (default)           QEMU under TCG (the container has no /dev/kvm).
#   --cloud-hypervisor  the same lifecycle against the cloud-hypervisor STAND-IN
#                       (tests/cloud-hypervisor-standin, copied into the container only,
#                       never installed), with a null device node as the container's
#                       /dev/kvm so microvmd's KVM check passes; the stand-in never opens
#                       it and runs QEMU under TCG. test-lifecycle-ch.sh runs this.
#
# BUILD_DIR (default: build/) must be configured with
#     --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# The test guest is built into BUILD_DIR/test-guest (nothing is rebuilt while it is
# up to date) and copied into the container's /usr/local/lib/microvm-tests/guest, which
# the container's microvmd.conf names ([Guest]; small VMs: 1 vCPU, 512 MiB). Exit status: 0 all checks passed, 1 a check failed, 77 a container
# cannot run here. TEST_VERBOSE=1 prints the output of passing checks too.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)

TIER=qemu
if [[ ${1:-} == --cloud-hypervisor ]]; then
        TIER=cloud-hypervisor
        shift
fi
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")
GUEST_DIR=$BUILD_DIR/test-guest
TEST_NAME=test-lifecycle
[[ $TIER == qemu ]] || TEST_NAME=test-lifecycle-ch

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

E_ALREADY_RUNNING=org.microvm.Error.AlreadyRunning
E_NOT_RUNNING=org.microvm.Error.NotRunning
E_KERNEL_NOT_FOUND=org.microvm.Error.KernelNotFound

STANDIN_DIR=/usr/local/lib/microvm-tests
# Not /var/lib/microvm/guest, where microvm-guest.service builds the real guest.
GUEST_INSTALL_DIR=$STANDIN_DIR/guest
STANDIN=$STANDIN_DIR/cloud-hypervisor-standin
MEMORY_MIB=512
# Under TCG the guest boots in seconds; these leave room for a slow CI machine.
START_TIMEOUT=180
STOP_TIMEOUT=150        # [Hypervisor] StopTimeoutSec=60, plus systemd's stop
VERB_TIMEOUT=$((START_TIMEOUT + STOP_TIMEOUT))  # a hung client fails, never hangs the test
BOOT_TIMEOUT=90         # start returned -> marker and file in the workspace

MARK_BOOTED="microvm-test-guest: booted"
MARK_POWER_BUTTON="microvm-test-guest: power button, shutting down"
MARK_LISTENING="microvm-test-guest: waiting for the power button"

# Things the checks could not test the intended way (e.g. a client command missing),
# collected across the checks' subshells and printed at the end.
NOTES_FILE=$(mktemp /tmp/microvm-notes.XXXXXXXX)

# ---------------------------------------------------------------- helpers

unit_prop() {
        in_container systemctl show -p "$2" --value "$(unit_of "$1")"
}

expect_state() {
        local name=$1 expected=$2 timeout=${3:-0} actual
        if ((timeout > 0)); then
                wait_until "$timeout" state_is "$name" "$expected" || true
        fi
        actual=$(vm_prop "$name" State)
        expect_eq "State of $name" "$actual" "$expected"
}

# The units of a VM that systemd still knows (hypervisor, virtiofsd sockets and services).
vm_units() {
        in_container systemctl list-units --all --plain --no-legend "microvm-$1.service" "microvm-$1-*"
}

no_vm_units() {
        [[ -z $(vm_units "$1") ]]
}

expect_vm_gone() {
        local name=$1
        if ! wait_until 20 no_vm_units "$name"; then
                vm_units "$name" | sed 's/^/    left: /'
                fail "units of $name are left"
        fi
        in_container test ! -e "/run/microvm/$name" || fail "/run/microvm/$name is left"
        expect_eq "MainPID of $name" "$(vm_prop "$name" MainPID)" 0
}

# Each run of a VM is one invocation of its hypervisor unit; its serial console lines
# carry the invocation ID, so a run's log never mixes with an earlier run's.
run_id() {
        unit_prop "$1" InvocationID
}

# expect_run_log RUN_ID WHAT TEXT [SECONDS]: TEXT appears in the run's log.
expect_run_log() {
        local id=$1 what=$2 text=$3 timeout=${4:-15}
        if ! wait_until "$timeout" run_has "$id" "$text"; then
                echo "  the last lines of $what (invocation $id):"
                run_log "$id" | tail -n 25 | sed 's/^/    | /'
                fail "'$text' did not appear in the log of $what within $timeout s"
        fi
}

# A power button pressed while the guest still boots is lost (its init does not listen
# yet), as on any machine: graceful stops wait until the guest says it listens.
wait_guest_listens() {
        local name=$1
        expect_run_log "$(run_id "$name")" "the run of $name" "$MARK_LISTENING" "$BOOT_TIMEOUT"
}

client_has() {
        as_user alice microvm-client --help 2>/dev/null | grep -E "^  $1( |\$)" >/dev/null
}

# vm_verb USER VERB NAME: microvm-client VERB NAME, or the D-Bus method when the client
# has no such command yet (noted; the checks of the client commands themselves fail).
vm_verb() {
        local user=$1 verb=$2 name=$3 method
        if client_has "$verb"; then
                in_container timeout "$VERB_TIMEOUT" runuser -u "$user" -- \
                        microvm-client --no-ask-password "$verb" "$name"
                return
        fi
        case $verb in
        start) method=StartVM ;;
        stop) method=StopVM ;;
        restart) method=RestartVM ;;
        *) fail "no D-Bus method for '$verb'" ;;
        esac
        note "microvm-client has no '$verb' command; used $MIFACE.$method over D-Bus instead"
        GCALL_TIMEOUT=$VERB_TIMEOUT gcall "$user" "$MPATH" "$MIFACE.$method" "'$name'" "{}" >/dev/null
}

# timed_verb SECONDS USER VERB NAME: vm_verb within SECONDS; says how long it took.
timed_verb() {
        local limit=$1 start=$SECONDS rc=0
        shift
        vm_verb "$@" || rc=$?
        echo "  $1: $2 $3 -> exit $rc after $((SECONDS - start)) s"
        ((rc == 0)) || fail "$1: $2 $3 failed (exit $rc)"
        ((SECONDS - start <= limit)) || fail "$1: $2 $3 took longer than $limit s"
}

# expect_dbus_error 'ERROR1|ERROR2' USER PATH METHOD ARGS...
expect_dbus_error() {
        local expected=$1 user=$2 out rc=0
        shift 2
        out=$(GCALL_TIMEOUT=$STOP_TIMEOUT gcall "$user" "$@" 2>&1) || rc=$?
        ((rc != 0)) || fail "$* as $user succeeded ($out), expected $expected"
        local re="(${expected//./\\.})"
        [[ $out =~ $re ]] || fail "$* as $user: expected $expected, got: $out"
        echo "  $user: ${2##*.}(${*:3}) -> ${out#Error: }"
}

guest_file() {
        echo "$WS/$1/guest-was-here"
}

guest_file_is_there() {
        [[ $(in_container head -n 1 "$(guest_file "$1")" 2>/dev/null) == "$1" ]]
}

expect_guest_file() {
        local name=$1 file content
        file=$(guest_file "$name")
        if ! wait_until "$BOOT_TIMEOUT" guest_file_is_there "$name"; then
                in_container ls -la "$WS/$name" | sed 's/^/    /'
                fail "$file did not appear with first line '$name' within $BOOT_TIMEOUT s"
        fi
        content=$(in_container cat "$file")
        echo "  $file: $(tr '\n' ' ' <<<"$content")"
        expect_eq "line 1 of $file" "$(head -n 1 <<<"$content")" "$name"
}

# The hypervisor runs, as microvm-vmm, and the VM says running with its PID.
expect_running() {
        local name=$1 pid unit_pid user
        expect_state "$name" running
        expect_eq "systemctl is-active $(unit_of "$name")" \
                "$(in_container systemctl is-active "$(unit_of "$name")")" active
        pid=$(vm_prop "$name" MainPID)
        unit_pid=$(unit_prop "$name" MainPID)
        [[ $pid =~ ^[1-9][0-9]*$ ]] || fail "MainPID of $name is '$pid'"
        expect_eq "MainPID of $name (VM property vs. unit)" "$pid" "$unit_pid"
        # (a plain "user=" column shows the uid when the name is wider than 8)
        user=$(in_container ps -o user:32= -p "$pid") || fail "no process $pid"
        user=${user%% *}
        expect_eq "user of the hypervisor (PID $pid)" "$user" "$(vmm_uid "$name")"
}

# ---------------------------------------------------------------- checks

t_setup() {
        local out u
        in_container useradd -m -s /bin/bash -G microvm alice
        in_container useradd -m -s /bin/bash -G microvm carol
        in_container useradd -m -s /bin/bash bob
        for u in alice carol; do
                as_user "$u" mkdir -p -m 0700 "/home/$u/.ssh"
                as_user "$u" ssh-keygen -q -t ed25519 -N '' -C "$u@test" -f "/home/$u/.ssh/id_ed25519"
        done
        # second has a (sparse, never formatted) volume: its image is another VM's file.
        out=$(client alice create myvm 2>&1) || fail "alice: create myvm failed: $out"
        out=$(client alice create second --volume 1G 2>&1) || fail "alice: create second failed: $out"
        expect_state myvm stopped
        expect_state second stopped
        # The container's config file is in effect: small VMs.
        expect_eq "VCPUs of myvm" "$(vm_prop myvm VCPUs)" 1
        expect_eq "MemoryMiB of myvm" "$(vm_prop myvm MemoryMiB)" "$MEMORY_MIB"
        in_container ls -l "$GUEST_INSTALL_DIR"
}

t_hypervisor_property() {
        expect_eq "Hypervisor of myvm (stopped: the one a start would use)" \
                "$(vm_prop myvm Hypervisor)" "$TIER"
        expect_eq "Unit of myvm" "$(vm_prop myvm Unit)" "$(unit_of myvm)"
        expect_eq "MainPID of myvm" "$(vm_prop myvm MainPID)" 0
        expect_eq "FailureReason of myvm" "$(vm_prop myvm FailureReason)" ""
}

t_alice_starts() {
        local out
        client_has start || fail "microvm-client has no 'start' command"
        timed_verb "$START_TIMEOUT" alice start myvm
        expect_running myvm
        expect_eq "Hypervisor of the running myvm" "$(vm_prop myvm Hypervisor)" "$TIER"
        [[ $(vm_prop myvm StartedAt) =~ ^[1-9][0-9]+$ ]] || fail "StartedAt is $(vm_prop myvm StartedAt)"
        out=$(in_container systemctl show -p ProtectSystem,NoNewPrivileges,Slice,CapabilityBoundingSet "$(unit_of myvm)")
        sed 's/^/  /' <<<"$out"
        grep -qx ProtectSystem=strict <<<"$out" || fail "ProtectSystem is not strict"
        grep -qx NoNewPrivileges=yes <<<"$out" || fail "NoNewPrivileges is not yes"
        # setpriv becomes the VM's uid; the process has no capability left (checked below).
        [[ $(unit_prop myvm ExecStart) == *"setpriv --reuid=$(vmm_uid myvm) --regid=$(vmm_uid myvm) "* ]] ||
                fail "the hypervisor is not started as myvm's own uid $(vmm_uid myvm)"
        grep -qx Slice=microvm.slice <<<"$out" || fail "Slice is not microvm.slice"
        out=$(in_container grep -E '^Cap(Eff|Prm):' "/proc/$(vm_prop myvm MainPID)/status")
        sed 's/^/  hypervisor: /' <<<"$out"
        grep -qx $'CapPrm:\t0000000000000000' <<<"$out" || fail "the hypervisor has capabilities"
        out=$(in_container stat -c '%u:%g %a' /run/microvm/myvm)
        expect_eq "owner and mode of /run/microvm/myvm" "$out" "$(vmm_uid myvm):$(vmm_uid myvm) 700"
        out=$(in_container systemctl show -p ProtectProc,PrivateIPC,ProtectClock,RestrictNamespaces,SystemCallArchitectures \
                "$(unit_of myvm)")
        sed 's/^/  /' <<<"$out"
        grep -qx ProtectProc=invisible <<<"$out" || fail "ProtectProc is not invisible"
        grep -qx PrivateIPC=yes <<<"$out" || fail "PrivateIPC is not yes"
}

t_standin_process() {
        local pid out umask sock
        pid=$(vm_prop myvm MainPID)
        out=$(in_container cat "/proc/$pid/cmdline" | tr '\0' ' ')
        echo "  PID $pid: $out"
        [[ $out == *"$STANDIN "* ]] || fail "MainPID $pid is not the stand-in"
        umask=$(in_container sed -n 's/^Umask:[[:space:]]*//p' "/proc/$pid/status")
        expect_eq "umask of the stand-in" "$umask" 0077
        sock=/run/microvm/myvm/api.sock
        out=$(in_container stat -c '%F %u %A' "$sock") || fail "$sock does not exist"
        echo "  $sock: $out"
        [[ $out == "socket $(vmm_uid myvm) s"???------ ]] ||
                fail "$sock: expected a socket of uid $(vmm_uid myvm), owner-only; got $out"
        out=$(unit_prop myvm ExecStart)
        echo "  ExecStart: $out"
        [[ $out == *"--api-socket path=$sock "* ]] || fail "ExecStart lacks '--api-socket path=$sock'"
        [[ $out == *"--memory size=${MEMORY_MIB}M,shared=on "* ]] ||
                fail "ExecStart lacks '--memory size=${MEMORY_MIB}M,shared=on'"
        # cloud-hypervisor answers on its API socket; the stand-in as it does.
        out=$(in_container setpriv --reuid="$(vmm_uid myvm)" --regid="$(vmm_uid myvm)" --clear-groups python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n")
data = b""
try:
    while b"Running" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.decode(errors="replace"))' "$sock")
        head -n 1 <<<"$out" | sed 's/^/  vm.info: /'
        [[ $out == "HTTP/1.1 200"* ]] || fail "GET vm.info: $out"
        [[ $out == *'"state":"Running"'* || $out == *'"state": "Running"'* ]] || fail "vm.info: not Running: $out"
}

t_logs_marker() {
        local out
        if client_has logs; then
                alice_logs() {
                        in_container timeout 20 runuser -u alice -- microvm-client --no-ask-password logs myvm
                }
                has_marker() {
                        alice_logs 2>&1 | grep -F "$MARK_BOOTED myvm" >/dev/null
                }
                if ! wait_until "$BOOT_TIMEOUT" has_marker; then
                        out=$(alice_logs 2>&1)
                        tail -n 20 <<<"$out" | sed 's/^/    | /'
                        fail "'$MARK_BOOTED myvm' did not appear in 'microvm-client logs myvm'"
                fi
                alice_logs | grep -F microvm-test-guest
        else
                note "microvm-client has no 'logs' command; looked in journalctl -u $(unit_of myvm) as root instead"
                expect_run_log "$(run_id myvm)" "the run of myvm" "$MARK_BOOTED myvm" "$BOOT_TIMEOUT"
                in_container journalctl -u "$(unit_of myvm)" -o cat --no-pager | grep -F microvm-test-guest
                fail "microvm-client has no 'logs' command (the marker is in the unit's journal)"
        fi
}

t_workspace_file() {
        expect_guest_file myvm
}

t_already_running() {
        local pid rc=0
        pid=$(vm_prop myvm MainPID)
        expect_dbus_error "$E_ALREADY_RUNNING" alice "$MPATH" "$MIFACE.StartVM" "'myvm'" "{}"
        expect_dbus_error "$E_ALREADY_RUNNING" alice "$(vm_path myvm)" "$VMIFACE.Start" "{}"
        if client_has start; then
                client alice start myvm || rc=$?
                ((rc != 0)) || fail "microvm-client start of the running myvm succeeded"
                echo "  microvm-client start myvm (running) -> exit $rc"
        fi
        expect_running myvm
        expect_eq "MainPID of myvm" "$(vm_prop myvm MainPID)" "$pid"
}

# client_refused USER VERB NAME: microvm-client says "not authorized" (exit status 4).
client_refused() {
        local user=$1 verb=$2 name=$3 rc=0 err
        client_has "$verb" || return 0
        err=$(client "$user" "$verb" "$name" 2>&1 >/dev/null) || rc=$?
        echo "  $user: microvm-client $verb $name -> exit $rc: $err"
        expect_eq "exit status of '$user: microvm-client $verb $name'" "$rc" 4
}

t_others_refused() {
        local pid
        pid=$(vm_prop myvm MainPID)
        # bob, in no group, can neither stop the running myvm nor start the stopped second.
        expect_dbus_error "$E_REFUSED" bob "$MPATH" "$MIFACE.StopVM" "'myvm'" "{}"
        expect_dbus_error "$E_REFUSED" bob "$(vm_path myvm)" "$VMIFACE.Stop" "{'force': <true>}"
        expect_dbus_error "$E_REFUSED" bob "$MPATH" "$MIFACE.RestartVM" "'myvm'" "{}"
        expect_dbus_error "$E_REFUSED" bob "$MPATH" "$MIFACE.StartVM" "'second'" "{}"
        expect_dbus_error "$E_REFUSED" bob "$(vm_path second)" "$VMIFACE.Start" "{}"
        client_refused bob stop myvm
        client_refused bob start second
        # carol, in the group microvm, cannot act on alice's VMs either.
        expect_dbus_error "$E_REFUSED" carol "$MPATH" "$MIFACE.StopVM" "'myvm'" "{}"
        expect_dbus_error "$E_REFUSED" carol "$(vm_path myvm)" "$VMIFACE.Stop" "{'force': <true>}"
        expect_dbus_error "$E_REFUSED" carol "$MPATH" "$MIFACE.RestartVM" "'myvm'" "{}"
        expect_dbus_error "$E_REFUSED" carol "$MPATH" "$MIFACE.StartVM" "'second'" "{}"
        client_refused carol stop myvm
        client_refused carol start second
        expect_running myvm
        expect_eq "MainPID of myvm" "$(vm_prop myvm MainPID)" "$pid"
        expect_state second stopped
        no_vm_units second || fail "second has units: $(vm_units second)"
}

# stop_and_verify NAME: a graceful stop through the guest's power button.
stop_and_verify() {
        local name=$1 run
        wait_guest_listens "$name"
        run=$(run_id "$name")
        ! run_has "$run" "$MARK_POWER_BUTTON" || fail "the guest saw a power button before the stop"
        # Well within StopTimeoutSec=60: the guest powered off, microvmd did not stop the unit.
        timed_verb 45 alice stop "$name"
        expect_state "$name" stopped
        expect_run_log "$run" "the run of $name" "$MARK_POWER_BUTTON"
        expect_eq "FailureReason of $name" "$(vm_prop "$name" FailureReason)" ""
        expect_vm_gone "$name"
}

t_stop_graceful() {
        client_has stop || fail "microvm-client has no 'stop' command"
        stop_and_verify myvm
}

# A stop right after the start, while the guest still boots: nothing in the guest listens
# to the power button yet, so microvmd has systemd stop the unit at once instead of
# pressing a button no one hears for StopTimeoutSec.
t_stop_while_booting() {
        local before after
        state_is myvm running && stop_and_verify myvm
        vm_verb alice start myvm
        expect_running myvm
        before=$(in_container journalctl -u microvmd -o cat --no-pager | grep -c "did not power off within") || true
        timed_verb 45 alice stop myvm
        expect_state myvm stopped
        expect_eq "FailureReason of myvm" "$(vm_prop myvm FailureReason)" ""
        expect_vm_gone myvm
        in_container journalctl -u microvmd -o cat --no-pager | grep "VM myvm: its guest" | tail -n 2 | sed 's/^/  journal: /'
        after=$(in_container journalctl -u microvmd -o cat --no-pager | grep -c "did not power off within") || true
        expect_eq "stops that waited for StopTimeoutSec" "$after" "$before"
}

# Nothing of a stopped VM is left in /run/microvm: runtime directories are renamed away
# at once and removed in the background.
run_microvm_empty() {
        [[ -z $(in_container ls -A /run/microvm) ]]
}

# The hypervisor, as the VM's uid, writes its runtime directory. What it leaves there
# (thousands of files, links to root's files and directories) goes at the stop, and no
# link is followed.
t_runtime_dir_planted() {
        local uid dir=/run/microvm/myvm target=/root/microvm-planted-target
        state_is myvm stopped || stop_and_verify myvm
        vm_verb alice start myvm
        expect_running myvm
        uid=$(vmm_uid myvm)
        in_container sh -c "echo keep >$target"
        in_container setpriv --reuid="$uid" --regid="$uid" --clear-groups sh -c \
                "mkdir $dir/junk && cd $dir/junk && seq 1 5000 | xargs touch && ln -s $target $dir/file-link &&
                 ln -s /root $dir/dir-link && ln -s /root $dir/junk/dir-link" ||
                fail "myvm's uid could not write its runtime directory"
        echo "  planted: $(in_container find "$dir" | wc -l) entries in $dir"
        timed_verb 45 alice stop myvm
        expect_state myvm stopped
        expect_vm_gone myvm
        if ! wait_until 30 run_microvm_empty; then
                in_container ls -lA /run/microvm | sed 's/^/    /'
                fail "/run/microvm still holds something 30 s after the stop"
        fi
        expect_eq "$target after the removal" "$(in_container cat "$target")" keep
        in_container test -d /root || fail "/root is gone"
        in_container rm -f "$target"
}

# The guest channel as root in the guest writes it (the test guest's guest-test.sh): junk
# of every kind is ignored and changes nothing else; "ready" sets Ready; the power button
# still works afterwards.
GUEST_CHANNEL_TEST='# The guest says "armed" once its power button is being read (the fifo is made just
# before): the port has one opener at a time, so that goes first.
until [ -p /run/power-button ]; do sleep 0.1; done
sleep 1
port=
for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = org.microvm.guest ] && port=/dev/${p##*/}
done
[ -n "$port" ] || { echo "no guest channel port"; exit 1; }
# One opener at a time: the guest'"'"'s own "armed" loop may hold the port for a moment.
send() {
        i=0
        until timeout 10 sh -c "$1" >"$port" 2>/dev/null; do
                i=$((i + 1))
                [ $i -lt 100 ] || { echo "cannot write: $1"; return 1; }
                sleep 0.1
        done
        echo "sent: $1"
}
send "echo hello" &&
send "echo Ready" &&
send "printf \"ready \\n\"" &&
send "printf \"ar\\000med\\n\"" &&
send "head -c 300 /dev/zero | tr \"\\000\" a; echo" &&
send "head -c 4096 /dev/urandom; echo" &&
send "yes junk | head -c 8190; echo" &&
send "echo ready"
'

t_guest_channel() {
        local script=$WS/myvm/guest-test.sh status journal pid
        state_is myvm running && stop_and_verify myvm
        printf '%s' "$GUEST_CHANNEL_TEST" | in_container tee "$script" >/dev/null
        in_container rm -f "$WS/myvm/guest-test.status" "$WS/myvm/guest-test.out"
        # The script goes whatever happens: the next checks boot myvm too.
        vm_verb alice start myvm || { in_container rm -f "$script"; fail "alice: start myvm failed"; }
        wait_until 120 in_container test -e "$WS/myvm/guest-test.status" || true
        in_container rm -f "$script"
        expect_running myvm
        pid=$(vm_prop myvm MainPID)
        in_container test -e "$WS/myvm/guest-test.status" || fail "guest-test.sh did not finish"
        status=$(in_container cat "$WS/myvm/guest-test.status")
        in_container cat "$WS/myvm/guest-test.out" | sed 's/^/  guest: /'
        expect_eq "guest-test.sh status" "$status" 0
        ready_true() {
                [[ $(vm_prop myvm Ready) == true ]]
        }
        wait_until 60 ready_true || fail "Ready is $(vm_prop myvm Ready) after the guest said ready"
        journal=$(in_container journalctl -u microvmd -o cat --no-pager)
        grep -F "VM myvm" <<<"$journal" | grep -E "guest channel|its guest says" | sed 's/^/  journal: /'
        grep -qF "VM myvm is ready: its guest says its SSH server listens." <<<"$journal" ||
                fail "Ready did not come from the guest's word"
        grep -qF "VM myvm: ignoring malformed lines on the guest channel" <<<"$journal" ||
                fail "the junk was not reported"
        expect_running myvm
        expect_eq "MainPID of myvm after the junk" "$(vm_prop myvm MainPID)" "$pid"
        stop_and_verify myvm
}

t_not_running() {
        local rc=0
        expect_dbus_error "$E_NOT_RUNNING" alice "$MPATH" "$MIFACE.StopVM" "'myvm'" "{}"
        expect_dbus_error "$E_NOT_RUNNING" alice "$(vm_path myvm)" "$VMIFACE.Stop" "{}"
        if client_has stop; then
                client alice stop myvm || rc=$?
                ((rc != 0)) || fail "microvm-client stop of the stopped myvm succeeded"
                echo "  microvm-client stop myvm (stopped) -> exit $rc"
        fi
        expect_state myvm stopped
}

# A VM's own kernel and initramfs: a polkit action of their own (custom-boot), read with
# the owner's rights: never a file the owner could not read, e.g. another VM's volume or
# root's files; a kernel only the owner can read (in her home) works.
t_custom_boot() {
        local out own=/home/alice/boot
        in_container sh -c 'echo root-only >/root/secret-initrd && chmod 0600 /root/secret-initrd'
        expect_dbus_error "$E_REFUSED" carol "$MPATH" "$MIFACE.CreateWorkspace" "'carolboot'" \
                "{'kernel': <'$GUEST_INSTALL_DIR/vmlinuz'>}"
        ! gcall carol "$MPATH" "$MIFACE.GetVM" "'carolboot'" >/dev/null 2>&1 || fail "carolboot was created"
        expect_dbus_error org.microvm.Error.InvalidArgument alice "$MPATH" "$MIFACE.CreateWorkspace" "'quoted'" \
                "{'kernel-cmdline': <'console=ttyS0 x=\"'>}"
        expect_dbus_error org.microvm.Error.InvalidArgument alice "$MPATH" "$MIFACE.CreateWorkspace" "'quoted'" \
                "{'kernel-cmdline': <'console=ttyS0 microvm.user=root:0:0'>}"
        # Allowed to ask (the rule), but alice cannot read /root/secret-initrd: no start.
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'spy'" "{'initramfs': <'/root/secret-initrd'>}" >/dev/null
        out=$(GCALL_TIMEOUT=60 gcall alice "$MPATH" "$MIFACE.StartVM" "'spy'" "{}" 2>&1) && fail "spy started"
        echo "  alice: StartVM('spy') -> $out"
        [[ $out == *"$E_KERNEL_NOT_FOUND"* ]] || fail "expected $E_KERNEL_NOT_FOUND"
        [[ $out == *"cannot be read by its owner alice"* ]] || fail "the refusal does not say why"
        expect_state spy stopped
        expect_vm_gone spy
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'spy'" "{'remove-files': <true>}" >/dev/null
        # Her own kernel, mode 0600 in her home (the hypervisor could never read it there).
        in_container install -d -o alice -g alice -m 0700 "$own"
        in_container install -o alice -g alice -m 0600 "$GUEST_INSTALL_DIR/vmlinuz" "$own/vmlinuz"
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'ownboot'" "{'kernel': <'$own/vmlinuz'>}" >/dev/null
        timed_verb "$START_TIMEOUT" alice start ownboot
        expect_running ownboot
        expect_guest_file ownboot
        in_container ls -l /run/microvm/ownboot/vmlinuz | sed 's/^/  /'
        out=$(in_container systemctl show -p ExecStart --value "$(unit_of ownboot)")
        [[ $out == *"/run/microvm/ownboot/vmlinuz"* ]] ||
                fail "the hypervisor does not boot the copy in the runtime directory"
        stop_and_verify ownboot
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'ownboot'" "{'remove-files': <true>}" >/dev/null
}

t_kernel_missing() {
        local kernel=$GUEST_INSTALL_DIR/vmlinuz out rc=0
        # A VM whose own kernel does not exist ...
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'nokernel'" \
                "{'kernel': <'$GUEST_INSTALL_DIR/no-such-vmlinuz'>}" >/dev/null
        expect_dbus_error "$E_KERNEL_NOT_FOUND" alice "$MPATH" "$MIFACE.StartVM" "'nokernel'" "{}"
        expect_state nokernel stopped
        expect_vm_gone nokernel
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'nokernel'" "{'remove-files': <true>}" >/dev/null
        # ... and the configured kernel moved away (put back before anything can fail).
        in_container mv "$kernel" "$kernel.away"
        out=$(gcall alice "$MPATH" "$MIFACE.StartVM" "'second'" "{}" 2>&1) || rc=$?
        in_container mv "$kernel.away" "$kernel"
        echo "  alice: StartVM('second') without $kernel -> exit $rc: $out"
        ((rc != 0)) || fail "StartVM second without a kernel succeeded"
        [[ $out == *"$E_KERNEL_NOT_FOUND"* ]] || fail "expected $E_KERNEL_NOT_FOUND"
        expect_state second stopped
        expect_vm_gone second
}

t_properties_changed() {
        local pid log rc=0
        pid=$(in_container sh -c 'gdbus monitor --system --dest org.microvm.Manager \
                >/run/microvm-monitor.log 2>&1 & echo $!')
        sleep 1.5
        vm_verb alice start myvm || rc=$?
        sleep 1
        in_container kill "$pid" || true
        ((rc == 0)) || fail "start myvm failed (exit $rc)"
        log=$(in_container grep -F "$(vm_path myvm)" /run/microvm-monitor.log | grep PropertiesChanged) || true
        cut -c1-220 <<<"$log" | sed 's/^/  /'
        grep -q "'State': <'starting'>" <<<"$log" || fail "no PropertiesChanged with State 'starting'"
        grep -q "'State': <'running'>" <<<"$log" || fail "no PropertiesChanged with State 'running'"
        # starting comes before running
        [[ $(grep -n "'State': <'starting'>" <<<"$log" | head -n 1 | cut -d: -f1) -lt \
           $(grep -n "'State': <'running'>" <<<"$log" | tail -n 1 | cut -d: -f1) ]] ||
                fail "State 'running' was announced before 'starting'"
        grep -q "'MainPID': <uint32 [1-9]" <<<"$log" || fail "no PropertiesChanged with a MainPID"
        expect_running myvm
}

t_kill9() {
        local pid reason new_pid run
        in_container rm -f "$(guest_file myvm)"
        state_is myvm running || vm_verb alice start myvm
        expect_guest_file myvm
        pid=$(vm_prop myvm MainPID)
        run=$(run_id myvm)
        echo "  kill -9 $pid"
        in_container kill -9 "$pid"
        expect_state myvm failed 30
        reason=$(vm_prop myvm FailureReason)
        echo "  FailureReason: $reason"
        [[ $reason == *signal* && $reason == *KILL* ]] ||
                fail "FailureReason does not name the signal KILL: '$reason'"
        expect_vm_gone myvm
        if run_log "$run" | grep -F "$MARK_POWER_BUTTON"; then
                fail "the guest saw a power button: not a kill"
        fi
        # A failed VM starts again.
        timed_verb "$START_TIMEOUT" alice start myvm
        expect_running myvm
        new_pid=$(vm_prop myvm MainPID)
        [[ $new_pid != "$pid" ]] || fail "MainPID did not change ($pid)"
        expect_eq "FailureReason after the new start" "$(vm_prop myvm FailureReason)" ""
}

t_daemon_restart() {
        local pid daemon_pid
        state_is myvm running || vm_verb alice start myvm
        expect_running myvm
        pid=$(vm_prop myvm MainPID)
        daemon_pid=$(in_container systemctl show -p MainPID --value microvmd)
        in_container systemctl restart microvmd
        expect_eq "microvmd after restart" "$(in_container systemctl is-active microvmd)" active
        [[ $(in_container systemctl show -p MainPID --value microvmd) != "$daemon_pid" ]] ||
                fail "microvmd has the same PID after the restart"
        in_container journalctl -u microvmd -o cat --no-pager | tail -n 5 | sed 's/^/  journal: /'
        expect_running myvm
        expect_eq "MainPID of myvm after restarting microvmd" "$(vm_prop myvm MainPID)" "$pid"
        expect_eq "Hypervisor of myvm after restarting microvmd" "$(vm_prop myvm Hypervisor)" "$TIER"
        # The new microvmd asked the hypervisor itself how the VM is (QMP query-status,
        # or vm.info on the API socket), from its event loop.
        hypervisor_reported() {
                local invocation
                invocation=$(in_container systemctl show -p InvocationID --value microvmd)
                in_container journalctl -u microvmd -o cat --no-pager _SYSTEMD_INVOCATION_ID="$invocation" |
                        grep -Eq '^VM myvm: its hypervisor reports the VM [Rr]unning\.$'
        }
        wait_until 10 hypervisor_reported ||
                fail "the restarted microvmd did not log that myvm's hypervisor reports it running"
        # microvmd still knows how to press the power button.
        stop_and_verify myvm
}

t_restart_verb() {
        local pid new_pid run new_run uptime
        state_is myvm running || vm_verb alice start myvm
        expect_guest_file myvm
        pid=$(vm_prop myvm MainPID)
        wait_guest_listens myvm
        in_container rm -f "$(guest_file myvm)"
        run=$(run_id myvm)
        # The only running VM restarts: the bridge microvmd made stays (same ifindex).
        state_is second stopped || fail "second is $(vm_prop second State): myvm must run alone here"
        local bridge_before bridge_after
        bridge_before=$(in_container ip -o link show microbr | cut -d: -f1)
        client_has restart || note "microvm-client has no 'restart' command"
        timed_verb $((START_TIMEOUT + STOP_TIMEOUT)) alice restart myvm
        expect_running myvm
        bridge_after=$(in_container ip -o link show microbr | cut -d: -f1)
        echo "  the bridge microbr: ifindex $bridge_before before the restart, $bridge_after after"
        expect_eq "the bridge's ifindex across the restart" "$bridge_after" "$bridge_before"
        new_pid=$(vm_prop myvm MainPID)
        [[ $new_pid != "$pid" ]] || fail "MainPID did not change ($pid): not a fresh guest"
        new_run=$(run_id myvm)
        [[ $new_run != "$run" ]] || fail "the same invocation of $(unit_of myvm): not restarted"
        expect_run_log "$run" "the first run of myvm" "$MARK_POWER_BUTTON"
        expect_run_log "$new_run" "the second run of myvm" "$MARK_BOOTED myvm" "$BOOT_TIMEOUT"
        expect_guest_file myvm
        uptime=$(in_container sed -n 2p "$(guest_file myvm)")
        # A fresh guest: it wrote the file within its first minute.
        if ! [[ $uptime =~ ^[0-9]+(\.[0-9]+)?$ ]] || ((${uptime%.*} >= 60)); then
                fail "the guest's uptime in guest-was-here is '$uptime'"
        fi
        client_has restart || fail "microvm-client has no 'restart' command"
}

# connects_as UID SOCKET: a process of UID can connect to the unix socket.
connects_as() {
        in_container setpriv --reuid="$1" --regid="$1" --clear-groups python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])' "$2" 2>/dev/null
}

# expect_isolated A B: A's hypervisor identity reaches none of B's sockets or files and
# sees none of B's processes; B's own identity reaches them (so the test could fail).
expect_isolated() {
        local a=$1 b=$2 ua ub sock pa pb procs
        ua=$(vmm_uid "$a")
        ub=$(vmm_uid "$b")
        [[ $ua != "$ub" ]] || fail "$a and $b share the uid $ua"
        for sock in qmp.sock console.sock fs-workspace.sock fs-software.sock; do
                connects_as "$ub" "/run/microvm/$b/$sock" || fail "$b's own uid cannot connect to its $sock"
                ! connects_as "$ua" "/run/microvm/$b/$sock" || fail "$a's hypervisor uid connects to $b's $sock"
        done
        echo "  uid $ua ($a) cannot connect to $b's QMP, console or virtiofs sockets; uid $ub can"
        ! in_container setpriv --reuid="$ua" --regid="$ua" --clear-groups ls "/run/microvm/$b" >/dev/null 2>&1 ||
                fail "$a's hypervisor uid lists /run/microvm/$b"
        in_container test -f "$STATE/volumes/$b.img" || fail "$b has no volume image to protect"
        in_container setpriv --reuid="$ub" --regid="$ub" --clear-groups head -c 1 "$STATE/volumes/$b.img" \
                >/dev/null || fail "$b's own uid cannot read its volume"
        ! in_container setpriv --reuid="$ua" --regid="$ua" --clear-groups head -c 1 "$STATE/volumes/$b.img" \
                >/dev/null 2>&1 || fail "$a's hypervisor uid reads $b's volume"
        echo "  uid $ua ($a) cannot read $b's volume; uid $ub can"
        # In A's hypervisor's own mount namespace (ProtectProc=invisible), as its uid.
        pa=$(vm_prop "$a" MainPID)
        pb=$(vm_prop "$b" MainPID)
        procs=$(in_container nsenter -t "$pa" -m -S "$ua" -G "$ua" ls /proc | grep -E '^[0-9]+$' | tr '\n' ' ')
        echo "  /proc in $a's hypervisor: $procs"
        [[ " $procs " == *" $pa "* ]] || fail "$a's hypervisor does not see itself"
        [[ " $procs " != *" $pb "* ]] || fail "$a's hypervisor sees $b's hypervisor (PID $pb)"
}

t_two_vms() {
        local name pids=() rc p1 p2 failed=0
        if state_is myvm running; then
                stop_and_verify myvm
        fi
        in_container rm -f "$(guest_file myvm)" "$(guest_file second)"
        # Both starts at once.
        for name in myvm second; do
                vm_verb alice start "$name" &
                pids+=($!)
        done
        for p1 in "${pids[@]}"; do
                rc=0
                wait "$p1" || rc=$?
                ((rc == 0)) || failed=1
        done
        ((failed == 0)) || fail "a start failed"
        for name in myvm second; do
                expect_running "$name"
        done
        p1=$(vm_prop myvm MainPID)
        p2=$(vm_prop second MainPID)
        [[ $p1 != "$p2" ]] || fail "both VMs have MainPID $p1"
        expect_guest_file myvm
        expect_guest_file second
        { vm_units myvm; vm_units second; } | sed 's/^/  /'
        expect_isolated myvm second
        # Both stops at once.
        pids=()
        for name in myvm second; do
                (stop_and_verify "$name" >"/tmp/microvm-stop-$name.$$" 2>&1) &
                pids+=($!)
        done
        for name in myvm second; do
                rc=0
                wait "${pids[0]}" || rc=$?
                pids=("${pids[@]:1}")
                cat "/tmp/microvm-stop-$name.$$"
                rm -f "/tmp/microvm-stop-$name.$$"
                ((rc == 0)) || failed=1
        done
        ((failed == 0)) || fail "a stop failed"
        expect_eq "units left" "$(vm_units myvm; vm_units second)" ""
        if ! wait_until 30 run_microvm_empty; then
                expect_eq "/run/microvm" "$(in_container ls -A /run/microvm)" ""
        fi
}

# systemd-machined lists the running VM (class vm, the hypervisor as leader) and takes it
# off when it stops; machinectl terminate stops it, and microvmd's state follows.
machine_listed() {
        in_container machinectl list --no-legend 2>/dev/null | grep -q "^$1 "
}

t_machined() {
        local out pid
        in_container systemctl start systemd-machined || fail "systemd-machined does not start here"
        state_is myvm running || vm_verb alice start myvm
        expect_running myvm
        pid=$(vm_prop myvm MainPID)
        wait_until 10 machine_listed myvm || { in_container machinectl list; fail "myvm is not in machinectl list"; }
        in_container machinectl list --no-legend | sed 's/^/  machinectl list: /'
        out=$(in_container machinectl show myvm -p Class -p Service -p Leader -p Unit)
        sed 's/^/  machinectl show: /' <<<"$out"
        grep -qx Class=vm <<<"$out" || fail "myvm's class is not vm"
        grep -qx Service=microvmd <<<"$out" || fail "myvm's service is not microvmd"
        grep -qx "Leader=$pid" <<<"$out" || fail "myvm's leader is not the hypervisor ($pid)"
        grep -qx "Unit=$(unit_of myvm)" <<<"$out" || fail "myvm's unit is not $(unit_of myvm)"
        in_container machinectl status myvm --no-pager 2>&1 | head -n 6 | sed 's/^/  | /'
        stop_and_verify myvm
        machine_gone() {
                ! machine_listed myvm
        }
        wait_until 10 machine_gone || fail "myvm is still in machinectl list after it stopped"

        vm_verb alice start myvm
        expect_running myvm
        wait_until 10 machine_listed myvm || fail "myvm is not in machinectl list after the new start"
        in_container machinectl terminate myvm || fail "machinectl terminate myvm failed"
        stopped_or_failed() {
                state_is myvm stopped || state_is myvm failed
        }
        wait_until 60 stopped_or_failed || fail "myvm is $(vm_prop myvm State) after machinectl terminate"
        echo "  after machinectl terminate: $(vm_prop myvm State) $(vm_prop myvm FailureReason)"
        wait_until 10 machine_gone || fail "myvm is still in machinectl list after terminate"
        expect_vm_gone myvm
        vm_verb alice start myvm
        expect_running myvm
}

# [Hypervisor] StartTimeoutSec=: a hypervisor that never creates its control socket
# (here a QEMU that only sleeps) fails the start with Timeout, and the VM is reported
# failed only once its hypervisor is gone: nothing of it runs when the answer comes,
# its runtime directory is removed, and the next start (with the real QEMU) works.
t_start_timeout() {
        local conf=/etc/microvm/microvmd.conf silent=$STANDIN_DIR/silent-qemu out uid reason
        state_is myvm running && stop_and_verify myvm
        uid=$(vmm_uid myvm)
        in_container cp "$conf" "$conf.saved"
        printf '#!/bin/sh\n# Never creates its QMP socket.\nexec sleep 600\n' | in_container tee "$silent" >/dev/null
        in_container chmod 0755 "$silent"
        in_container sed -i "s|^\\[Hypervisor\\]\$|[Hypervisor]\\nStartTimeoutSec=3\\nQEMU=$silent|" "$conf"
        in_container grep -q "^StartTimeoutSec=3" "$conf" || fail "the config was not changed: $(in_container cat "$conf")"
        in_container systemctl restart microvmd
        out=$(GCALL_TIMEOUT=60 gcall alice "$MPATH" "$MIFACE.StartVM" "'myvm'" "{}" 2>&1) && fail "myvm started"
        echo "  alice: StartVM('myvm') -> $out"
        # At once, as the answer came: the hypervisor's processes are gone.
        if in_container pgrep -u "$uid" -l; then
                fail "processes of uid $uid still run after the start failed"
        fi
        [[ $out == *org.microvm.Error.Timeout* ]] || fail "expected org.microvm.Error.Timeout"
        expect_state myvm failed
        reason=$(vm_prop myvm FailureReason)
        echo "  FailureReason: $reason"
        [[ $reason == *"did not come up within 3 s"* ]] || fail "FailureReason does not name the time-out"
        expect_vm_gone myvm
        in_container mv "$conf.saved" "$conf"
        in_container systemctl restart microvmd
        vm_verb alice start myvm
        expect_running myvm
}

# A hypervisor that hangs: bench/hang-qemu (QEMU for every VM but those named hang*)
# accepts QMP connections and never answers, while its "guest" says on the guest channel
# that it listens to the power button. The stop presses the button, gives up after
# HYPERVISOR_POWER_BUTTON_TIMEOUT_USEC (1 s) and stops the unit: within 2 s, not after
# QMP's 5 s or StopTimeoutSec. The other VMs, with the real QEMU, are not disturbed.
# Creates and starts alice's VM NAME on bench/hang-qemu, waits until its guest said it
# listens to the power button, and stops it: within 2 s, whatever its hypervisor does
# (WHAT, for the message). Leaves microvmd's journal in $JOURNAL.
stop_armed_hung_vm() {
        local name=$1 what=$2 out start
        out=$(client alice create "$name" 2>&1) || fail "alice: create $name failed: $out"
        vm_verb alice start "$name" || fail "alice: start $name failed"
        expect_state "$name" running
        # Not grep -q: it would stop reading at the match, and journalctl's SIGPIPE would
        # fail the pipeline (pipefail).
        armed() {
                in_container journalctl -u microvmd -o cat --no-pager |
                        grep -F "VM $name: its guest listens to the power button." >/dev/null
        }
        wait_until 30 armed || fail "microvmd never heard $name's guest arm its power button"
        start=$(date +%s%N)
        vm_verb alice stop "$name" || fail "alice: stop $name failed"
        out=$((($(date +%s%N) - start) / 1000000))
        echo "  alice: microvm-client stop $name returned after $out ms"
        ((out <= 2000)) || fail "the stop of the VM whose hypervisor $what took $out ms (> 2 s)"
        expect_state "$name" stopped
        JOURNAL=$(in_container journalctl -u microvmd -o cat --no-pager)
        grep -F "VM $name: " <<<"$JOURNAL" | tail -n 3 | sed 's/^/  | /'
}

t_stop_hung_hypervisor() {
        local conf=/etc/microvm/microvmd.conf hang=$STANDIN_DIR/hang-qemu out
        state_is myvm running || vm_verb alice start myvm
        in_container cp "$conf" "$conf.saved"
        in_container sed -i "s|^\\[Hypervisor\\]\$|[Hypervisor]\\nQEMU=$hang|" "$conf"
        in_container grep -q "^QEMU=$hang" "$conf" || fail "the config was not changed: $(in_container cat "$conf")"
        in_container systemctl restart microvmd
        stop_armed_hung_vm hangvm hangs
        grep -qF "VM hangvm: QEMU did not take the power button within 1 s" <<<"$JOURNAL" ||
                fail "microvmd did not say the press was given up"
        grep -qF "VM hangvm: its hypervisor hangs and did not end" <<<"$JOURNAL" &&
                fail "hangvm's hypervisor ended on SIGTERM, yet it was killed"
        # One whose hypervisor ignores SIGTERM too (its main loop hangs): killed, not
        # waited for through the unit's TimeoutStopSec= (30 s).
        stop_armed_hung_vm hanghard "ignores SIGTERM"
        grep -qF "VM hanghard: its hypervisor hangs and did not end within 500 ms of SIGTERM; killing it." \
                <<<"$JOURNAL" || fail "microvmd did not say it killed the hung hypervisor"
        out=$(client alice delete hanghard 2>&1) || fail "alice: delete hanghard failed: $out"
        expect_state myvm running
        out=$(client alice delete hangvm 2>&1) || fail "alice: delete hangvm failed: $out"
        in_container mv "$conf.saved" "$conf"
        in_container systemctl restart microvmd
        expect_state myvm running
}

# [Limits] MaxRunningVCPUsPerUser=1: alice's second VM does not start while her first
# runs (LimitExceeded, nothing started), and starts once it has stopped.
t_running_limit() {
        local conf=/etc/microvm/microvmd.conf out
        state_is myvm running && stop_and_verify myvm
        state_is second running && stop_and_verify second
        in_container cp "$conf" "$conf.saved"
        printf '[Limits]\nMaxRunningVCPUsPerUser=1\nVMsMemoryMaxMiB=8192\nVMsCPUWeight=50\n' |
                in_container tee -a "$conf" >/dev/null
        in_container systemctl restart microvmd
        # All VMs together: microvm.slice.
        slice_limited() {
                local out
                out=$(in_container systemctl show -p MemoryMax,CPUWeight microvm.slice)
                grep -qx MemoryMax=8589934592 <<<"$out" && grep -qx CPUWeight=50 <<<"$out"
        }
        wait_until 10 slice_limited ||
                fail "microvm.slice: $(in_container systemctl show -p MemoryMax,CPUWeight microvm.slice | tr '\n' ' ')"
        vm_verb alice start myvm
        expect_running myvm
        out=$(GCALL_TIMEOUT=60 gcall alice "$MPATH" "$MIFACE.StartVM" "'second'" "{}" 2>&1) && fail "second started"
        echo "  alice: StartVM('second') -> $out"
        [[ $out == *org.microvm.Error.LimitExceeded* && $out == *MaxRunningVCPUsPerUser* ]] ||
                fail "expected LimitExceeded naming MaxRunningVCPUsPerUser"
        expect_state second stopped
        expect_vm_gone second
        stop_and_verify myvm
        vm_verb alice start second
        expect_running second
        stop_and_verify second
        in_container mv "$conf.saved" "$conf"
        in_container systemctl restart microvmd
}

# GetLogs shows the runs of this definition only: a VM deleted and created again under
# the same name (maybe by someone else) starts with an empty log.
t_logs_of_definition() {
        local out n
        state_is myvm running && stop_and_verify myvm
        out=$(client alice logs myvm) || fail "microvm-client logs myvm failed"
        n=$(grep -c "$MARK_BOOTED myvm" <<<"$out") || true
        echo "  the log of myvm has $n boot markers"
        ((n > 0)) || fail "the log of myvm has no boot marker to lose"
        client alice delete myvm --purge >/dev/null
        client alice create myvm >/dev/null
        out=$(client alice logs myvm) || fail "microvm-client logs myvm failed"
        echo "  the log of the new myvm: $(wc -l <<<"$out") lines"
        ! grep -qF "$MARK_BOOTED myvm" <<<"$out" || fail "the new myvm's log shows the old one's runs"
}

# systemd-analyze security of the units microvmd makes (and its own): the exposure
# scores, printed, and held to their targets.
security_score() {
        local out
        out=$(in_container systemd-analyze security --no-pager "$1" 2>&1 | tail -n 1)
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out"
}

t_security_scores() {
        local unit score limit failed=0 row
        state_is myvm running || vm_verb alice start myvm
        expect_running myvm
        for row in "$(unit_of myvm):3.0" "microvm-myvm-fs_workspace.service:4.5" \
                "microvm-myvm-fs_software.service:4.5" "microvmd.service:4.5"; do
                unit=${row%:*}
                limit=${row##*:}
                score=$(security_score "$unit")
                echo "  systemd-analyze security $unit: ${score:-?} (target <= $limit)"
                [[ -n $score ]] || { failed=1; continue; }
                if ! awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s <= l) }'; then
                        failed=1
                        # What counts against it (the settings marked with a cross).
                        in_container systemd-analyze security --no-pager "$unit" 2>&1 | grep -F '✗' |
                                sed 's/^/    | /'
                fi
        done
        stop_and_verify myvm
        ((failed == 0)) || fail "a score is above its target (above)"
}

t_daemon_healthy() {
        local journal n result
        journal=$(in_container journalctl -u microvmd -o cat --no-pager)
        if grep -Ei 'leak|assert|CRITICAL|segfault|core dump|double free|AddressSanitizer|runtime error' \
                <<<"$journal"; then
                fail "the journal of microvmd reports the lines above"
        fi
        n=$(in_container systemctl show -p NRestarts --value microvmd)
        expect_eq NRestarts "$n" 0
        result=$(in_container systemctl show -p Result --value microvmd)
        expect_eq "Result of microvmd" "$result" success
}

t_host_dev_null() {
        expect_eq "the machine's /dev/null" "$(stat -c '%F %t:%T %a %U:%G' /dev/null)" \
                "character special file 1:3 666 root:root"
}

# ---------------------------------------------------------------- setup

write_config() {
        local conf=$CT_ROOT/etc/microvm/microvmd.conf
        mkdir -p "${conf%/*}"
        {
                echo "# Written by $TEST_NAME: small VMs, the test guest."
                echo "[Manager]"
                echo "DefaultVCPUs=1"
                echo "DefaultMemoryMiB=$MEMORY_MIB"
                echo "[Guest]"
                echo "Kernel=$GUEST_INSTALL_DIR/vmlinuz"
                echo "Initramfs=$GUEST_INSTALL_DIR/initrd.img"
                echo "[Hypervisor]"
                echo "StopTimeoutSec=60"
                if [[ $TIER == cloud-hypervisor ]]; then
                        echo "Default=cloud-hypervisor"
                        echo "CloudHypervisor=$STANDIN"
                fi
        } >"$conf"
}

# Called by ct_start with the project installed into $CT_ROOT, before the boot.
ct_pre_boot_hook() {
        install -d -m 0755 "$CT_ROOT$GUEST_INSTALL_DIR"
        install -m 0644 "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img" "$CT_ROOT$GUEST_INSTALL_DIR/"
        if [[ $TIER == cloud-hypervisor ]]; then
                # microvmd only checks that /dev/kvm exists; the stand-in never opens it.
                # A node of our own (the null device's numbers) on our tmpfs: never bind the
                # host's /dev/null, whose mode the container's systemd-tmpfiles would set to
                # /dev/kvm's (static-nodes-permissions.conf: 0660 root:kvm).
                mknod -m 0666 "$CT_FS/kvm-standin" c 1 3
                # shellcheck disable=SC2034 # used by container.sh
                CT_EXTRA_ARGS=(--bind="$CT_FS/kvm-standin:/dev/kvm" --property=DeviceAllow="/dev/kvm rw")
                # Into the container only: the stand-in is never installed for real.
                install -m 0755 "$SRC_ROOT/tests/cloud-hypervisor-standin/cloud-hypervisor-standin" \
                        "$CT_ROOT$STANDIN_DIR/"
                install -m 0644 "$SRC_ROOT/tests/cloud-hypervisor-standin/chstandin_cli.py" \
                        "$CT_ROOT$STANDIN_DIR/"
        fi
        # The benchmark's hung hypervisor (t_stop_hung_hypervisor).
        install -D -m 0755 "$SRC_ROOT/bench/hang-qemu" "$CT_ROOT$STANDIN_DIR/hang-qemu"
        write_config
        # An administrator's rule: alice (not carol) may boot her VMs with her own kernel.
        ct_allow_custom_boot alice
}

test_cleanup_hook() {
        rm -f "$NOTES_FILE"
}

dump_diagnostics() {
        echo "===== journalctl -u microvmd ====="
        in_container journalctl -u microvmd -o short-monotonic --no-pager 2>&1 | tail -n 150
        echo "===== systemd (PID 1) on the VMs' units ====="
        in_container journalctl _PID=1 -o short-monotonic --no-pager 2>&1 | grep -F 'microvm-' | tail -n 80
        echo "===== journalctl -u 'microvm-*' (tail) ====="
        in_container journalctl -u 'microvm-*' -o short-monotonic --no-pager 2>&1 | tail -n 60
        echo "===== systemctl list-units --all 'microvm*' ====="
        in_container systemctl list-units --all --no-pager 'microvm*' 2>&1
        ct_dump_console 30
}

build_guest() {
        "$SRC_ROOT/tests/guest/build-test-guest" "$GUEST_DIR" >"$CT_DIR_LOG" 2>&1 || {
                cat "$CT_DIR_LOG" >&2
                echo "building the test guest failed" >&2
                return 1
        }
}

main() {
        if ! ct_check_supported; then
                echo "SKIP: cannot boot a container here" >&2
                exit 77
        fi
        check_build_dir || exit 1
        ct_in_tree ninja -C "$BUILD_DIR" >/dev/null || { echo "build failed" >&2; exit 1; }
        CT_DIR_LOG=$(mktemp /tmp/microvm-guest-build.XXXXXXXX)
        build_guest || { rm -f "$CT_DIR_LOG"; exit 1; }
        rm -f "$CT_DIR_LOG"

        # shellcheck disable=SC2034 # used by container.sh
        CT_NAME=microvm-lifecycle-$TIER-$$
        ct_start "$BUILD_DIR" || { ct_dump_console 60; exit 1; }

        echo "===== $TEST_NAME: the lifecycle with $TIER ====="
        check "users alice, carol (microvm) and bob; alice creates myvm and second (1 vCPU, ${MEMORY_MIB} MiB)" t_setup
        check "Hypervisor is $TIER, Unit, MainPID 0, no FailureReason" t_hypervisor_property
        check "alice: microvm-client start myvm -> running, hypervisor runs as the VM's own uid, sandboxed" t_alice_starts
        if [[ $TIER == cloud-hypervisor ]]; then
                check "the stand-in: umask 077, API socket, command line, vm.info Running" t_standin_process
        fi
        check "the guest's boot marker is in microvm-client logs myvm" t_logs_marker
        check "the guest wrote guest-was-here into the workspace" t_workspace_file
        if [[ $TIER == qemu ]]; then
                check "start of a running VM: AlreadyRunning, nothing changes" t_already_running
                check "bob cannot start or stop alice's VMs; carol cannot stop them" t_others_refused
        fi
        check "alice: microvm-client stop myvm: power button, stopped, units and runtime dir gone" t_stop_graceful
        check "stop right after start (guest still booting): systemd stops it at once, no StopTimeoutSec" \
                t_stop_while_booting
        check "what the hypervisor's uid planted in its runtime directory goes at the stop; no link followed" \
                t_runtime_dir_planted
        check "guest channel: junk from guest root is ignored; its 'ready' sets Ready; the button still works" \
                t_guest_channel
        if [[ $TIER == qemu ]]; then
                check "stop of a stopped VM: NotRunning" t_not_running
                check "start without a kernel: KernelNotFound, nothing left running" t_kernel_missing
                check "own kernel/initramfs: custom-boot action, read as the owner; quotes refused" t_custom_boot
                check "PropertiesChanged announces State starting and running" t_properties_changed
        fi
        check "kill -9 of the hypervisor: State failed with the signal; a new start works" t_kill9
        check "systemctl restart microvmd: the VM keeps running (same PID) and stops" t_daemon_restart
        [[ $TIER == qemu ]] &&
                check "StartTimeoutSec: a hypervisor that never listens: Timeout, failed only once it is gone" \
                        t_start_timeout
        [[ $TIER == qemu ]] &&
                check "a hypervisor that hangs (QMP never answers) on an armed guest, and one that also ignores SIGTERM: each stop within 2 s" \
                        t_stop_hung_hypervisor
        if [[ $TIER == qemu ]]; then
                check "microvm-client restart myvm boots a fresh guest" t_restart_verb
                check "machinectl lists the running VM (class vm, leader MainPID); terminate stops it" t_machined
                check "two VMs run at once and stop" t_two_vms
                check "[Limits] MaxRunningVCPUsPerUser: the second waits for the first; microvm.slice limits" t_running_limit
                check "systemd-analyze security: hypervisor <= 3.0, virtiofsd <= 4.5, microvmd <= 4.5" t_security_scores
                check "GetLogs shows only this definition's runs, not an earlier VM's of the same name" t_logs_of_definition
        fi
        check "microvmd did not crash and logged no leak or assertion" t_daemon_healthy
        if [[ $TIER == cloud-hypervisor ]]; then
                check "the machine's /dev/null is untouched by the /dev/kvm stand-in" t_host_dev_null
        fi

        if [[ -s $NOTES_FILE ]]; then
                echo
                echo "Notes:"
                sort -u "$NOTES_FILE" | sed 's/^/  /'
        fi
        if ! check_summary "$TEST_NAME ($TIER)"; then
                dump_diagnostics
                exit 1
        fi
        exit 0
}

main "$@"
