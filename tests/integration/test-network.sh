#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the VM network: microvmd installed into a disposable container
# that boots a real systemd, two VMs booting the real test guest (tests/guest) under
# QEMU/TCG, their network set up by microvmd for real. All traffic stays inside the
# container's private network namespace and a namespace this test creates in it:
#
#   VMs (192.168.83.x) -- microbr 192.168.83.1 [container] uplink0 203.0.113.1
#         == veth == 203.0.113.2 outside0 [netns "outside": an HTTP server on :8080]
#
# The container's default route goes via 203.0.113.2 (a documentation range: a public address for
# microvmd's egress policy, used only inside these namespaces), so microvmd's Uplink=auto finds
# uplink0; "outside" has a route back to 192.168.83.0/24 via 203.0.113.1, so only the
# firewall (not a missing route) can keep it from reaching a VM, and a missing NAT would
# show up as a VM address in the server's log.
#
# Usage: tests/integration/test-network.sh [BUILD_DIR]
#
# BUILD_DIR (default: build/) must be configured with
#     --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# The test guest is built into BUILD_DIR/test-guest. Exit status: 0 all checks passed,
# 1 a check failed, 77 a container cannot run here. TEST_VERBOSE=1 prints the output of
# passing checks too.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317,SC2001

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")
GUEST_DIR=$BUILD_DIR/test-guest
TEST_NAME=test-network

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib-testguest.sh
source "$HERE/lib-testguest.sh"

E_ADDRESS_IN_USE=org.microvm.Error.AddressInUse
E_INVALID_ARGUMENT=org.microvm.Error.InvalidArgument

# Not /var/lib/microvm/guest, where microvm-guest.service builds the real guest.
GUEST_INSTALL_DIR=/usr/local/lib/microvm-tests/network-guest
CONF=/etc/microvm/microvmd.conf
MEMORY_MIB=512

BRIDGE=microbr
SUBNET=192.168.83.0/24
GATEWAY=192.168.83.1
UPLINK=uplink0
UPLINK_ADDR=203.0.113.1
OUTSIDE_NS=outside
OUTSIDE_IF=outside0
OUTSIDE_ADDR=203.0.113.2
HTTP_PORT=8080
HTTP_ROOT=/run/outside-www
HTTP_LOG=/run/outside-http.log
TOKEN=outside-token-$$-$RANDOM
PEER_PORT=2222          # vm2's TCP listener (busybox nc)
PEER_GREETING=vm2-says-hi

VERB_TIMEOUT=330        # start + stop, so that a hung client fails, never hangs the test
BOOT_TIMEOUT=90         # start returned -> the guest's marker or file
GUEST_TEST_TIMEOUT=120  # start returned -> guest-test.status (the guest's own limit is 60 s)

MARK_LISTENING="microvm-test-guest: waiting for the power button"

NOTES_FILE=""           # created in main, removed by test_cleanup_hook

# ---------------------------------------------------------------- helpers

# expect_dbus_error 'ERROR1|ERROR2' USER PATH METHOD ARGS...
expect_dbus_error() {
        local expected=$1 user=$2 out rc=0
        shift 2
        out=$(gcall "$user" "$@" 2>&1) || rc=$?
        ((rc != 0)) || fail "$* as $user succeeded ($out), expected $expected"
        local re="(${expected//./\\.})"
        [[ $out =~ $re ]] || fail "$* as $user: expected $expected, got: $out"
        echo "  $user: ${2##*.}(${*:3}) -> ${out#Error: }"
}

outside() {
        in_container ip netns exec "$OUTSIDE_NS" "$@"
}

# ---- the host's view of the network

# mvt* devices (taps of microvmd), one per line.
taps() {
        in_container ip -o link show | sed -n 's/^[0-9]*: \(mvt[0-9]*\)[:@].*/\1/p'
}

taps_on_bridge() {
        in_container ip -o link show master "$BRIDGE" 2>/dev/null | sed -n 's/^[0-9]*: \(mvt[0-9]*\)[:@].*/\1/p'
}

bridge_exists() {
        in_container ip link show dev "$BRIDGE" >/dev/null 2>&1
}

nft_tables() {
        in_container nft list tables
}

