# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shared by the integration tests (test-*.sh): the check runner, assertions and D-Bus
# helpers. Source container.sh first.
#
#     check NAME FUNCTION        # runs FUNCTION with errexit; prints PASS or FAIL
#     fail MESSAGE               # fails the running check with MESSAGE
#     expect_eq WHAT ACTUAL EXPECTED
#     client USER ARGS...        # microvm-client --no-ask-password ARGS as USER
#     gcall USER PATH IFACE.METHOD ARGS...   # gdbus call (prints D-Bus error names)
#     vm_path NAME               # the VM's object path
#     check_summary TEST_NAME    # prints the result; returns 1 when a check failed
#     vm_prop NAME PROPERTY      # a VM property's value, read as alice
#     unit_of NAME               # the VM's hypervisor unit
#     wait_until SECONDS CMD...  # polls CMD until it succeeds
#     restart_microvmd           # systemctl restart microvmd, start rate limit cleared
#     state_is NAME STATE
#     run_log INVOCATION_ID      # the journal of one run of a unit
#     run_has INVOCATION_ID TEXT
#     note MESSAGE               # prints and records a note (NOTES_FILE)

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317,SC2034

BUS=org.microvm.Manager
MPATH=/org/microvm/Manager
MIFACE=org.microvm.Manager
VMIFACE=org.microvm.Manager.VM
STATE=/var/lib/microvm
WS=$STATE/workspaces

E_REFUSED="org.microvm.Error.NotAuthorized|org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

# ---------------------------------------------------------------- check runner

PASSED=()
FAILED=()
CHECK_LOG=$(mktemp /tmp/microvm-check.XXXXXXXX)

# check NAME FUNCTION: runs FUNCTION in a subshell with errexit, so the first failing
# command fails the check; prints PASS or FAIL with the reason.
check() {
        local name=$1 func=$2 rc start=$SECONDS
        # Not "( ... ) || rc=$?": errexit is ignored in the left-hand side of ||.
        (
                set -eE
                trap 'rc=$?; [[ $BASH_COMMAND == fail* || $BASH_COMMAND == expect_* ]] ||
                        echo "  failed (exit $rc): $BASH_COMMAND"' ERR
                "$func"
        ) >"$CHECK_LOG" 2>&1
        rc=$?
        if ((rc == 0)); then
                PASSED+=("$name")
                echo "PASS: $name ($((SECONDS - start)) s)"
                [[ ${TEST_VERBOSE:-0} == 1 ]] && sed 's/^/    /' "$CHECK_LOG"
        else
                FAILED+=("$name")
                echo "FAIL: $name ($((SECONDS - start)) s)"
                sed 's/^/    /' "$CHECK_LOG"
        fi
        return 0
}

fail() {
        echo "  $*"
        return 1
}

expect_eq() {
        local what=$1 actual=$2 expected=$3
        [[ $actual == "$expected" ]] || fail "$what: expected '$expected', got '$actual'"
}

