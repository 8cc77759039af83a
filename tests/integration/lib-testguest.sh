# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shared by the integration tests that boot the test guest (tests/guest) and drive it
# through its guest-test.sh hook: starting and stopping VMs as alice, the guests'
# results, ping. Source container.sh and lib.sh first. Uses VERB_TIMEOUT, BOOT_TIMEOUT,
# GUEST_TEST_TIMEOUT, MARK_LISTENING and OUTSIDE_NS, which the test sets.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

# PING: iputils' ping where installed, otherwise busybox's (set in main).
PING=(ping)

# pings [outside] ADDRESS: 0 an answer came, 1 none did; any other error fails the check,
# so that a missing or broken ping never passes for "unreachable".
pings() {
        local where=() rc=0 out
        if [[ $1 == outside ]]; then
                where=(ip netns exec "$OUTSIDE_NS")
                shift
        fi
        out=$(in_container "${where[@]}" "${PING[@]}" -c 2 -W 2 "$1" 2>&1) || rc=$?
        case $rc in
        0) return 0 ;;
        1) return 1 ;;
        *) fail "${where[*]} ${PING[*]} $1: exit $rc: $out" ;;
        esac
}

# The serial console of the VM's current run (the hypervisor unit's invocation).
current_run_log() {
        local id
        id=$(in_container systemctl show -p InvocationID --value "$(unit_of "$1")")
        [[ -n $id ]] || return 1
        in_container journalctl --no-pager -q -o cat "_SYSTEMD_INVOCATION_ID=$id"
}

show_run_log() {
        echo "  the serial console of $1 (last lines):"
        current_run_log "$1" 2>&1 | tail -n "${2:-25}" | sed 's/^/    | /'
}

guest_listens() {
        local log
        log=$(current_run_log "$1") && [[ $log == *"$MARK_LISTENING"* ]]
}

ws_file() {
        echo "$WS/$1/$2"
}

ws_has() {
        in_container test -e "$(ws_file "$1" "$2")"
}

start_vm() {
        local name=$1 rc=0 start=$SECONDS
        in_container timeout "$VERB_TIMEOUT" runuser -u alice -- \
                microvm-client --no-ask-password start "$name" || rc=$?
        echo "  alice: microvm-client start $name -> exit $rc after $((SECONDS - start)) s"
        ((rc == 0)) || { journal_tail microvmd 15; fail "start $name failed"; }
        [[ $(vm_prop "$name" State) == running ]] || fail "$name is $(vm_prop "$name" State) after start"
}

# A graceful stop; the power button is only heard once the guest listens for it.
stop_vm() {
        local name=$1 rc=0 start=$SECONDS
        state_is "$name" running || return 0
        if ! wait_until "$BOOT_TIMEOUT" guest_listens "$name"; then
                show_run_log "$name"
                fail "$name: the guest never listened for the power button"
        fi
        in_container timeout "$VERB_TIMEOUT" runuser -u alice -- \
                microvm-client --no-ask-password stop "$name" || rc=$?
        echo "  alice: microvm-client stop $name -> exit $rc after $((SECONDS - start)) s"
        ((rc == 0)) || fail "stop $name failed"
        [[ $(vm_prop "$name" State) == stopped ]] || fail "$name is $(vm_prop "$name" State) after stop"
}

journal_tail() {
        echo "  journalctl -u $1 (last ${2:-20} lines):"
        in_container journalctl -u "$1" -o short-monotonic --no-pager -q | tail -n "${2:-20}" | sed 's/^/    | /'
}

# find_ping: sets PING to iputils' ping or busybox's; 1 (with a message) when neither.
find_ping() {
        command -v ping >/dev/null && return 0
        if command -v busybox >/dev/null && [[ $'\n'$(busybox --list)$'\n' == *$'\n'ping$'\n'* ]]; then
                PING=(busybox ping)
                return 0
        fi
        echo "SKIP: needs ping (apt-get install iputils-ping)" >&2
        return 1
}

# ---- the guests' test scripts (busybox sh; see tests/guest/README.md)

install_guest_test() {
        local name=$1 script=$2
        in_container rm -f "$(ws_file "$name" listening)" "$(ws_file "$name" guest-test.status)"
        as_user alice tee "$(ws_file "$name" guest-test.sh)" >/dev/null <<<"$script"
}

# guest_result NAME KEY: ok or fail, from the guest's "RESULT KEY ..." line.
guest_result() {
        in_container sed -n "s/^RESULT $2 //p" "$(ws_file "$1" guest-test.out)" | head -n 1
}

guest_info() {
        in_container sed -n "s/^INFO $2 //p" "$(ws_file "$1" guest-test.out)" | head -n 1
}

expect_guest_result() {
        local name=$1 key=$2 expected=$3 actual
        actual=$(guest_result "$name" "$key")
        echo "  $name: $key -> ${actual:-<none>}"
        if [[ $actual != "$expected" ]]; then
                echo "  $(ws_file "$name" guest-test.out):"
                in_container cat "$(ws_file "$name" guest-test.out)" | sed 's/^/    | /'
                fail "$name: $key: expected '$expected', got '${actual:-<no result>}'"
        fi
}

# wait_guest_test NAME: guest-test.sh has finished (its status file is written last).
wait_guest_test() {
        local name=$1
        if ! wait_until "$GUEST_TEST_TIMEOUT" ws_has "$name" guest-test.status; then
                show_run_log "$name" 30
                in_container cat "$(ws_file "$name" guest-test.out)" 2>&1 | sed 's/^/    out| /'
                fail "$name: no guest-test.status within $GUEST_TEST_TIMEOUT s"
        fi
        echo "  $name: guest-test.sh exited $(in_container cat "$(ws_file "$name" guest-test.status)")"
        in_container cat "$(ws_file "$name" guest-test.out)" | sed 's/^/    out| /'
}

# After a failed check: no VM runs (killed if need be), so the next check starts clean.
ensure_stopped() {
        local name
        for name in "$@"; do
                state_is "$name" stopped && continue
                state_is "$name" failed && continue
                echo "  (a previous check left $name $(vm_prop "$name" State); killing it)"
                GCALL_TIMEOUT=60 gcall alice "$MPATH" "$MIFACE.StopVM" "'$name'" "{'force': <true>}" >/dev/null || true
        done
}

# prepare_test_guest_tier TOOL...: exits 77 when a container cannot run here or a TOOL
# (or ping) is missing, 1 when the build or the test guest's build fails.
prepare_test_guest_tier() {
        local tool log
        if ! ct_check_supported; then
                echo "SKIP: cannot boot a container here" >&2
                exit 77
        fi
        for tool in "$@"; do
                command -v "$tool" >/dev/null || {
                        echo "SKIP: needs $tool (apt-get install iproute2 nftables python3 busybox-static)" >&2
                        exit 77
                }
        done
        find_ping || exit 77
        check_build_dir || exit 1
        ct_in_tree ninja -C "$BUILD_DIR" >/dev/null || { echo "build failed" >&2; exit 1; }
        log=$(mktemp /tmp/microvm-guest-build.XXXXXXXX)
        if ! "$SRC_ROOT/tests/guest/build-test-guest" "$GUEST_DIR" >"$log" 2>&1; then
                cat "$log" >&2
                rm -f "$log"
                echo "building the test guest failed" >&2
                exit 1
        fi
        rm -f "$log"
}