# has_table FAMILY: microvmd's nft table of FAMILY exists. (Output is captured before
# grep everywhere here: grep -q ending a pipe early fails it under pipefail.)
has_table() {
        local out
        out=$(nft_tables)
        grep -qx "table $1 microvmd" <<<"$out"
}

has_any_table() {
        has_table ip || has_table bridge
}

ip_forward() {
        in_container cat /proc/sys/net/ipv4/ip_forward
}

show_network() {
        echo "  ip -br link:"
        in_container ip -br link | sed 's/^/    | /'
        echo "  nft list tables:"
        nft_tables | sed 's/^/    | /'
        echo "  ip_forward: $(ip_forward)"
}

# Nothing of microvmd's network is there: no tap, no bridge, no table, ip_forward 0.
network_is_gone() {
        [[ -z $(taps) ]] && ! bridge_exists && ! has_any_table && [[ $(ip_forward) == 0 ]]
}

expect_network_gone() {
        local what=$1
        if ! wait_until "${2:-15}" network_is_gone; then
                show_network
                journal_tail microvmd 15
                [[ -z $(taps) ]] || echo "  taps left: $(taps | tr '\n' ' ')"
                ! bridge_exists || echo "  the bridge $BRIDGE is left"
                ! has_any_table || echo "  nft tables left: $(nft_tables | grep microvmd | tr '\n' ' ')"
                [[ $(ip_forward) == 0 ]] || echo "  ip_forward is $(ip_forward), was 0"
                fail "$what: microvmd's network is not gone"
        fi
        echo "  $what: no mvt* tap, no $BRIDGE, no microvmd nft table, ip_forward 0"
}

# ---- the outside network

http_requests() {
        in_container grep -F "GET /$1 " "$HTTP_LOG" 2>/dev/null
}

# expect_nat PATH: the outside server got PATH, and only from the uplink's address.
expect_nat() {
        local path=$1 lines
        lines=$(http_requests "$path") || true
        sed 's/^/  server log: /' <<<"$lines"
        [[ -n $lines ]] || fail "the outside server's log has no request for /$path"
        if grep -v "^$UPLINK_ADDR " <<<"$lines"; then
                fail "requests for /$path came from another address than $UPLINK_ADDR (no NAT?)"
        fi
}

host_tcp_greeting() {
        in_container timeout 5 bash -c "exec 3<>/dev/tcp/$1/$PEER_PORT && cat <&3"
}

outside_tcp_connects() {
        outside timeout 5 bash -c "exec 3<>/dev/tcp/$1/$PEER_PORT" 2>&1
}

# ---- the guests' test scripts (busybox sh; see tests/guest/README.md)

# vm2: answers ping anyway, and greets on a TCP port for the rest of its 60 s.
vm2_script() {
        cat <<EOF
echo "INFO \$MICROVM_NAME at \$MICROVM_IP"
if ping -c 2 -W 2 "\$MICROVM_GATEWAY"; then echo "RESULT gateway-ping ok"; else echo "RESULT gateway-ping fail"; fi
while :; do nc -l -p $PEER_PORT -e echo $PEER_GREETING; done &
sleep 1
echo listening >listening
wait
EOF
}

# vm1 PEER_IP HTTP_PATH: the bridge, the outside (NAT), and vm2.
vm1_script() {
        cat <<EOF
for d in /sys/class/net/*; do n=\${d##*/}; [ "\$n" = lo ] || { IF=\$n; break; }; done
echo "INFO if \$IF"
echo "INFO mac \$(cat /sys/class/net/\$IF/address)"
echo "INFO addr \$(ip -4 -o addr show dev \$IF)"
echo "INFO env ip=\$MICROVM_IP gateway=\$MICROVM_GATEWAY dns=\$MICROVM_DNS"
echo "INFO resolv \$(grep nameserver /etc/resolv.conf | tr '\n' ' ')"
echo "INFO route \$(ip route | tr '\n' ';')"
if ping -c 2 -W 2 "\$MICROVM_GATEWAY"; then echo "RESULT gateway-ping ok"; else echo "RESULT gateway-ping fail"; fi
body=\$(timeout 10 wget -q -O - http://$OUTSIDE_ADDR:$HTTP_PORT/$2 2>&1); rc=\$?
echo "INFO http rc=\$rc body=\$body"
if [ \$rc -eq 0 ] && [ "\$body" = "$TOKEN" ]; then echo "RESULT http ok"; else echo "RESULT http fail"; fi
if ping -c 2 -W 2 $1; then echo "RESULT peer-ping ok"; else echo "RESULT peer-ping fail"; fi
out=\$( (sleep 2) | timeout 5 nc $1 $PEER_PORT 2>&1); rc=\$?
echo "INFO peer-tcp rc=\$rc out=\$out"
case \$out in *$PEER_GREETING*) echo "RESULT peer-tcp ok" ;; *) echo "RESULT peer-tcp fail" ;; esac
echo "RESULT finished ok"
EOF
}

