#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of what a hostile guest can reach: microvmd installed into a
# disposable container that boots a real systemd. Root in the test guest (its
# guest-test.sh runs as root, see tests/guest/README.md) attacks the host, the
# owner's network and another VM; each attack must fail while the legitimate paths
# keep working. The real guest (microvm-init, sshd) then shows the owner's path
# (create, start, ssh, NAT, DNS) and that the host's setuid binaries give no root.
#
# All traffic stays inside the container's private network namespace and namespaces
# this test creates in it:
#
#   VMs 192.168.83.x -- microbr 192.168.83.1 [container: HTTP :8090, DNS :53 on all
#                       of its addresses]
#   [container] uplink0 203.0.113.1 == veth == 203.0.113.2 [netns "outside": HTTP
#                       :8080, counters of probe pings]   (the default route: a
#                       documentation range standing in for the internet)
#   [container] lan0 192.168.50.1, 10.50.0.1 == veth == [netns "lan": 192.168.50.2,
#                       10.50.0.2, 169.254.169.254 (HTTP :8080), 192.168.50.53 (DNS,
#                       the VMs' configured server)]
#
# Usage: tests/integration/test-hostile-guest.sh [BUILD_DIR]
#
# BUILD_DIR (default: build/) must be configured with
#     --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# The test guest is built into BUILD_DIR/test-guest. Exit status: 0 all checks passed,
# 1 a check failed, 77 a container cannot run here. TEST_VERBOSE=1 prints the output of
# passing checks too.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317,SC2001
# Guest scripts are written for the guest's shell to expand.
# shellcheck disable=SC2016

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")
GUEST_DIR=$BUILD_DIR/test-guest
TEST_NAME=test-hostile-guest

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib-testguest.sh
source "$HERE/lib-testguest.sh"

GUEST_INSTALL_DIR=/usr/local/lib/microvm-tests/hostile-guest
CONF=/etc/microvm/microvmd.conf
MEMORY_MIB=512
REAL_GUEST_MEMORY_MIB=1024

BRIDGE=microbr
GATEWAY=192.168.83.1
UPLINK=uplink0
UPLINK_ADDR=203.0.113.1
OUTSIDE_NS=outside
OUTSIDE_ADDR=203.0.113.2
LAN_NS=lan
LAN_HOST_ADDR=192.168.50.1
LAN_HOST_ADDR10=10.50.0.1
LAN_ADDR=192.168.50.2
LAN_ADDR10=10.50.0.2
METADATA_ADDR=169.254.169.254
DNS_ADDR=192.168.50.53
DNS_ANSWER=198.51.100.53        # what the configured DNS server answers
HOST_DNS_ANSWER=198.51.100.1    # what the host's own DNS server answers
HOST_IPV6=2001:db8:83::1
HTTP_PORT=8080                  # outside and lan
HOST_HTTP_PORT=8090             # the host's own
PEER_PORT=2222
TOKEN=hostile-token-$$-$RANDOM
WWW=/run/hostile-www
SUID_ID=/usr/local/bin/microvm-test-suid-id

# Probe pings to the outside, told apart by their size (IPv4 total length).
SIZE_AS_B=1234          # A with B's address
SIZE_FOREIGN=1236       # A with an address outside the subnet
SIZE_B=1235             # B itself
BURST_LINES=50000       # written to the serial console as fast as the guest can
FOREIGN_ADDR=198.51.100.7

VERB_TIMEOUT=330
BOOT_TIMEOUT=90
GUEST_TEST_TIMEOUT=120
READY_TIMEOUT=150
SSH_TIMEOUT=90
MARK_LISTENING="microvm-test-guest: waiting for the power button"

NOTES_FILE=""

# ---------------------------------------------------------------- helpers

outside() {
        in_container ip netns exec "$OUTSIDE_NS" "$@"
}

lan() {
        in_container ip netns exec "$LAN_NS" "$@"
}

# The packets the outside namespace counted for a probe size.
probe_count() {
        local out
        out=$(outside nft list counter ip probe "size_$1")
        sed -n 's/.*packets \([0-9]*\).*/\1/p' <<<"$out"
}

# create_test_vm NAME [EXTRA_OPTIONS]: a VM that boots the test guest.
create_test_vm() {
        local name=$1 extra=${2:-}
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'$name'" \
                "{'kernel': <'$GUEST_INSTALL_DIR/vmlinuz'>, 'initramfs': <'$GUEST_INSTALL_DIR/initrd.img'>$extra}" \
                >/dev/null
}

