#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# microvmd under valgrind (memcheck) in the disposable container: every D-Bus path a
# user can reach (creating, refused calls, starting and stopping a VM, logs, deleting),
# then a clean exit. The test fails on any memory error or definitely lost block.
#
# Usage: tests/integration/test-daemon-leaks.sh [BUILD_DIR]
# Exit status: 0 passed, 1 a check failed, 77 a container cannot run here.

# shellcheck disable=SC2317

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

VALGRIND_LOG=/var/log/microvmd-valgrind.log

if ! command -v valgrind >/dev/null; then
        echo "valgrind is not installed" >&2
        exit 1
fi
check_build_dir || exit 1
ct_check_supported || exit 77

GUEST_DIR=$BUILD_DIR/test-guest
"$SRC_ROOT/tests/guest/build-test-guest" "$GUEST_DIR" >/dev/null || exit 1

ct_start "$BUILD_DIR" || exit 1

setup() {
        in_container mkdir -p /etc/systemd/system/microvmd.service.d /etc/microvm \
                /usr/local/lib/microvm-tests/guest
        # The container's /tmp is its own: copy what it needs from the source tree.
        install -m 0644 "$SRC_ROOT/tests/integration/valgrind.supp" "$CT_ROOT/usr/local/lib/microvm-tests/"
        # valgrind needs W+X memory and more system calls than the unit allows.
        cat >"$CT_ROOT/etc/systemd/system/microvmd.service.d/valgrind.conf" <<EOC
[Service]
ExecStart=
ExecStart=/usr/bin/valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 --suppressions=/usr/local/lib/microvm-tests/valgrind.supp --log-file=$VALGRIND_LOG /usr/libexec/microvmd
MemoryDenyWriteExecute=no
SystemCallFilter=
ReadWritePaths=/var/log
TimeoutStartSec=180
Restart=no
EOC
        # The test guest, away from /var/lib/microvm/guest where microvm-guest.service
        # builds the real one.
        printf '[Manager]\nDefaultVCPUs=1\nDefaultMemoryMiB=512\n[Hypervisor]\nStopTimeoutSec=60\n[Guest]\nKernel=%s\nInitramfs=%s\n' \
                /usr/local/lib/microvm-tests/guest/vmlinuz /usr/local/lib/microvm-tests/guest/initrd.img \
                >"$CT_ROOT/etc/microvm/microvmd.conf"
        install -m 0644 "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img" "$CT_ROOT/usr/local/lib/microvm-tests/guest/"
        in_container systemctl daemon-reload
        in_container useradd -m -G microvm alice
        in_container useradd -m bob
        as_user alice ssh-keygen -q -t ed25519 -N "" -f /home/alice/.ssh/id_ed25519
}
check "setup (valgrind drop-in, guest, users)" setup

exercise() {
        client alice create leaky --vcpus 1 --memory 512
        client alice list >/dev/null
        client alice status leaky >/dev/null
        client alice --json status leaky >/dev/null
        # Refused and invalid calls take the error paths.
        ! client bob create bobvm 2>/dev/null
        ! client bob stop leaky 2>/dev/null
        ! gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'Bad'" "{}" 2>/dev/null
        ! gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'x'" "{'vcpus': <'8'>}" 2>/dev/null
        ! gcall alice "$MPATH" "$MIFACE.GetVM" "'nosuchvm'" 2>/dev/null
        ! client alice create leaky 2>/dev/null
        client alice start leaky
        ! client alice start leaky 2>/dev/null
        client alice logs leaky -n 5 >/dev/null
        client alice autostart leaky on
        client alice autostart leaky off
        # Stop once the guest listens for the power button: the graceful path.
        local i
        for ((i = 0; i < 120; i++)); do
                in_container test -e "$WS/leaky/guest-was-here" && break
                sleep 1
        done
        client alice stop leaky
        ! client alice stop leaky 2>/dev/null
        client alice delete leaky --purge
        client alice create second >/dev/null
        client alice delete second
}
[[ ${LEAKS_QUICK:-0} == 1 ]] && exercise() { client alice create leaky; ! client bob create bobvm 2>/dev/null; }
check "exercise microvmd's D-Bus paths" exercise

# polkit checks that end unusually: the caller goes away while polkit deliberates (its
# call is dispatched again with no one left to answer), and a check is still in flight
# when microvmd exits (cancelled, the call answered Failed). Their queries are freed too.
slow_polkit() {
        local rule=/etc/polkit-1/rules.d/30-test-slow.rules
        cat <<'RULE' | in_container tee "$rule" >/dev/null
polkit.addRule(function(action, subject) {
        if (subject.user !== "bob" || action.id !== "org.microvm.manager.create")
                return polkit.Result.NOT_HANDLED;
        polkit.spawn(["/bin/sleep", "3"]);
        return polkit.Result.NO;
});
RULE
        # polkitd reads rules.d again when it changes; without the rule bob needs a password.
        rule_active() {
                [[ $(gcall bob "$MPATH" "$MIFACE.CreateWorkspace" "'slow'" "{}" 2>&1) == *NotAuthorized* ]]
        }
        wait_until 30 rule_active
        ! in_container timeout 1 runuser -u bob -- gdbus call --system --dest "$BUS" --object-path "$MPATH" \
                --method "$MIFACE.CreateWorkspace" "'gone'" "{}" 2>/dev/null
        sleep 4
        # Left running into the next check, which stops microvmd (the rule stays: the
        # container goes after that).
        in_container sh -c "runuser -u bob -- gdbus call --system --dest $BUS --object-path $MPATH \
                --method $MIFACE.CreateWorkspace \"'inflight'\" '{}' >/run/inflight.log 2>&1 &"
        sleep 1
}
[[ ${LEAKS_QUICK:-0} == 1 ]] || check "polkit checks whose caller left, or still in flight at exit" slow_polkit

exit_cleanly() {
        local status
        in_container systemctl stop microvmd
        status=$(in_container systemctl show -p ExecMainStatus --value microvmd)
        in_container sh -c 'cat /run/inflight.log 2>/dev/null' | sed 's/^/  call in flight at the exit: /'
        in_container cat "$VALGRIND_LOG" | grep -v "^--" | head -n 80
        expect_eq "valgrind's exit status for microvmd" "$status" 0
        in_container grep -q "ERROR SUMMARY: 0 errors" "$VALGRIND_LOG" || fail "valgrind reported errors"
        if in_container grep -q "definitely lost: [1-9]" "$VALGRIND_LOG"; then
                fail "microvmd leaked memory"
        fi
}
check "microvmd exits without memory errors or leaks" exit_cleanly

check_summary "daemon leaks under valgrind"