# start_vm2_listening: starts vm2 and waits until its TCP listener is up.
start_vm2_listening() {
        start_vm vm2
        if ! wait_until "$BOOT_TIMEOUT" ws_has vm2 listening; then
                show_run_log vm2 30
                in_container cat "$(ws_file vm2 guest-test.out)" 2>&1 | sed 's/^/    out| /'
                fail "vm2's guest-test.sh did not start listening within $BOOT_TIMEOUT s"
        fi
}

# ---------------------------------------------------------------- checks

t_setup() {
        in_container useradd -m -s /bin/bash -G microvm alice
        # The forwarding microvmd must switch on and back off; a fresh namespace may have
        # inherited 1 from the machine.
        in_container sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
        expect_eq "ip_forward before microvmd" "$(ip_forward)" 0

        in_container ip netns add "$OUTSIDE_NS"
        in_container ip link add "$UPLINK" type veth peer name "$OUTSIDE_IF"
        in_container ip link set "$OUTSIDE_IF" netns "$OUTSIDE_NS"
        in_container ip addr add "$UPLINK_ADDR/24" dev "$UPLINK"
        in_container ip link set "$UPLINK" up
        in_container ip route add default via "$OUTSIDE_ADDR" dev "$UPLINK"
        outside ip link set lo up
        outside ip addr add "$OUTSIDE_ADDR/24" dev "$OUTSIDE_IF"
        outside ip link set "$OUTSIDE_IF" up
        # The way back to the VMs: only microvmd's firewall may keep "outside" out.
        outside ip route add "$SUBNET" via "$UPLINK_ADDR"

        in_container mkdir -p "$HTTP_ROOT"
        in_container sh -c "echo $TOKEN >$HTTP_ROOT/token.txt && echo $TOKEN >$HTTP_ROOT/again.txt &&
                echo ok >$HTTP_ROOT/health.txt"
        in_container systemd-run --quiet --unit=outside-http \
                --property=StandardOutput="append:$HTTP_LOG" --property=StandardError="append:$HTTP_LOG" \
                ip netns exec "$OUTSIDE_NS" python3 -u -m http.server "$HTTP_PORT" \
                --bind "$OUTSIDE_ADDR" --directory "$HTTP_ROOT"
        server_answers() {
                [[ $(outside timeout 3 python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())' \
                        "http://$OUTSIDE_ADDR:$HTTP_PORT/health.txt") == ok ]]
        }
        wait_until 15 server_answers || { in_container cat "$HTTP_LOG"; fail "the outside HTTP server does not answer"; }
        in_container ip -br addr | sed 's/^/  container: /'
        in_container ip route | sed 's/^/  container route: /'
        outside ip -br addr | sed 's/^/  outside: /'
        # Nothing of microvmd's yet.
        [[ -z $(taps) ]] || fail "mvt* taps exist before any VM started"
        ! bridge_exists || fail "$BRIDGE exists before any VM started"
        ! has_any_table || fail "microvmd nft tables exist before any VM started"
}

t_addresses() {
        local ip1 ip2 mac1 mac2 out name
        for name in vm1 vm2; do
                out=$(client alice create "$name" 2>&1) || fail "alice: create $name failed: $out"
        done
        ip1=$(vm_prop vm1 IPAddress)
        ip2=$(vm_prop vm2 IPAddress)
        mac1=$(vm_prop vm1 MACAddress)
        mac2=$(vm_prop vm2 MACAddress)
        echo "  vm1: $ip1 $mac1; vm2: $ip2 $mac2"
        [[ $ip1 != "$ip2" ]] || fail "vm1 and vm2 both have the address $ip1"
        [[ $mac1 != "$mac2" ]] || fail "vm1 and vm2 both have the MAC $mac1"
        for out in "$ip1" "$ip2"; do
                if ! [[ $out =~ ^192\.168\.83\.([0-9]+)$ ]] || ((BASH_REMATCH[1] < 2 || BASH_REMATCH[1] > 254)); then
                        fail "'$out' is not a VM address of $SUBNET"
                fi
        done
        for out in "$mac1" "$mac2"; do
                [[ $out =~ ^02(:[0-9a-f]{2}){5}$ ]] || fail "'$out' is not a locally administered MAC 02:..."
        done
        out=$(client alice list)
        sed 's/^/  list: /' <<<"$out"
        grep -Eq "^vm1 .* $ip1\$" <<<"$out" || fail "microvm-client list does not show vm1 with $ip1"
        grep -Eq "^vm2 .* $ip2\$" <<<"$out" || fail "microvm-client list does not show vm2 with $ip2"

        # A taken address, out of the subnet, the gateway: refused, nothing created.
        if out=$(as_user alice busctl call "$BUS" "$MPATH" "$MIFACE" CreateWorkspace 'sa{sv}' vm3 1 \
                ip-address s "$ip1" 2>&1); then
                fail "busctl CreateWorkspace vm3 with vm1's address $ip1 succeeded: $out"
        fi
        echo "  busctl: CreateWorkspace vm3 ip-address $ip1 -> $out"
        expect_dbus_error "$E_ADDRESS_IN_USE" alice "$MPATH" "$MIFACE.CreateWorkspace" "'vm3'" \
                "{'ip-address': <'$ip1'>}"
        expect_dbus_error "$E_INVALID_ARGUMENT" alice "$MPATH" "$MIFACE.CreateWorkspace" "'vm3'" \
                "{'ip-address': <'10.99.0.7'>}"
        expect_dbus_error "$E_INVALID_ARGUMENT" alice "$MPATH" "$MIFACE.CreateWorkspace" "'vm3'" \
                "{'ip-address': <'$GATEWAY'>}"
        expect_dbus_error "$E_INVALID_ARGUMENT" alice "$MPATH" "$MIFACE.CreateWorkspace" "'vm3'" \
                "{'ip-address': <'192.168.83.255'>}"
        out=$(gcall alice "$MPATH" "$MIFACE.ListVMs")
        [[ $out != *"'vm3'"* ]] || fail "ListVMs shows vm3 after the refused creations: $out"
        in_container test ! -e "$WS/vm3" || fail "$WS/vm3 exists after the refused creations"
        in_container test ! -e "$STATE/vms/vm3.json" || fail "$STATE/vms/vm3.json exists after the refused creations"

        # A free address asked for is given.
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'vm3'" "{'ip-address': <'192.168.83.200'>}" >/dev/null
        expect_eq "IPAddress of vm3 (asked for)" "$(vm_prop vm3 IPAddress)" 192.168.83.200
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'vm3'" "{'remove-files': <true>}" >/dev/null
}

# vm2 listens; from "outside" neither its TCP port nor ping gets through, while the
# host reaches both and "outside" reaches the bridge address (its route works).
t_no_way_in() {
        local ip2 out rc=0
        ip2=$(vm_prop vm2 IPAddress)
        install_guest_test vm2 "$(vm2_script)"
        start_vm2_listening
        out=$(host_tcp_greeting "$ip2" 2>&1) || true
        echo "  host -> $ip2:$PEER_PORT: $out"
        [[ $out == *"$PEER_GREETING"* ]] || fail "the host did not get vm2's greeting from $ip2:$PEER_PORT"
        pings "$ip2" || fail "the host cannot ping vm2 ($ip2)"
        echo "  host -> ping $ip2: ok"
        pings outside "$GATEWAY" || fail "outside cannot ping $GATEWAY: its route is broken"
        echo "  outside -> ping $GATEWAY (the host): ok"
        out=$(outside_tcp_connects "$ip2") || rc=$?
        echo "  outside -> $ip2:$PEER_PORT: exit $rc ${out}"
        ((rc != 0)) || fail "outside connected to vm2's TCP port $ip2:$PEER_PORT"
        if pings outside "$ip2"; then
                fail "outside can ping vm2 ($ip2)"
        fi
        echo "  outside -> ping $ip2: no answer"
        # Still listening: the refusal above was the firewall's, not a listener gone.
        out=$(host_tcp_greeting "$ip2" 2>&1) || true
        [[ $out == *"$PEER_GREETING"* ]] || fail "vm2's listener has gone meanwhile"
}

t_vm1_runs() {
        install_guest_test vm1 "$(vm1_script "$(vm_prop vm2 IPAddress)" token.txt)"
        start_vm vm1
        wait_guest_test vm1
        expect_guest_result vm1 finished ok
}

t_vm1_configured() {
        local ip1 mac1 addr
        ip1=$(vm_prop vm1 IPAddress)
        mac1=$(vm_prop vm1 MACAddress)
        addr=$(guest_info vm1 addr)
        echo "  guest: $addr; mac $(guest_info vm1 mac); $(guest_info vm1 resolv)"
        [[ $addr == *" inet $ip1/24 "* ]] || fail "the guest's address is not $ip1/24: $addr"
        expect_eq "the guest's MAC" "$(guest_info vm1 mac)" "$mac1"
        [[ $(guest_info vm1 resolv) == "nameserver $OUTSIDE_ADDR"* ]] ||
                fail "the guest's resolv.conf is not 'nameserver $OUTSIDE_ADDR': $(guest_info vm1 resolv)"
        [[ $(guest_info vm1 route) == *"default via $GATEWAY"* ]] ||
                fail "the guest has no default route via $GATEWAY: $(guest_info vm1 route)"
}

t_vm1_gateway() {
        expect_guest_result vm1 gateway-ping ok
        expect_guest_result vm2 gateway-ping ok
}

t_vm1_nat() {
        echo "  guest: $(guest_info vm1 http)"
        expect_guest_result vm1 http ok
        expect_nat token.txt
}

t_vm1_isolated() {
        local ip1 ip2 out
        ip2=$(vm_prop vm2 IPAddress)
        expect_guest_result vm1 peer-ping fail
        expect_guest_result vm1 peer-tcp fail
        # vm2 answers others: the host pings it.
        pings "$ip2" || fail "the host cannot ping vm2 ($ip2) either"
        echo "  host -> ping $ip2: ok"
        # And vm1 is out of reach from outside too, not only vm2.
        ip1=$(vm_prop vm1 IPAddress)
        pings "$ip1" || fail "the host cannot ping vm1 ($ip1)"
        echo "  host -> ping $ip1: ok"
        if pings outside "$ip1"; then
                fail "outside can ping vm1 ($ip1)"
        fi
        echo "  outside -> ping $ip1: no answer"
        out=$(host_tcp_greeting "$ip2" 2>&1) || true
        if [[ $out != *"$PEER_GREETING"* ]]; then
                note "vm2's TCP listener had ended (its guest-test.sh's 60 s) before vm1's test was over;" \
                        "vm1's failed TCP attempt proves less than its failed ping"
        fi
}

t_host_running() {
        local ip1 ip2 on_bridge tap out vmm_uid
        ip1=$(vm_prop vm1 IPAddress)
        ip2=$(vm_prop vm2 IPAddress)
        on_bridge=$(taps_on_bridge | sort | tr '\n' ' ')
        echo "  taps on $BRIDGE: $on_bridge"
        in_container ip -o link show master "$BRIDGE" | cut -c1-150 | sed 's/^/  | /'
        [[ $(taps_on_bridge | wc -l) == 2 ]] || { show_network; fail "expected 2 mvt* taps on $BRIDGE, got: '$on_bridge'"; }
        expect_eq "all mvt* devices" "$(taps | sort | tr '\n' ' ')" "$on_bridge"
        # Named after the VM's address (its index in the subnet).
        expect_eq "the taps" "$on_bridge" "$(printf 'mvt%s\n' "${ip1##*.}" "${ip2##*.}" | sort | tr '\n' ' ')"
        for tap in $on_bridge; do
                out=$(in_container ip -d link show dev "$tap" | grep -o 'tun type tap.*') || true
                echo "  $tap: $out"
                [[ $out == *"vnet_hdr on"* ]] || fail "$tap has no vnet_hdr"
                # Owned by its VM's hypervisor uid: 458752 + the tap's number.
                vmm_uid=$((458752 + ${tap#mvt}))
                [[ $out == *"user $vmm_uid "* ]] || fail "$tap is not owned by its VM's hypervisor uid $vmm_uid"
        done
        out=$(in_container ip -br addr show dev "$BRIDGE")
        echo "  $out"
        [[ $out == *" $GATEWAY/24"* ]] || fail "$BRIDGE does not have $GATEWAY/24"
        out=$(nft_tables)
        sed 's/^/  nft: /' <<<"$out"
        grep -qx "table ip microvmd" <<<"$out" || fail "no nft table 'ip microvmd'"
        grep -qx "table bridge microvmd" <<<"$out" || fail "no nft table 'bridge microvmd'"
        out=$(in_container nft list table ip microvmd)
        grep -q "oifname \"$UPLINK\" masquerade" <<<"$out" ||
                { sed 's/^/  | /' <<<"$out"; fail "no masquerading out of $UPLINK (Uplink=auto)"; }
        expect_eq ip_forward "$(ip_forward)" 1
        expect_eq "the unit of microvm-vm1" "$(in_container systemctl is-active "$(unit_of vm1)")" active
}

t_cmdline() {
        local out ip1 mac1
        ip1=$(vm_prop vm1 IPAddress)
        mac1=$(vm_prop vm1 MACAddress)
        out=$(in_container systemctl show -p ExecStart --value "$(unit_of vm1)")
        grep -o 'microvm\.[a-z]*=[^ ;"]*' <<<"$out" | sed 's/^/  /'
        [[ $out == *"microvm.ip=$ip1/24"* ]] || fail "the kernel command line lacks microvm.ip=$ip1/24"
        [[ $out == *"microvm.gateway=$GATEWAY"* ]] || fail "the kernel command line lacks microvm.gateway=$GATEWAY"
        [[ $out == *"microvm.dns=$OUTSIDE_ADDR"* ]] || fail "the kernel command line lacks microvm.dns=$OUTSIDE_ADDR"
        [[ $out == *"$mac1"* ]] || fail "the hypervisor's command line lacks the MAC $mac1"
}

t_stop_cleanup() {
        stop_vm vm1
        # One VM still runs: its tap, the bridge and the tables stay.
        [[ $(taps_on_bridge) == "mvt$(vm_prop vm2 IPAddress | sed 's/.*\.//')" ]] ||
                { show_network; fail "after vm1 stopped, the taps on $BRIDGE are: $(taps_on_bridge | tr '\n' ' ')"; }
        has_table ip || fail "the nft table 'ip microvmd' went while vm2 still runs"
        has_table bridge || fail "the nft table 'bridge microvmd' went while vm2 still runs"
        stop_vm vm2
        expect_network_gone "after both VMs stopped"
        in_container systemctl stop microvmd
        expect_eq "microvmd" "$(in_container systemctl is-active microvmd || true)" inactive
        expect_network_gone "after systemctl stop microvmd" 5
}

NO_RESTART_DROPIN=/run/systemd/system/microvmd.service.d/50-test-no-restart.conf

# Undoes the drop-in of t_stale_tap (also when that check failed half-way).
restore_restart() {
        if in_container test -e "$NO_RESTART_DROPIN"; then
                in_container rm "$NO_RESTART_DROPIN"
                in_container systemctl daemon-reload
        fi
        in_container systemctl reset-failed microvmd 2>/dev/null || true
}

t_stale_tap() {
        local tap out
        ensure_stopped vm1 vm2
        # No automatic restart: microvmd must stay dead while the VM goes. (Set before
        # the VM starts: a daemon-reload with a VM running stops the VM, see the report.)
        in_container mkdir -p "${NO_RESTART_DROPIN%/*}"
        printf '[Service]\nRestart=no\n' | in_container tee "$NO_RESTART_DROPIN" >/dev/null
        in_container systemctl daemon-reload
        # Boot quietly this time.
        as_user alice rm -f "$(ws_file vm1 guest-test.sh)"
        start_vm vm1
        tap=$(taps_on_bridge)
        echo "  vm1's tap: $tap"
        [[ $tap == mvt[0-9]* ]] || fail "vm1 runs without a tap on $BRIDGE"
        if ! wait_until "$BOOT_TIMEOUT" guest_listens vm1; then
                show_run_log vm1
                fail "vm1's guest did not finish booting"
        fi
        # Only the main process: killing the whole cgroup fails in this container (EIO).
        in_container systemctl kill --kill-who=main -s SIGKILL microvmd
        microvmd_dead() {
                ! in_container systemctl is-active --quiet microvmd
        }
        wait_until 10 microvmd_dead || fail "microvmd still runs after SIGKILL"
        echo "  microvmd: $(in_container systemctl is-active microvmd || true)"
        if [[ $(in_container systemctl is-active "$(unit_of vm1)" || true) != active ]]; then
                journal_tail "$(unit_of vm1)" 20
                journal_tail microvmd 10
                fail "$(unit_of vm1) ended with microvmd"
        fi
        in_container systemctl stop "$(unit_of vm1)"
        echo "  microvmd: $(in_container systemctl is-active microvmd || true);" \
                "$(unit_of vm1): $(in_container systemctl is-active "$(unit_of vm1)" || true)"
        out=$(taps | tr '\n' ' ')
        [[ $out == *"$tap "* ]] || fail "the tap $tap went with microvmd dead (nothing left to test): $out"
        echo "  stale: tap $tap; bridge: $(bridge_exists && echo yes || echo no)"
        restore_restart
        # Any call activates microvmd.
        as_user alice busctl call "$BUS" "$MPATH" "$MIFACE" ListVMs >/dev/null
        expect_network_gone "after microvmd started again"
        expect_eq "State of vm1" "$(vm_prop vm1 State)" stopped
        in_container journalctl -u microvmd -o cat --no-pager -q | grep -iE 'stale|deleted the bridge' |
                tail -n 3 | sed 's/^/  journal: /' || true
}

# [Network] Uplink=uplink0 and AllowVMToVM=true, with no default route left (so NAT
# works only if the explicit uplink is used): vm1 reaches vm2 now.
t_vm_to_vm_allowed() {
        local out
        restore_restart
        ensure_stopped vm1 vm2
        in_container systemctl stop microvmd
        config_text "Uplink=$UPLINK" AllowVMToVM=true | in_container tee "$CONF" >/dev/null
        in_container cat "$CONF" | sed 's/^/  conf: /'
        in_container ip route del default
        install_guest_test vm2 "$(vm2_script)"
        install_guest_test vm1 "$(vm1_script "$(vm_prop vm2 IPAddress)" again.txt)"
        start_vm2_listening
        start_vm vm1
        out=$(nft_tables)
        sed 's/^/  nft: /' <<<"$out"
        grep -qx "table ip microvmd" <<<"$out" || fail "no nft table 'ip microvmd'"
        # The bridge table stays (anti-spoofing), without its tap-to-tap drop.
        grep -qx "table bridge microvmd" <<<"$out" || fail "no nft table 'bridge microvmd'"
        out=$(in_container nft list chain bridge microvmd forward)
        ! grep -q 'iifname "mvt\*" oifname "mvt\*" drop' <<<"$out" ||
                { sed 's/^/  | /' <<<"$out"; fail "taps are kept apart with AllowVMToVM=true"; }
        out=$(nft_tables)
        out=$(in_container nft list table ip microvmd)
        grep -q "oifname \"$UPLINK\" masquerade" <<<"$out" ||
                { sed 's/^/  | /' <<<"$out"; fail "no masquerading out of $UPLINK (Uplink=$UPLINK)"; }
        wait_guest_test vm1
        expect_guest_result vm1 gateway-ping ok
        expect_guest_result vm1 http ok
        expect_guest_result vm1 peer-ping ok
        expect_guest_result vm1 peer-tcp ok
        expect_nat again.txt
        stop_vm vm1
        stop_vm vm2
        expect_network_gone "after both VMs stopped"
}

t_daemon_healthy() {
        local journal warnings
        # microvmd's own messages (not systemd's about its unit).
        journal=$(in_container journalctl -u microvmd -o cat --no-pager | grep -v '^microvmd\.service: ') || true
        if grep -Ei 'assert|CRITICAL|segfault|core dump|double free|AddressSanitizer|runtime error' <<<"$journal"; then
                fail "the journal of microvmd reports the lines above"
        fi
        warnings=$(grep -Ei 'warning|error|cannot' <<<"$journal") || true
        if [[ -n $warnings ]]; then
                sed 's/^/  journal: /' <<<"$warnings"
                note "microvmd logged warnings or errors: see the check's output (TEST_VERBOSE=1)"
        fi
        return 0
}

# ---------------------------------------------------------------- setup

# config_text [LINE...]: the config file; LINEs go into [Network] after DNS=.
config_text() {
        echo "# Written by $TEST_NAME: small VMs, the test guest, DNS in the outside namespace."
        echo "[Manager]"
        echo "DefaultVCPUs=1"
        echo "DefaultMemoryMiB=$MEMORY_MIB"
        echo "[Guest]"
        echo "Kernel=$GUEST_INSTALL_DIR/vmlinuz"
        echo "Initramfs=$GUEST_INSTALL_DIR/initrd.img"
        echo "[Hypervisor]"
        echo "StopTimeoutSec=60"
        echo "[Network]"
        echo "DNS=$OUTSIDE_ADDR"
        if (($#)); then
                printf '%s\n' "$@"
        fi
}

write_config() {
        mkdir -p "$CT_ROOT${CONF%/*}"
        config_text >"$CT_ROOT$CONF"
}

ct_pre_boot_hook() {
        install -d -m 0755 "$CT_ROOT$STATE" "$CT_ROOT$GUEST_INSTALL_DIR"
        install -m 0644 "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img" "$CT_ROOT$GUEST_INSTALL_DIR/"
        write_config
}

test_cleanup_hook() {
        [[ -z $NOTES_FILE ]] || rm -f "$NOTES_FILE"
}

dump_diagnostics() {
        echo "===== journalctl -u microvmd ====="
        in_container journalctl -u microvmd -o short-monotonic --no-pager 2>&1 | tail -n 60
        echo "===== journalctl -u 'microvm-*' (tail) ====="
        in_container journalctl -u 'microvm-*' -o short-monotonic --no-pager 2>&1 | tail -n 60
        echo "===== network ====="
        in_container ip -br link 2>&1
        in_container nft list ruleset 2>&1 | head -n 60
        echo "===== $HTTP_LOG ====="
        in_container cat "$HTTP_LOG" 2>&1 | tail -n 20
}

main() {
        prepare_test_guest_tier ip nft python3

        NOTES_FILE=$(mktemp /tmp/microvm-notes.XXXXXXXX)
        # shellcheck disable=SC2034 # used by container.sh
        CT_NAME=microvm-network-$$
        ct_start "$BUILD_DIR" || { ct_dump_console 60; exit 1; }

        echo "===== $TEST_NAME: bridge, taps, NAT and isolation with QEMU ====="
        check "setup: alice; uplink0 $UPLINK_ADDR <-> namespace outside $OUTSIDE_ADDR with an HTTP server; ip_forward 0" t_setup
        check "vm1 and vm2 get different addresses in $SUBNET and MACs 02:..; taken or foreign addresses refused" t_addresses
        check "no way in: outside cannot reach vm2 (TCP, ping), the host can" t_no_way_in
        check "vm1 boots and runs its network test" t_vm1_runs
        check "the guest's address, MAC, default route and DNS come from microvmd" t_vm1_configured
        check "the kernel command line carries microvm.ip, gateway, dns; the MAC is the VM's" t_cmdline
        check "the VMs ping the bridge address $GATEWAY" t_vm1_gateway
        check "vm1 fetches from the outside server, which sees $UPLINK_ADDR (NAT)" t_vm1_nat
        check "vm1 cannot reach vm2 (ping, TCP) by default; outside cannot ping vm1" t_vm1_isolated
        check "while running: taps on $BRIDGE, nft tables ip/bridge microvmd, ip_forward 1" t_host_running
        check "VMs stopped, microvmd stopped: no tap, bridge or table; ip_forward 0 again" t_stop_cleanup
        check "a tap left by a killed microvmd is removed at its next start" t_stale_tap
        check "Uplink=$UPLINK and AllowVMToVM=true: NAT out of $UPLINK, vm1 reaches vm2" t_vm_to_vm_allowed
        check "microvmd logged no crash or assertion" t_daemon_healthy

        if [[ -s $NOTES_FILE ]]; then
                echo
                echo "Notes:"
                sort -u "$NOTES_FILE" | sed 's/^/  /'
        fi
        if ! check_summary "$TEST_NAME"; then
                dump_diagnostics
                exit 1
        fi
        exit 0
}

main "$@"