# restart_microvmd_with LINE...: the [Network] lines after DNS=; VMs must be stopped.
restart_microvmd_with() {
        in_container systemctl stop microvmd
        config_text "$@" | in_container tee "$CONF" >/dev/null
        in_container grep -A20 '^\[Network\]' "$CONF" | sed 's/^/  conf: /'
        in_container systemctl start microvmd
}

# run_guest_script NAME SCRIPT: starts NAME with SCRIPT as its guest-test.sh and waits
# until the script has finished, then stops the VM.
run_guest_script() {
        local name=$1
        install_guest_test "$name" "$2"
        start_vm "$name"
        wait_guest_test "$name"
        stop_vm "$name"
}

# The guest's probes, as busybox sh functions: each prints "RESULT KEY reached" or
# "RESULT KEY blocked".
GUEST_LIB='
IF=
for d in /sys/class/net/*; do n=${d##*/}; [ "$n" = lo ] || { IF=$n; break; }; done
http() { # KEY URL [BODY]
        body=$(timeout 4 wget -q -O - "$2" 2>/dev/null); rc=$?
        if [ $rc -eq 0 ] && { [ -z "$3" ] || [ "$body" = "$3" ]; }; then echo "RESULT $1 reached"
        else echo "RESULT $1 blocked"; fi
}
dns() { # KEY SERVER EXPECTED_ADDRESS
        out=$(timeout 5 nslookup probe.microvm.test "$2" 2>&1)
        case $out in *"$3"*) echo "RESULT $1 reached" ;; *) echo "RESULT $1 blocked" ;; esac
}
pingable() { # KEY ADDRESS [ping options]
        key=$1; shift
        if ping -c 2 -W 2 "$@" >/dev/null 2>&1; then echo "RESULT $key reached"; else echo "RESULT $key blocked"; fi
}
greets() { # KEY ADDRESS PORT GREETING
        out=$( (sleep 2) | timeout 5 nc "$2" "$3" 2>&1)
        case $out in *"$4"*) echo "RESULT $1 reached" ;; *) echo "RESULT $1 blocked" ;; esac
}
'

# expect_results NAME KEY=reached|blocked...
expect_results() {
        local name=$1 kv
        shift
        for kv in "$@"; do
                expect_guest_result "$name" "${kv%%=*}" "${kv#*=}"
        done
}

# ---------------------------------------------------------------- checks