# check_summary TEST_NAME: prints the counts and the failed checks; 1 when one failed.
check_summary() {
        echo
        echo "===== $1: ${#PASSED[@]} passed, ${#FAILED[@]} failed ====="
        if ((${#FAILED[@]})); then
                printf 'FAILED: %s\n' "${FAILED[@]}"
                echo
                return 1
        fi
        return 0
}

# ---------------------------------------------------------------- helpers

client() {
        local user=$1
        shift
        as_user "$user" microvm-client --no-ask-password "$@"
}

# gcall USER OBJECT_PATH INTERFACE.METHOD ARGS...: gdbus prints the D-Bus error name,
# busctl only the message. GCALL_TIMEOUT (seconds) for calls that wait for a guest.
gcall() {
        local user=$1 path=$2 method=$3
        shift 3
        as_user "$user" gdbus call --system --dest "$BUS" --object-path "$path" \
                --timeout "${GCALL_TIMEOUT:-25}" --method "$method" "$@"
}

vm_path() {
        # sd_bus_path_encode: every byte but [A-Za-z0-9] becomes _XX.
        local name=$1 out="" i c
        for ((i = 0; i < ${#name}; i++)); do
                c=${name:i:1}
                if [[ $c == [A-Za-z0-9] ]]; then
                        out+=$c
                else
                        out+=$(printf '_%02x' "'$c")
                fi
        done
        echo "$MPATH/vm/$out"
}

check_build_dir() {
        if [[ ! -f $BUILD_DIR/meson-private/coredata.dat ]]; then
                echo "$BUILD_DIR is not a configured meson build directory" >&2
                return 1
        fi
        local prefix
        prefix=$(ct_in_tree meson introspect --buildoptions "$BUILD_DIR" |
                python3 -c 'import json, sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
        if [[ $prefix != /usr ]]; then
                echo "$BUILD_DIR has prefix $prefix; configure it with" \
                        "--prefix=/usr --sysconfdir=/etc --localstatedir=/var" >&2
                return 1
        fi
}

# Called by ct_teardown; a test that needs its own cleanup defines test_cleanup_hook.
ct_cleanup_hook() {
        declare -F test_cleanup_hook >/dev/null && test_cleanup_hook
        rm -f "$CHECK_LOG"
}

# ---------------------------------------------------------------- VM helpers
# Shared by the tests that start VMs.

vm_prop() {
        local out
        out=$(as_user alice busctl get-property "$BUS" "$(vm_path "$1")" "$VMIFACE" "$2") || return 1
        out=${out#* }
        out=${out#\"}
        echo "${out%\"}"
}

unit_of() {
        echo "microvm-$1.service"
}

# ct_allow_custom_boot USER: before the boot, a polkit rule (as an administrator would
# write) that lets USER give VMs their own kernel (org.microvm.manager.custom-boot).
ct_allow_custom_boot() {
        install -d -m 0755 "$CT_ROOT/etc/polkit-1/rules.d"
        cat >"$CT_ROOT/etc/polkit-1/rules.d/40-test-custom-boot.rules" <<EOF
polkit.addRule(function(action, subject) {
        if (action.id === "org.microvm.manager.custom-boot" && subject.user === "$1")
                return polkit.Result.YES;
        return polkit.Result.NOT_HANDLED;
});
EOF
}

# vmm_uid NAME: the uid (= gid) of the VM's hypervisor: 458752 + the index of its address
# in the subnet (the tests use a /24, where that is the last number).
vmm_uid() {
        local ip
        ip=$(vm_prop "$1" IPAddress) || return 1
        echo $((458752 + ${ip##*.}))
}

# wait_until SECONDS CMD...: polls CMD every half second; 1 when it never succeeded.
# guest_build_end AFTER: "RESULT USEC" of the first start job of microvm-guest.service
# that ended after AFTER (CLOCK_MONOTONIC microseconds), from PID 1's journal (a run that
# ended well leaves no unit to ask: PID 1 collects it); fails while none has.
guest_build_end() {
        in_container journalctl _PID=1 UNIT=microvm-guest.service JOB_TYPE=start -o json \
                --output-fields=JOB_RESULT --no-pager |
                python3 -c '
import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    if "JOB_RESULT" in entry and int(entry["__MONOTONIC_TIMESTAMP"]) > int(sys.argv[1]):
        print(entry["JOB_RESULT"], entry["__MONOTONIC_TIMESTAMP"])
        sys.exit(0)
sys.exit(1)' "$1"
}

# restart_microvmd: systemctl restart microvmd, first clearing PID 1's start rate limit
# (5 starts in 10 s by default): the checks restart it that often on purpose.
restart_microvmd() {
        in_container systemctl reset-failed microvmd
        in_container systemctl restart microvmd
}

wait_until() {
        local deadline=$((SECONDS + $1))
        shift
        until "$@" >/dev/null 2>&1; do
                ((SECONDS >= deadline)) && return 1
                sleep 0.5
        done
}

state_is() {
        [[ $(vm_prop "$1" State) == "$2" ]]
}

run_log() {
        [[ -n $1 ]] || return 1
        in_container journalctl --no-pager -q -o cat "_SYSTEMD_INVOCATION_ID=$1"
}

run_has() {
        run_log "$1" | grep -F -- "$2" >/dev/null
}

note() {
        echo "  NOTE: $*"
        echo "$*" >>"$NOTES_FILE"
}
