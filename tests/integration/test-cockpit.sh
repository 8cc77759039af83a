#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the Cockpit page: microvmd and Cockpit (cockpit-ws, cockpit-bridge,
# cockpit-system from the machine, through the overlay) in a disposable container that
# boots a real systemd; headless Chromium, driven with Selenium and chromedriver inside
# the container, logs into Cockpit on 127.0.0.1:9090 (the container's own network) as
# alice and as bob. The VM boots the real guest (microvm-guest.service builds it), so
# Ready turns true when its sshd answers.
#
# Usage: tests/integration/test-cockpit.sh [BUILD_DIR]
#
# BUILD_DIR (default: build/) must be configured with
#     --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# The screenshot of the page goes to BUILD_DIR/cockpit-microvm.png. Exit status: 0 all
# checks passed, 1 a check failed, 77 a container cannot run here (or Cockpit, Chromium
# or Selenium are missing). TEST_VERBOSE=1 prints the output of passing checks too.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")
TEST_NAME=test-cockpit

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

CONF=/etc/microvm/microvmd.conf
PASSWORD=microvm-test-$RANDOM$RANDOM
SCREENSHOT=/run/cockpit-microvm.png
BROWSER=/usr/local/lib/microvm-tests/cockpit-browser.py

# ---------------------------------------------------------------- checks

t_setup() {
        local out
        in_container useradd -m -s /bin/bash -G microvm alice
        in_container useradd -m -s /bin/bash -G microvm carol
        in_container useradd -m -s /bin/bash bob
        for u in alice bob; do
                printf '%s:%s\n' "$u" "$PASSWORD" | in_container chpasswd
        done
        out=$(client alice create alicevm 2>&1) || fail "alice: create alicevm: $out"
        out=$(client carol create carolvm 2>&1) || fail "carol: create carolvm: $out"
        # From the source tree, which the container may not see (its /tmp is its own).
        install -D -m 0755 "$HERE/cockpit-browser.py" "$CT_ROOT$BROWSER"
        in_container test -f /usr/share/cockpit/microvm/manifest.json || fail "the page is not installed"
        in_container systemctl start cockpit.socket
        cockpit_answers() {
                in_container python3 -c 'import urllib.request
urllib.request.urlopen("http://127.0.0.1:9090/", timeout=3).read()'
        }
        wait_until 30 cockpit_answers || fail "Cockpit does not answer on 127.0.0.1:9090"
        in_container systemctl is-active cockpit.socket | sed 's/^/  cockpit.socket: /'
}

t_owner_page() {
        in_container timeout 600 /usr/bin/python3 "$BROWSER" owner alice "$PASSWORD" alicevm carolvm "$SCREENSHOT" ||
                fail "the browser's checks failed (above)"
        expect_eq "State of alicevm" "$(vm_prop alicevm State)" stopped
        in_container test -s "$SCREENSHOT" || fail "no screenshot"
        in_container cat "$SCREENSHOT" >"$BUILD_DIR/cockpit-microvm.png"
        echo "  screenshot: $BUILD_DIR/cockpit-microvm.png"
}

t_refused() {
        in_container timeout 300 /usr/bin/python3 "$BROWSER" refused bob "$PASSWORD" bobvm ||
                fail "the browser's checks failed (above)"
        ! in_container test -e "$STATE/vms/bobvm.json" || fail "bob's refused create left a definition"
}

# ---------------------------------------------------------------- setup

ct_pre_boot_hook() {
        mkdir -p "$CT_ROOT${CONF%/*}" "$CT_ROOT/etc/cockpit"
        cat >"$CT_ROOT$CONF" <<EOF
[Manager]
DefaultVCPUs=1
DefaultMemoryMiB=1024
[Hypervisor]
StopTimeoutSec=60
EOF
        # Plain HTTP on the container's loopback: no certificate to generate.
        printf '[WebService]\nAllowUnencrypted=true\n' >"$CT_ROOT/etc/cockpit/cockpit.conf"
}

dump_diagnostics() {
        echo "===== journalctl -u microvmd -u cockpit ====="
        in_container journalctl -u microvmd -u cockpit -o short-monotonic --no-pager 2>&1 | tail -n 40
}

main() {
        if ! ct_check_supported; then
                echo "SKIP: cannot boot a container here" >&2
                exit 77
        fi
        for f in /lib/systemd/system/cockpit.socket /usr/share/cockpit/shell /usr/bin/chromium /usr/bin/chromedriver; do
                [[ -e $f ]] || {
                        echo "SKIP: needs $f (apt-get install cockpit-ws cockpit-bridge cockpit-system" \
                                "chromium chromium-driver python3-selenium)" >&2
                        exit 77
                }
        done
        /usr/bin/python3 -c 'import selenium' 2>/dev/null || { echo "SKIP: needs python3-selenium" >&2; exit 77; }
        check_build_dir || exit 1
        ct_in_tree ninja -C "$BUILD_DIR" >/dev/null || { echo "build failed" >&2; exit 1; }

        # shellcheck disable=SC2034 # used by container.sh
        CT_NAME=microvm-cockpit-$$
        ct_start "$BUILD_DIR" || { ct_dump_console 60; exit 1; }

        echo "===== $TEST_NAME: the MicroVMs page in Cockpit, in a real browser ====="
        check "setup: alice and bob with passwords, alicevm and carol's carolvm; Cockpit answers" t_setup
        check "alice: the page lists alicevm, not carolvm; Start -> running -> Ready; log; Stop; phone width" t_owner_page
        check "bob (not in microvm): creating a VM on the page shows polkit's refusal" t_refused

        if ! check_summary "$TEST_NAME"; then
                dump_diagnostics
                exit 1
        fi
        exit 0
}

main "$@"