t_setup() {
        in_container useradd -m -s /bin/bash -G microvm alice
        as_user alice mkdir -p -m 0700 /home/alice/.ssh
        as_user alice ssh-keygen -q -t ed25519 -N '' -C alice@test -f /home/alice/.ssh/id_ed25519

        # The outside: the default route, an HTTP server, counters of probe pings.
        in_container ip netns add "$OUTSIDE_NS"
        in_container ip link add "$UPLINK" type veth peer name outside0
        in_container ip link set outside0 netns "$OUTSIDE_NS"
        in_container ip addr add "$UPLINK_ADDR/24" dev "$UPLINK"
        in_container ip link set "$UPLINK" up
        in_container ip route add default via "$OUTSIDE_ADDR" dev "$UPLINK"
        outside ip link set lo up
        outside ip addr add "$OUTSIDE_ADDR/24" dev outside0
        outside ip link set outside0 up
        outside ip route add 192.168.83.0/24 via "$UPLINK_ADDR"
        # Counted before routing, so that no reverse-path filter hides a probe.
        outside nft -f - <<EOF
table ip probe {
        counter size_$SIZE_AS_B {}
        counter size_$SIZE_FOREIGN {}
        counter size_$SIZE_B {}
        chain prerouting {
                type filter hook prerouting priority -300; policy accept;
                icmp type echo-request ip length $((SIZE_AS_B + 28)) counter name "size_$SIZE_AS_B"
                icmp type echo-request ip length $((SIZE_FOREIGN + 28)) counter name "size_$SIZE_FOREIGN"
                icmp type echo-request ip length $((SIZE_B + 28)) counter name "size_$SIZE_B"
        }
}
EOF

        # The owner's LAN: private and link-local addresses, and the VMs' DNS server.
        in_container ip netns add "$LAN_NS"
        in_container ip link add lan0 type veth peer name lan1
        in_container ip link set lan1 netns "$LAN_NS"
        in_container ip addr add "$LAN_HOST_ADDR/24" dev lan0
        in_container ip addr add "$LAN_HOST_ADDR10/24" dev lan0
        in_container ip link set lan0 up
        in_container ip route add "$METADATA_ADDR/32" dev lan0
        lan ip link set lo up
        for a in "$LAN_ADDR/24" "$DNS_ADDR/24" "$LAN_ADDR10/24" "$METADATA_ADDR/32"; do
                lan ip addr add "$a" dev lan1
        done
        lan ip link set lan1 up
        lan ip route add default via "$LAN_HOST_ADDR"

        in_container mkdir -p "$WWW"
        in_container sh -c "echo $TOKEN >$WWW/token.txt"
        # From the source tree, which the container may not see (its /tmp is its own).
        install -D -m 0755 "$HERE/dns-responder.py" "$CT_ROOT/usr/local/bin/microvm-test-dns"
        in_container systemd-run --quiet --unit=outside-http ip netns exec "$OUTSIDE_NS" \
                python3 -m http.server "$HTTP_PORT" --bind "$OUTSIDE_ADDR" --directory "$WWW"
        in_container systemd-run --quiet --unit=lan-http ip netns exec "$LAN_NS" \
                python3 -m http.server "$HTTP_PORT" --bind 0.0.0.0 --directory "$WWW"
        in_container systemd-run --quiet --unit=lan-dns ip netns exec "$LAN_NS" \
                /usr/local/bin/microvm-test-dns "$DNS_ADDR" 53 "$DNS_ANSWER"
        # The host's own services, on every one of its addresses.
        in_container systemd-run --quiet --unit=host-http \
                python3 -m http.server "$HOST_HTTP_PORT" --bind 0.0.0.0 --directory "$WWW"
        in_container systemd-run --quiet --unit=host-dns /usr/local/bin/microvm-test-dns 0.0.0.0 53 "$HOST_DNS_ANSWER"

        # A setuid-root program in the host's /usr (the container's overlay).
        in_container install -m 4755 -o root /usr/bin/id "$SUID_ID"

        # Each server answers from where it should (so a blocked probe means the firewall).
        serves() {
                [[ $(in_container ip netns exec "$1" timeout 3 python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())' "$2") == "$TOKEN" ]]
        }
        wait_until 15 serves "$OUTSIDE_NS" "http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt" || fail "outside HTTP"
        for a in "$LAN_ADDR" "$LAN_ADDR10" "$METADATA_ADDR" "$DNS_ADDR"; do
                wait_until 15 serves "$LAN_NS" "http://$a:$HTTP_PORT/token.txt" || fail "lan HTTP on $a"
        done
        host_serves() {
                [[ $(in_container timeout 3 python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip())' "$1") == "$TOKEN" ]]
        }
        wait_until 15 host_serves "http://$UPLINK_ADDR:$HOST_HTTP_PORT/token.txt" || fail "host HTTP"
        wait_until 15 host_serves "http://$LAN_ADDR:$HTTP_PORT/token.txt" || fail "lan HTTP from the host"
        dns_answers() {
                in_container timeout 5 busybox nslookup probe.microvm.test "$1" 2>&1 | grep -qF "$2"
        }
        wait_until 15 dns_answers "$DNS_ADDR" "$DNS_ANSWER" || fail "the lan DNS server does not answer"
        wait_until 15 dns_answers 127.0.0.1 "$HOST_DNS_ANSWER" || fail "the host's DNS server does not answer"
        echo "  servers answer: outside $OUTSIDE_ADDR:$HTTP_PORT, lan $LAN_ADDR $LAN_ADDR10 $METADATA_ADDR" \
                "$DNS_ADDR (:$HTTP_PORT, DNS), host :$HOST_HTTP_PORT and DNS :53"

        create_test_vm attacker
        create_test_vm victim
        echo "  attacker $(vm_prop attacker IPAddress) $(vm_prop attacker MACAddress);" \
                "victim $(vm_prop victim IPAddress) $(vm_prop victim MACAddress)"
        expect_eq "Egress of attacker" "$(vm_prop attacker Egress)" internet
}

# The victim: greets on its TCP port; once the attack is over, reaches the outside. It
# waits up to 120 s for the attack: on a loaded machine without KVM the attacker's boot
# and attack took more than 40 s, and the greeting was gone before the host asked.
victim_script() {
        cat <<EOF
$GUEST_LIB
while :; do nc -l -p $PEER_PORT -e echo i-am-the-victim; done &
sleep 1
echo listening >listening
i=0; while [ ! -e attack-done ] && [ \$i -lt 240 ]; do sleep 0.5; i=\$((i+1)); done
http outside-http http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt $TOKEN
pingable outside-ping $OUTSIDE_ADDR -s $SIZE_B
echo "RESULT finished ok"
sleep 20
EOF
}

# The attacker, as root in its guest: first the legitimate paths, then the host and the
# LAN, then spoofing (a foreign source, IPv6, the victim's address and MAC).
attacker_script() {
        local victim_ip=$1 victim_mac=$2 host_ll=$3 victim_ll=$4
        cat <<EOF
$GUEST_LIB
echo "INFO if \$IF \$(cat /sys/class/net/\$IF/address)"
# In parallel: a blocked probe waits for its time-out.
http outside-http http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt $TOKEN &
dns dns-configured $DNS_ADDR $DNS_ANSWER &
pingable gateway-ping $GATEWAY &
http host-bridge-tcp http://$GATEWAY:$HOST_HTTP_PORT/token.txt &
dns host-bridge-udp $GATEWAY $HOST_DNS_ANSWER &
http host-uplink-tcp http://$UPLINK_ADDR:$HOST_HTTP_PORT/token.txt &
http host-lan-tcp http://$LAN_HOST_ADDR:$HOST_HTTP_PORT/token.txt &
http lan-192 http://$LAN_ADDR:$HTTP_PORT/token.txt &
http lan-10 http://$LAN_ADDR10:$HTTP_PORT/token.txt &
http metadata http://$METADATA_ADDR:$HTTP_PORT/token.txt &
http dns-server-http http://$DNS_ADDR:$HTTP_PORT/token.txt &
greets victim-tcp-direct $victim_ip $PEER_PORT i-am-the-victim &
wait
# A source outside the subnet.
ip addr add $FOREIGN_ADDR/32 dev \$IF
ping -c 3 -W 2 -I $FOREIGN_ADDR -s $SIZE_FOREIGN $OUTSIDE_ADDR >/dev/null 2>&1
ip addr del $FOREIGN_ADDR/32 dev \$IF
# IPv6: a global address of its own, the host's and the victim's link-local ones.
ip -6 addr add 2001:db8:83::a/64 dev \$IF
sleep 3
echo "INFO ipv6 \$(ip -6 -o addr show dev \$IF | tr '\n' ' ')"
own_ll=\$(ip -6 -o addr show dev \$IF scope link | sed -n 's/.* inet6 \\([^/]*\\).*/\\1/p' | head -n 1)
pingable ipv6-self-global 2001:db8:83::a &
pingable ipv6-self-ll \$own_ll -I \$IF &
pingable ipv6-host-global $HOST_IPV6 &
pingable ipv6-host-ll $host_ll -I \$IF &
pingable ipv6-victim-ll $victim_ll -I \$IF &
wait
# The victim's address, then its MAC too; answer on the victim's port, note any hit.
printf '#!/bin/sh\necho hit >>attacker-hits\necho i-am-the-attacker\n' >hit.sh
chmod +x hit.sh
while :; do nc -l -p $PEER_PORT -e ./hit.sh; done &
ip addr add $victim_ip/32 dev \$IF
arping -U -c 2 -I \$IF -s $victim_ip $victim_ip >/dev/null 2>&1
ping -c 3 -W 2 -I $victim_ip -s $SIZE_AS_B $OUTSIDE_ADDR >/dev/null 2>&1
ip link set dev \$IF down
ip link set dev \$IF address $victim_mac
ip link set dev \$IF up
sleep 1
arping -U -c 3 -I \$IF -s $victim_ip $victim_ip >/dev/null 2>&1
arping -A -c 3 -I \$IF -s $victim_ip $GATEWAY >/dev/null 2>&1
ip route add default via $GATEWAY dev \$IF 2>/dev/null
ping -c 3 -W 2 -I $victim_ip -s $SIZE_AS_B $OUTSIDE_ADDR >/dev/null 2>&1
echo "INFO after the attack: \$(cat /sys/class/net/\$IF/address) \$(ip -4 -o addr show dev \$IF | tr '\n' ' ')"
echo done >attack-done
echo "RESULT finished ok"
sleep 15
EOF
}

# The EUI-64 link-local address of a MAC, as the guest's kernel derives it.
link_local_of() {
        python3 -c 'import ipaddress, sys
m = bytes.fromhex(sys.argv[1].replace(":", ""))
eui = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:]
print(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))' "$1"
}

t_attacks() {
        local victim_ip victim_mac attacker_ip host_ll victim_ll out neigh
        victim_ip=$(vm_prop victim IPAddress)
        victim_mac=$(vm_prop victim MACAddress)
        attacker_ip=$(vm_prop attacker IPAddress)
        install_guest_test victim "$(victim_script)"
        start_vm victim
        wait_until "$BOOT_TIMEOUT" ws_has victim listening || { show_run_log victim 30; fail "the victim never listened"; }

        # The host has IPv6 on the bridge: a global address and its link-local one.
        in_container ip -6 addr add "$HOST_IPV6/64" dev "$BRIDGE" nodad
        host_ll=$(in_container ip -6 -o addr show dev "$BRIDGE" scope link | awk '{print $4}' | cut -d/ -f1)
        [[ -n $host_ll ]] || fail "the bridge has no IPv6 link-local address: nothing to attack"
        victim_ll=$(link_local_of "$victim_mac")
        echo "  host $GATEWAY $HOST_IPV6 $host_ll; victim $victim_ip $victim_mac $victim_ll"

        install_guest_test attacker "$(attacker_script "$victim_ip" "$victim_mac" "$host_ll" "$victim_ll")"
        start_vm attacker
        wait_until "$GUEST_TEST_TIMEOUT" ws_has attacker attack-done ||
                { show_run_log attacker 30; in_container cat "$(ws_file attacker guest-test.out)"; fail "no attack-done"; }
        in_container cat "$(ws_file attacker guest-test.out)" | sed 's/^/  attacker| /'

        # The host's neighbour entry for the victim still points at the victim.
        neigh=$(in_container ip neigh show "$victim_ip" dev "$BRIDGE")
        echo "  host: ip neigh $neigh"
        [[ $neigh == *"lladdr $victim_mac "* && $neigh == *PERMANENT* ]] ||
                fail "the host's neighbour entry for $victim_ip is not $victim_mac (permanent): $neigh"
        # A TCP connection from the host to the victim's address reaches the victim.
        out=$(in_container timeout 5 bash -c "exec 3<>/dev/tcp/$victim_ip/$PEER_PORT && cat <&3") || true
        echo "  host -> $victim_ip:$PEER_PORT: $out"
        expect_eq "the greeting at the victim's address" "$out" i-am-the-victim
        as_user alice touch "$(ws_file victim attack-done)"
        wait_until 60 guest_result_is victim finished ok ||
                { in_container cat "$(ws_file victim guest-test.out)"; fail "the victim did not finish"; }
        in_container cat "$(ws_file victim guest-test.out)" | sed 's/^/  victim| /'
        expect_results victim outside-http=reached outside-ping=reached
        in_container test ! -e "$(ws_file attacker attacker-hits)" ||
                fail "the attacker received a connection meant for the victim"
        echo "  attacker-hits: none"
        echo "  attacker: $attacker_ip, victim: $victim_ip"
}

guest_result_is() {
        [[ $(guest_result "$1" "$2") == "$3" ]]
}

t_attacks_failed() {
        expect_results attacker outside-http=reached dns-configured=reached gateway-ping=reached \
                host-bridge-tcp=blocked host-bridge-udp=blocked host-uplink-tcp=blocked host-lan-tcp=blocked \
                lan-192=blocked lan-10=blocked metadata=blocked dns-server-http=blocked victim-tcp-direct=blocked \
                ipv6-self-global=reached ipv6-self-ll=reached \
                ipv6-host-global=blocked ipv6-host-ll=blocked ipv6-victim-ll=blocked
        expect_eq "probes from the attacker as the victim at the outside" "$(probe_count "$SIZE_AS_B")" 0
        expect_eq "probes from a foreign source at the outside" "$(probe_count "$SIZE_FOREIGN")" 0
        local legit
        legit=$(probe_count "$SIZE_B")
        echo "  outside counted: as-victim 0, foreign 0, victim's own $legit"
        ((legit > 0)) || fail "the victim's own pings never reached the outside"
}

t_dropped_counted() {
        local dropped out
        dropped=$(vm_prop attacker DroppedPackets)
        echo "  DroppedPackets of attacker: $dropped"
        ((dropped > 0)) || fail "DroppedPackets of the attacker is $dropped"
        out=$(client alice status attacker)
        grep -E '^ *(Egress|Dropped):' <<<"$out" | sed 's/^/  status| /'
        grep -Eq '^ *Egress: +internet' <<<"$out" || fail "status shows no 'Egress: internet'"
        grep -Eq "^ *Dropped: +[1-9][0-9]* packets" <<<"$out" || fail "status shows no dropped packets"
        stop_vm attacker
        stop_vm victim
}

# microvmd restarts while a VM runs: the tables are rebuilt, the VM's rules come back
# (until then its tap passes nothing).
t_restart_restores() {
        local ip tap
        install_guest_test victim "sleep 50"
        start_vm victim
        ip=$(vm_prop victim IPAddress)
        tap=mvt${ip##*.}
        wait_until "$BOOT_TIMEOUT" pings "$ip" || fail "the host cannot ping the victim ($ip)"
        in_container systemctl restart microvmd
        wait_until 15 state_is victim running || fail "victim is $(vm_prop victim State) after the restart"
        in_container nft list chain bridge microvmd "port_$tap" | sed 's/^/  | /'
        in_container nft list chain ip microvmd "fwd_$tap" >/dev/null || fail "no chain fwd_$tap after the restart"
        pings "$ip" || fail "the host cannot ping the victim ($ip) after microvmd restarted"
        echo "  host -> ping $ip after the restart: ok"
        stop_vm victim
}

# Root in the guest writes syslog levels and a burst to the serial console.
t_console() {
        local id emerg lines prio burst out
        install_guest_test attacker "$(cat <<EOF
echo "<0>hostile-emerg-$TOKEN" >/dev/ttyS0
echo "<1>hostile-alert-$TOKEN" >/dev/ttyS0
echo "<3>hostile-err-$TOKEN" >/dev/ttyS0
seq 1 $BURST_LINES | sed 's/^/hb /' >/dev/ttyS0
echo "RESULT finished ok"
EOF
)"
        start_vm attacker
        out=$(in_container systemctl show -p SyslogLevelPrefix,SyslogLevel,LogRateLimitIntervalUSec,LogRateLimitBurst \
                "$(unit_of attacker)")
        sed 's/^/  unit: /' <<<"$out"
        grep -qx SyslogLevelPrefix=no <<<"$out" || fail "the hypervisor's unit has SyslogLevelPrefix=yes"
        wait_guest_test attacker
        id=$(in_container systemctl show -p InvocationID --value "$(unit_of attacker)")
        stop_vm attacker
        emerg=$(in_container journalctl --no-pager -q -o json "_SYSTEMD_INVOCATION_ID=$id" |
                grep -F "hostile-emerg-$TOKEN") || fail "the guest's <0> line is not in the journal"
        prio=$(python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["PRIORITY"])' <<<"$emerg")
        echo "  the guest's '<0>' line: PRIORITY=$prio"
        expect_eq "priority of the guest's <0> line" "$prio" 6
        lines=$(in_container journalctl --no-pager -q -o cat -p 0..5 "_SYSTEMD_INVOCATION_ID=$id" | grep -v '^$') || true
        [[ -z $lines ]] || { sed 's/^/  | /' <<<"$lines" | head; fail "the unit logged above info (lines above)"; }
        lines=$(in_container journalctl --no-pager -q -o cat -p 0..3 -u "$(unit_of attacker)" | grep -F hostile) || true
        [[ -z $lines ]] || fail "guest text at emerg..err in the journal: $lines"
        burst=$(in_container journalctl --no-pager -q -o cat "_SYSTEMD_INVOCATION_ID=$id" | grep -cE '^hb [0-9]+$') || true
        echo "  burst: $burst of $BURST_LINES lines logged"
        ((burst > 0 && burst < BURST_LINES)) || fail "the burst was not rate-limited ($burst of $BURST_LINES lines logged)"
        # journald says so once the unit logs again after the interval (maybe not before the stop).
        lines=$(in_container journalctl --no-pager -q -o cat | grep -F "$(unit_of attacker)" | grep -i suppressed) || true
        sed 's/^/  journald: /' <<<"${lines:-(no "Suppressed" message yet)}" | tail -n 2
}

# A VM whose owner chose egress=none: DNS only.
t_vm_egress_none() {
        local out
        out=$(gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'strict'" "{'egress': <'open'>}" 2>&1) &&
                fail "egress=open was accepted from an owner: $out"
        [[ $out == *org.microvm.Error.InvalidArgument* ]] || fail "egress=open: $out"
        out=$(client alice create strict2 --egress all 2>&1) && fail "--egress all was accepted"
        echo "  --egress all: $out"
        create_test_vm strict ", 'egress': <'none'>"
        expect_eq "Egress of strict" "$(vm_prop strict Egress)" none
        out=$(client alice status strict)
        grep -Eq '^ *Egress: +none' <<<"$out" || fail "status of strict shows no 'Egress: none': $out"
        run_guest_script strict "$GUEST_LIB
http outside-http http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt $TOKEN
dns dns-configured $DNS_ADDR $DNS_ANSWER
http host-bridge-tcp http://$GATEWAY:$HOST_HTTP_PORT/token.txt
echo 'RESULT finished ok'"
        expect_results strict outside-http=blocked dns-configured=reached host-bridge-tcp=blocked
}

# AllowedNetworks= and AllowedHostPorts= open exactly what they name.
t_allowed() {
        restart_microvmd_with "AllowedNetworks=$LAN_ADDR/32" "AllowedHostPorts=tcp:$HOST_HTTP_PORT udp:53"
        run_guest_script attacker "$GUEST_LIB
http outside-http http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt $TOKEN
http lan-192 http://$LAN_ADDR:$HTTP_PORT/token.txt $TOKEN
http lan-10 http://$LAN_ADDR10:$HTTP_PORT/token.txt
http metadata http://$METADATA_ADDR:$HTTP_PORT/token.txt
http host-bridge-tcp http://$GATEWAY:$HOST_HTTP_PORT/token.txt $TOKEN
dns host-bridge-udp $GATEWAY $HOST_DNS_ANSWER
http host-uplink-tcp http://$UPLINK_ADDR:$HOST_HTTP_PORT/token.txt
echo 'RESULT finished ok'"
        expect_results attacker outside-http=reached lan-192=reached lan-10=blocked metadata=blocked \
                host-bridge-tcp=reached host-bridge-udp=reached host-uplink-tcp=blocked
}

# Egress=none in the config: nothing beyond DNS, for every VM; no VM can be more open.
t_config_none() {
        restart_microvmd_with "Egress=none"
        expect_eq "Egress of attacker" "$(vm_prop attacker Egress)" none
        # An owner's "internet" cannot open what the config keeps shut.
        create_test_vm inet ", 'egress': <'internet'>"
        expect_eq "Egress of inet (internet asked for, config none)" "$(vm_prop inet Egress)" none
        run_guest_script attacker "$GUEST_LIB
http outside-http http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt
dns dns-configured $DNS_ADDR $DNS_ANSWER
http lan-192 http://$LAN_ADDR:$HTTP_PORT/token.txt
echo 'RESULT finished ok'"
        expect_results attacker outside-http=blocked dns-configured=reached lan-192=blocked
}

# Egress=open: as before the policy existed, for VMs that do not choose stricter.
t_config_open() {
        restart_microvmd_with "Egress=open"
        expect_eq "Egress of attacker" "$(vm_prop attacker Egress)" open
        expect_eq "Egress of strict" "$(vm_prop strict Egress)" none
        run_guest_script attacker "$GUEST_LIB
http lan-10 http://$LAN_ADDR10:$HTTP_PORT/token.txt $TOKEN
http host-bridge-tcp http://$GATEWAY:$HOST_HTTP_PORT/token.txt $TOKEN
echo 'RESULT finished ok'"
        expect_results attacker lan-10=reached host-bridge-tcp=reached
        run_guest_script strict "$GUEST_LIB
http lan-10 http://$LAN_ADDR10:$HTTP_PORT/token.txt
http outside-http http://$OUTSIDE_ADDR:$HTTP_PORT/token.txt
echo 'RESULT finished ok'"
        expect_results strict lan-10=blocked outside-http=blocked
}

# The owner's path with the real guest: ssh, NAT, DNS; setuid binaries give no root.
t_real_guest() {
        local out uid
        restart_microvmd_with
        out=$(client alice create real --memory "${REAL_GUEST_MEMORY_MIB}M" 2>&1) || fail "create real: $out"
        in_container timeout "$VERB_TIMEOUT" runuser -u alice -- microvm-client --no-ask-password start real ||
                fail "start real failed"
        ssh_real() {
                in_container timeout "$((READY_TIMEOUT + SSH_TIMEOUT))" setsid -w runuser -u alice -- \
                        microvm-client --no-ask-password ssh --timeout "$READY_TIMEOUT" real -- "$@" </dev/null
        }
        out=$(ssh_real id -un 2>&1) || fail "ssh real: $out"
        expect_eq "id -un in the real guest" "$out" alice
        uid=$(in_container id -u alice)
        out=$(ssh_real "$SUID_ID -u; grep ' /usr ' /proc/mounts" 2>&1) || fail "ssh real: $out"
        sed 's/^/  guest: /' <<<"$out"
        expect_eq "the effective uid from the host's setuid-root id" "$(head -n 1 <<<"$out")" "$uid"
        grep -q ' /usr virtiofs [^ ]*nosuid' <<<"$out" || fail "/usr is not mounted nosuid in the guest"
        out=$(ssh_real "exec 3<>/dev/tcp/$OUTSIDE_ADDR/$HTTP_PORT && printf 'GET /token.txt HTTP/1.0\r\n\r\n' >&3 && tail -n 1 <&3" 2>&1) ||
                fail "HTTP to the outside from the real guest failed: $out"
        expect_eq "the outside's token, fetched in the real guest" "$out" "$TOKEN"
        out=$(ssh_real getent hosts probe.microvm.test 2>&1) || fail "getent hosts in the real guest: $out"
        echo "  guest: getent hosts probe.microvm.test -> $out"
        [[ $out == "$DNS_ANSWER "* ]] || fail "the configured DNS server did not answer the real guest"
        GCALL_TIMEOUT=200 gcall alice "$MPATH" "$MIFACE.StopVM" "'real'" "{}" >/dev/null
}

t_daemon_healthy() {
        local journal
        journal=$(in_container journalctl -u microvmd -o cat --no-pager | grep -v '^microvmd\.service: ') || true
        if grep -Ei 'assert|CRITICAL|segfault|core dump|double free|Cannot (install|remove|restore)' <<<"$journal"; then
                fail "the journal of microvmd reports the lines above"
        fi
}

# ---------------------------------------------------------------- setup

# config_text [LINE...]: the config file; LINEs go into [Network] after DNS=.
config_text() {
        echo "# Written by $TEST_NAME."
        echo "[Manager]"
        echo "DefaultVCPUs=1"
        echo "DefaultMemoryMiB=$MEMORY_MIB"
        echo "[Hypervisor]"
        echo "StopTimeoutSec=60"
        echo "[Network]"
        echo "DNS=$DNS_ADDR"
        if (($#)); then
                printf '%s\n' "$@"
        fi
}

ct_pre_boot_hook() {
        install -d -m 0755 "$CT_ROOT$STATE" "$CT_ROOT$GUEST_INSTALL_DIR"
        install -m 0644 "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img" "$CT_ROOT$GUEST_INSTALL_DIR/"
        mkdir -p "$CT_ROOT${CONF%/*}"
        config_text >"$CT_ROOT$CONF"
        # The test VMs boot the test guest as their own kernel: an administrator's rule.
        ct_allow_custom_boot alice
}

test_cleanup_hook() {
        [[ -z $NOTES_FILE ]] || rm -f "$NOTES_FILE"
}

dump_diagnostics() {
        echo "===== journalctl -u microvmd ====="
        in_container journalctl -u microvmd -o short-monotonic --no-pager 2>&1 | tail -n 60
        echo "===== nft list ruleset ====="
        in_container nft list ruleset 2>&1 | head -n 150
}

main() {
        prepare_test_guest_tier ip nft python3 busybox

        NOTES_FILE=$(mktemp /tmp/microvm-notes.XXXXXXXX)
        # shellcheck disable=SC2034 # used by container.sh
        CT_NAME=microvm-hostile-$$
        ct_start "$BUILD_DIR" || { ct_dump_console 60; exit 1; }

        echo "===== $TEST_NAME: a hostile guest against the host, the LAN and another VM ====="
        check "setup: alice; outside, lan and host servers answer; attacker and victim created" t_setup
        check "the attacker spoofs the victim's address and MAC: neighbour, TCP and the victim's traffic stay the victim's" t_attacks
        check "from the attacker: outside and DNS work; host, LAN, metadata, IPv6, spoofed sources do not" t_attacks_failed
        check "DroppedPackets counts the refused packets; status shows Egress and Dropped" t_dropped_counted
        check "microvmd restarts while a VM runs: its firewall rules come back, the host reaches it" t_restart_restores
        check "guest root's <0>, <1>, <3> and a burst on ttyS0: logged at info, rate-limited" t_console
        check "egress=none chosen by the owner: DNS only; egress=open refused" t_vm_egress_none
        check "AllowedNetworks= and AllowedHostPorts= open exactly what they name" t_allowed
        check "Egress=none in the config: DNS only" t_config_none
        check "Egress=open: LAN and host reachable; a VM with egress=none stays strict" t_config_open
        check "the real guest: ssh, NAT, DNS; the host's setuid-root id gives no root (nosuid /usr)" t_real_guest
        check "microvmd logged no crash, assertion or firewall failure" t_daemon_healthy

        if ! check_summary "$TEST_NAME"; then
                dump_diagnostics
                exit 1
        fi
        exit 0
}

main "$@"
