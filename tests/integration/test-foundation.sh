#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the foundation: microvmd installed into a disposable container
# that boots a real systemd, so D-Bus activation, dbus-daemon and polkitd are the real
# ones. Real users: alice and carol in the group microvm, bob in neither.
#
# Usage: tests/integration/test-foundation.sh [BUILD_DIR]
# BUILD_DIR (default: build/) must be configured with
#     --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# Exit status: 0 all checks passed, 1 a check failed, 77 a container cannot run here.
# TEST_VERBOSE=1 prints the output of passing checks too.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

E_INVALID_NAME=org.microvm.Error.InvalidName
E_INVALID_ARG=org.microvm.Error.InvalidArgument
E_NO_SUCH_VM=org.microvm.Error.NoSuchVM
E_EXISTS=org.microvm.Error.AlreadyExists

# ---------------------------------------------------------------- helpers

# Everything under /var/lib/microvm: type, mode, owner, size, path, link target and the
# content of regular files. Byte-identical before and after means nothing changed.
tree_listing() {
        in_container sh -c "find $STATE -printf '%y %M %u:%g %s %p -> %l\n' | LC_ALL=C sort
                find $STATE -type f -exec sha256sum {} + | LC_ALL=C sort"
}

expect_tree_unchanged() {
        local before=$1 after
        after=$(tree_listing)
        if [[ $before != "$after" ]]; then
                echo "  $STATE changed:"
                diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
                return 1
        fi
}

# expect_dbus_error 'ERROR1|ERROR2' USER PATH METHOD ARGS...: the call must fail with one
# of the errors and leave /var/lib/microvm untouched.
expect_dbus_error() {
        local expected=$1 user=$2 before out rc=0
        shift 2
        before=$(tree_listing)
        out=$(gcall "$user" "$@" 2>&1) || rc=$?
        if ((rc == 0)); then
                fail "$* as $user succeeded ($out), expected $expected"
        fi
        local re="(${expected//./\\.})"
        [[ $out =~ $re ]] || fail "$* as $user: expected $expected, got: $out"
        echo "  $user: ${2##*.}(${*:3}) -> ${out#Error: }"
        expect_tree_unchanged "$before"
}

# A CreateWorkspace as alice with GVariant-text arguments.
expect_create_error() {
        local expected=$1
        shift
        expect_dbus_error "$expected" alice "$MPATH" "$MIFACE.CreateWorkspace" "$@"
}

vm_props() {
        as_user alice busctl get-property "$BUS" "$(vm_path "$1")" "$VMIFACE" \
                Name State Owner Workspace VCPUs MemoryMiB CreatedAt
}

# ---------------------------------------------------------------- checks

t_group_and_users() {
        in_container getent group microvm >/dev/null ||
                fail "group microvm missing: the sysusers.d file did not create it at boot"
        in_container useradd -m -s /bin/bash -G microvm alice
        in_container useradd -m -s /bin/bash -G microvm carol
        in_container useradd -m -s /bin/bash bob
        local u
        for u in alice carol; do
                as_user "$u" mkdir -p -m 0700 "/home/$u/.ssh"
                as_user "$u" ssh-keygen -q -t ed25519 -N '' -C "$u@test" -f "/home/$u/.ssh/id_ed25519"
        done
        in_container id alice
        in_container id bob
}

t_activation_and_introspection() {
        local state out m
        state=$(in_container systemctl is-active microvmd) || true
        expect_eq "microvmd before the first call" "$state" inactive
        out=$(as_user alice busctl introspect "$BUS" "$MPATH")
        echo "$out"
        grep -q "^${MIFACE}[[:space:]]\+interface" <<<"$out" || fail "no interface $MIFACE"
        grep -q "^org.freedesktop.DBus.ObjectManager[[:space:]]" <<<"$out" ||
                fail "no org.freedesktop.DBus.ObjectManager"
        for m in CreateWorkspace DeleteWorkspace ListVMs GetVM; do
                grep -q "^\.${m}[[:space:]]\+method" <<<"$out" || fail "method $m not listed"
        done
        for m in Version WorkspaceBaseDir; do
                grep -q "^\.${m}[[:space:]]\+property" <<<"$out" || fail "property $m not listed"
        done
        state=$(in_container systemctl is-active microvmd) || true
        expect_eq "microvmd after introspection (D-Bus activation)" "$state" active
        # microvmd starts the guest builder once its VMs are loaded, and the builder writes
        # below /var/lib/microvm/guest: the "a refused call changes nothing" checks that
        # follow compare that tree, so they begin once the builder's run has ended.
        wait_until 600 guest_build_end 0 || fail "microvm-guest.service did not finish within 600 s"
        out=$(guest_build_end 0)
        expect_eq "microvm-guest.service's start job" "${out%% *}" done
}

t_manager_properties() {
        local out
        out=$(as_user alice busctl get-property "$BUS" "$MPATH" "$MIFACE" WorkspaceBaseDir)
        expect_eq WorkspaceBaseDir "$out" "s \"$WS\""
        out=$(as_user alice busctl get-property "$BUS" "$MPATH" "$MIFACE" Version)
        [[ $out =~ ^s\ \"[0-9]+\.[0-9]+ ]] || fail "Version: got '$out'"
        out=$(as_user alice microvm-client --version)
        echo "  microvm-client --version: $out"
        [[ -n $out ]] || fail "microvm-client --version printed nothing"
}

t_alice_creates_workspace() {
        local out uid
        out=$(client alice create myvm 2>&1) || fail "alice: create myvm failed: $out"
        echo "  $out"
        in_container test -d "$WS/myvm" || fail "$WS/myvm does not exist"
        expect_eq "owner of $WS/myvm" "$(in_container stat -c %U "$WS/myvm")" alice
        uid=$(in_container id -u alice)
        in_container test -f "$STATE/vms/myvm.json" || fail "$STATE/vms/myvm.json missing"
        in_container python3 -m json.tool "$STATE/vms/myvm.json" >/dev/null ||
                fail "myvm.json is not valid JSON"
        out=$(in_container python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["owner"])' \
                "$STATE/vms/myvm.json")
        expect_eq "owner in myvm.json" "$out" "$uid"
        out=$(vm_props myvm)
        echo "$out" | sed 's/^/  /'
        expect_eq "D-Bus properties of myvm" "$(head -n 6 <<<"$out")" "$(printf '%s\n' \
                's "myvm"' 's "stopped"' "u $uid" "s \"$WS/myvm\"" 'u 8' 't 4096')"
        local created now
        created=$(sed -n '7s/^t //p' <<<"$out")
        now=$(in_container date +%s%6N)
        if ! [[ $created =~ ^[0-9]+$ ]] || ((now - created < 0 || now - created > 600000000)); then
                fail "CreatedAt '$created' is not within the last 10 minutes (now $now)"
        fi
}

t_host_keys() {
        local keys=$WS/myvm/ssh-host-keys out pub_of_private pub
        in_container test -f "$keys/ssh_host_ed25519_key" || fail "ssh_host_ed25519_key missing"
        in_container test -f "$keys/ssh_host_ed25519_key.pub" || fail "ssh_host_ed25519_key.pub missing"
        out=$(in_container ssh-keygen -l -f "$keys/ssh_host_ed25519_key.pub")
        echo "  $out"
        [[ $out == *"(ED25519)" ]] || fail "not an ED25519 key: $out"
        pub_of_private=$(in_container ssh-keygen -y -f "$keys/ssh_host_ed25519_key" | cut -d' ' -f1,2)
        pub=$(in_container cut -d' ' -f1,2 "$keys/ssh_host_ed25519_key.pub")
        expect_eq "public key derived from the private host key" "$pub_of_private" "$pub"
        in_container sh -c "stat -c '  %A %U:%G %n' $keys $keys/*"
}

t_host_private_key_not_world_readable() {
        local mode
        mode=$(in_container stat -c %a "$WS/myvm/ssh-host-keys/ssh_host_ed25519_key")
        [[ $mode == *00 ]] || fail "ssh_host_ed25519_key has mode $mode: readable by group or others"
}

t_authorized_keys() {
        local ak mine
        ak=$(in_container grep -v -e '^#' -e '^[[:space:]]*$' "$WS/myvm/ssh-host-keys/authorized_keys") ||
                fail "authorized_keys missing or empty"
        mine=$(in_container cat /home/alice/.ssh/id_ed25519.pub)
        expect_eq "authorized_keys" "$ak" "$mine"
}

t_create_with_size() {
        local out path
        out=$(client alice create my-vm --vcpus 2 --memory 2G 2>&1) ||
                fail "alice: create my-vm --vcpus 2 --memory 2G failed: $out"
        out=$(as_user alice busctl call "$BUS" "$MPATH" "$MIFACE" GetVM s my-vm)
        path=$MPATH/vm/my_2dvm
        expect_eq "GetVM my-vm" "$out" "o \"$path\""
        expect_eq VCPUs "$(as_user alice busctl get-property "$BUS" "$path" "$VMIFACE" VCPUs)" "u 2"
        expect_eq MemoryMiB "$(as_user alice busctl get-property "$BUS" "$path" "$VMIFACE" MemoryMiB)" "t 2048"
        out=$(as_user alice busctl introspect "$BUS" "$path")
        echo "$out"
        grep -q "^${VMIFACE}[[:space:]]\+interface" <<<"$out" || fail "no interface $VMIFACE on $path"
        for p in Name State Owner Workspace VCPUs MemoryMiB CreatedAt; do
                grep -q "^\.${p}[[:space:]]\+property" <<<"$out" || fail "property $p not listed on $path"
        done
        grep -q "^\.Delete[[:space:]]\+method" <<<"$out" || fail "method Delete not listed on $path"
}

t_list_and_status() {
        local out
        out=$(client alice list)
        echo "$out"
        grep -Eq '(^|[[:space:]])myvm[[:space:]].*stopped' <<<"$out" || fail "list: no line 'myvm ... stopped'"
        grep -Eq '(^|[[:space:]])my-vm[[:space:]].*stopped' <<<"$out" || fail "list: no line 'my-vm ... stopped'"
        out=$(client alice status myvm)
        echo "$out"
        grep -q myvm <<<"$out" || fail "status myvm does not name the VM"
        grep -q stopped <<<"$out" || fail "status myvm does not show the state stopped"
        grep -q "$WS/myvm" <<<"$out" || fail "status myvm does not show the workspace"
        out=$(client alice --json list)
        echo "$out"
        python3 -c '
import json, sys
def find(x):
    if isinstance(x, dict):
        if x.get("name") == "myvm" and x.get("state") == "stopped":
            return True
        return any(find(v) for v in x.values())
    if isinstance(x, list):
        return any(find(v) for v in x)
    return False
sys.exit(0 if find(json.loads(sys.stdin.read())) else 1)' <<<"$out" ||
                fail "--json list is not JSON or has no {\"name\": \"myvm\", \"state\": \"stopped\"}"
        out=$(client alice --json status myvm)
        python3 -m json.tool <<<"$out" >/dev/null || fail "--json status myvm is not JSON: $out"
}

t_bob_refused() {
        local before err rc=0
        before=$(tree_listing)
        err=$(client bob create bobvm 2>&1 >/dev/null) || rc=$?
        echo "  bob: create bobvm -> exit $rc, stderr: $err"
        ((rc != 0)) || fail "bob could create bobvm"
        expect_eq "lines on stderr" "$(grep -c . <<<"$err")" 1
        expect_tree_unchanged "$before"
        in_container test ! -e "$WS/bobvm" || fail "$WS/bobvm exists"
        in_container test ! -e "$STATE/vms/bobvm.json" || fail "bobvm.json exists"
        expect_dbus_error "$E_REFUSED" bob "$MPATH" "$MIFACE.CreateWorkspace" "'bobvm'" "{}"
        expect_dbus_error "$E_REFUSED" bob "$MPATH" "$MIFACE.DeleteWorkspace" "'myvm'" "{'remove-files': <true>}"
        rc=0
        err=$(client bob delete myvm --purge 2>&1 >/dev/null) || rc=$?
        ((rc != 0)) || fail "bob could delete alice's myvm"
        expect_tree_unchanged "$before"
}

t_carol_cannot_delete_alices() {
        local before err rc=0
        before=$(tree_listing)
        err=$(client carol delete myvm 2>&1 >/dev/null) || rc=$?
        echo "  carol: delete myvm -> exit $rc, stderr: $err"
        ((rc != 0)) || fail "carol could delete alice's myvm"
        rc=0
        err=$(client carol delete myvm --purge 2>&1 >/dev/null) || rc=$?
        ((rc != 0)) || fail "carol could purge alice's myvm"
        expect_tree_unchanged "$before"
        expect_dbus_error "$E_REFUSED" carol "$(vm_path myvm)" "$VMIFACE.Delete" "{'remove-files': <true>}"
        expect_dbus_error "$E_REFUSED" carol "$MPATH" "$MIFACE.DeleteWorkspace" "'myvm'" "{}"
}

t_carol_manages_her_own() {
        local out
        out=$(client carol create carolvm 2>&1) || fail "carol: create carolvm failed: $out"
        expect_eq "owner of $WS/carolvm" "$(in_container stat -c %U "$WS/carolvm")" carol
        expect_eq "Owner of carolvm" \
                "$(as_user carol busctl get-property "$BUS" "$(vm_path carolvm)" "$VMIFACE" Owner)" \
                "u $(in_container id -u carol)"
        out=$(client carol delete carolvm --purge 2>&1) || fail "carol: delete carolvm --purge failed: $out"
        in_container test ! -e "$STATE/vms/carolvm.json" || fail "carolvm.json still there"
        in_container test ! -e "$WS/carolvm" || fail "$WS/carolvm still there"
}

t_bad_names() {
        local name before rc
        local names=("" ".." "a/b" "UPPER" "é" "$(printf 'a%.0s' {1..33})" "-x" "1abc" "a b" "a.b" "my_vm")
        for name in "${names[@]}"; do
                # busctl refuses ...
                before=$(tree_listing)
                rc=0
                as_user alice busctl call -- "$BUS" "$MPATH" "$MIFACE" CreateWorkspace \
                        'sa{sv}' "$name" 0 >/dev/null 2>&1 || rc=$?
                ((rc != 0)) || fail "busctl CreateWorkspace '$name' succeeded"
                expect_tree_unchanged "$before"
                # ... and the error is InvalidName.
                expect_create_error "$E_INVALID_NAME" "'$name'" "{}"
        done
        expect_dbus_error "$E_INVALID_NAME" alice "$MPATH" "$MIFACE.GetVM" "'../etc'"
        # The longest valid name (32 characters) is accepted.
        name=a$(printf 'b%.0s' {1..31})
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'$name'" "{}" >/dev/null
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'$name'" "{'remove-files': <true>}" >/dev/null
        in_container test ! -e "$WS/$name" || fail "$WS/$name still there"
}

t_bad_options() {
        local before rc=0
        before=$(tree_listing)
        as_user alice busctl call -- "$BUS" "$MPATH" "$MIFACE" CreateWorkspace \
                'sa{sv}' optvm 1 vcpus s 8 >/dev/null 2>&1 || rc=$?
        ((rc != 0)) || fail "busctl CreateWorkspace with 'vcpus s 8' succeeded"
        expect_tree_unchanged "$before"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'vcpus': <'8'>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'memory-mib': <uint32 2048>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'colour': <'blue'>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'vcpus': <uint32 0>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'vcpus': <uint32 4294967295>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'memory-mib': <uint64 0>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'memory-mib': <uint64 18446744073709551615>}"
        expect_create_error "$E_INVALID_ARG" "'optvm'" "{'authorized-keys': <'ssh-ed25519 AAAA x'>}"
        expect_dbus_error "$E_INVALID_ARG" alice "$MPATH" "$MIFACE.DeleteWorkspace" \
                "'myvm'" "{'remove-files': <'yes'>}"
        expect_dbus_error "$E_INVALID_ARG" alice "$MPATH" "$MIFACE.DeleteWorkspace" \
                "'myvm'" "{'recursive': <true>}"
        in_container test -e "$STATE/vms/myvm.json" || fail "myvm.json is gone"
}

t_duplicate_and_unknown() {
        expect_create_error "$E_EXISTS" "'myvm'" "{}"
        expect_dbus_error "$E_EXISTS" carol "$MPATH" "$MIFACE.CreateWorkspace" "'myvm'" "{}"
        expect_dbus_error "$E_NO_SUCH_VM" alice "$MPATH" "$MIFACE.GetVM" "'nosuchvm'"
        expect_dbus_error "$E_NO_SUCH_VM" alice "$MPATH" "$MIFACE.DeleteWorkspace" "'nosuchvm'" "{}"
        local before rc=0 err
        before=$(tree_listing)
        err=$(client alice status nosuchvm 2>&1 >/dev/null) || rc=$?
        ((rc != 0)) || fail "status nosuchvm succeeded"
        expect_eq "lines on stderr of status nosuchvm" "$(grep -c . <<<"$err")" 1
        expect_tree_unchanged "$before"
}

# /usr/share/dbus-1/interfaces/org.microvm.Manager{,.VM}.xml against what microvmd says.
t_interface_files() {
        local dir file path live
        dir=$(pkg-config --variable=interfaces_dir dbus-1)
        for file in org.microvm.Manager.xml org.microvm.Manager.VM.xml; do
                in_container test -f "$dir/$file" || fail "$dir/$file is not installed"
        done
        for file in org.microvm.Manager.xml:$MPATH org.microvm.Manager.VM.xml:$MPATH/vm/myvm; do
                path=${file#*:}
                file=${file%%:*}
                live=$(mktemp)
                as_user alice busctl introspect --xml-interface "$BUS" "$path" >"$live" ||
                        { rm -f "$live"; fail "cannot introspect $path"; }
                if ! python3 "$HERE/compare-introspection.py" "$CT_ROOT$dir/$file" "$live" >"$live.out"; then
                        sed "s|^|  $file: |" "$live.out"
                        rm -f "$live" "$live.out"
                        fail "$file differs from the live introspection of $path (above)"
                fi
                sed "s|^|  $file: |" "$live.out"
                rm -f "$live" "$live.out"
        done
        # gdbus-codegen takes them, as a desktop tool would.
        local out n
        command -v gdbus-codegen >/dev/null || fail "gdbus-codegen is missing (libglib2.0-dev-bin)"
        out=$(mktemp -d)
        if ! gdbus-codegen --interface-prefix org.microvm. --c-namespace Microvm --generate-c-code "$out/microvm" \
                "$CT_ROOT$dir/org.microvm.Manager.xml" "$CT_ROOT$dir/org.microvm.Manager.VM.xml"; then
                rm -rf "$out"
                fail "gdbus-codegen refused the interface files"
        fi
        n=$(grep -c 'microvm_manager_call_create_workspace\b\|microvm_manager_vm_get_dropped_packets\b' \
                "$out/microvm.h") || true
        rm -rf "$out"
        echo "  gdbus-codegen: $n declarations of CreateWorkspace and DroppedPackets"
        ((n >= 2)) || fail "gdbus-codegen's header lacks CreateWorkspace or DroppedPackets"
}

# data/polkit/examples/*.rules, installed for the test: each allows and refuses exactly
# what its comment says. A refused call is NotAuthorized (or needs a password).
t_example_polkit_rules() {
        local doc=/usr/share/doc/microvmd/examples/polkit rule out
        for rule in 40-microvm-students-size-limits.rules 40-microvm-ci-may-stop.rules 40-microvm-team-lead.rules; do
                in_container test -f "$doc/$rule" || fail "$doc/$rule is not installed"
                in_container cp "$doc/$rule" /etc/polkit-1/rules.d/
        done
        in_container groupadd students
        in_container groupadd ci
        in_container groupadd team
        in_container useradd -m -s /bin/bash -G students,microvm dave
        in_container useradd -m -s /bin/bash -G ci erin
        in_container useradd -m -s /bin/bash lead
        in_container useradd -m -s /bin/bash -G team,microvm tina
        # polkitd reads rules.d again when it changes; wait until the students' rule acts.
        refused_large() {
                local out
                if out=$(gcall dave "$MPATH" "$MIFACE.CreateWorkspace" "'probe'" "{'vcpus': <uint32 4>}" 2>&1); then
                        gcall dave "$MPATH" "$MIFACE.DeleteWorkspace" "'probe'" "{'remove-files': <true>}" >/dev/null
                        return 1
                fi
                [[ $out =~ ($E_REFUSED) ]]
        }
        wait_until 20 refused_large || fail "dave (students, microvm) may still create a VM of 4 vCPUs"
        expect_dbus_error "$E_REFUSED" dave "$MPATH" "$MIFACE.CreateWorkspace" "'big'" \
                "{'vcpus': <uint32 2>, 'memory-mib': <uint64 4096>}"
        expect_dbus_error "$E_REFUSED" dave "$MPATH" "$MIFACE.CreateWorkspace" "'big'" \
                "{'vcpus': <uint32 4>, 'memory-mib': <uint64 1024>}"
        out=$(gcall dave "$MPATH" "$MIFACE.CreateWorkspace" "'small'" \
                "{'vcpus': <uint32 2>, 'memory-mib': <uint64 2048>}" 2>&1) ||
                fail "dave could not create 2 vCPUs and 2048 MiB: $out"
        echo "  dave (students): 2 vCPUs 2048 MiB -> created; 4 vCPUs or 4096 MiB -> refused"

        # erin (ci): stop anyone's VM (NotRunning means authorized: it is stopped), not delete.
        expect_dbus_error org.microvm.Error.NotRunning erin "$MPATH" "$MIFACE.StopVM" "'myvm'" "{}"
        expect_dbus_error "$E_REFUSED" erin "$MPATH" "$MIFACE.DeleteWorkspace" "'myvm'" "{}"
        expect_dbus_error "$E_REFUSED" erin "$(vm_path myvm)" "$VMIFACE.GetLogs" "{}"

        # lead: the VMs of team members, not those of others, never their consoles.
        gcall tina "$MPATH" "$MIFACE.CreateWorkspace" "'tinavm'" "{}" >/dev/null
        expect_dbus_error org.microvm.Error.NotRunning lead "$MPATH" "$MIFACE.StopVM" "'tinavm'" "{}"
        expect_dbus_error "$E_REFUSED" lead "$(vm_path tinavm)" "$VMIFACE.OpenConsole"
        expect_dbus_error "$E_REFUSED" lead "$MPATH" "$MIFACE.StopVM" "'myvm'" "{}"
        gcall lead "$(vm_path tinavm)" "$VMIFACE.GetLogs" "{}" >/dev/null || fail "lead cannot read tinavm's logs"
        gcall lead "$MPATH" "$MIFACE.DeleteWorkspace" "'tinavm'" "{'remove-files': <true>}" >/dev/null ||
                fail "lead cannot delete tina's VM"
        gcall dave "$MPATH" "$MIFACE.DeleteWorkspace" "'small'" "{'remove-files': <true>}" >/dev/null
        for rule in 40-microvm-students-size-limits.rules 40-microvm-ci-may-stop.rules 40-microvm-team-lead.rules; do
                in_container rm "/etc/polkit-1/rules.d/$rule"
        done
}

# [Limits]: the number of VMs and the volumes' size per user; LimitExceeded names the
# limit and nothing is created; other users are not affected.
t_create_limits() {
        local conf=/etc/microvm/microvmd.conf n
        # alice's VMs: the definitions she owns.
        n=$(in_container python3 -c 'import glob, json, sys
print(sum(json.load(open(f))["owner"] == int(sys.argv[1]) for f in glob.glob(sys.argv[2] + "/*.json")))' \
                "$(in_container id -u alice)" "$STATE/vms")
        echo "  alice owns $n VMs; MaxVMsPerUser=$((n + 1))"
        ((n > 0)) || fail "cannot count alice's VMs"
        in_container mkdir -p /etc/microvm
        printf '[Limits]\nMaxVMsPerUser=%s\nMaxVolumeGiBPerUser=3\n' "$((n + 1))" | in_container tee "$conf" >/dev/null
        restart_microvmd
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'onemore'" "{'volume-gib': <uint64 2>}" >/dev/null ||
                fail "alice could not create her VM number $((n + 1))"
        expect_dbus_error org.microvm.Error.LimitExceeded alice "$MPATH" "$MIFACE.CreateWorkspace" "'toomany'" "{}"
        gcall carol "$MPATH" "$MIFACE.CreateWorkspace" "'carolvol'" "{'volume-gib': <uint64 2>}" >/dev/null ||
                fail "carol could not create a VM with a 2 GiB volume"
        expect_dbus_error org.microvm.Error.LimitExceeded carol "$MPATH" "$MIFACE.CreateWorkspace" "'carolvol2'" \
                "{'volume-gib': <uint64 2>}"
        gcall carol "$MPATH" "$MIFACE.CreateWorkspace" "'carolsmall'" "{}" >/dev/null ||
                fail "carol could not create a VM without a volume"
        for n in alice:onemore carol:carolvol carol:carolsmall; do
                gcall "${n%%:*}" "$MPATH" "$MIFACE.DeleteWorkspace" "'${n#*:}'" "{'remove-files': <true>}" >/dev/null
        done
        in_container rm "$conf"
        restart_microvmd
}

t_object_manager() {
        local out
        out=$(as_user alice busctl call "$BUS" "$MPATH" org.freedesktop.DBus.ObjectManager GetManagedObjects)
        echo "  ${out:0:300}..."
        [[ $out == *"\"$MPATH/vm/myvm\""* ]] || fail "GetManagedObjects lacks myvm"
        [[ $out == *"\"$MPATH/vm/my_2dvm\""* ]] || fail "GetManagedObjects lacks my-vm"
        [[ $out == *"\"$VMIFACE\""* ]] || fail "GetManagedObjects lacks the interface $VMIFACE"
        out=$(as_user alice busctl call "$BUS" "$MPATH" "$MIFACE" ListVMs)
        echo "  ListVMs: $out"
        [[ $out == 'a(ssso) 2 '* ]] || fail "ListVMs: expected 2 VMs, got $out"
        # The address is the VM's IPv4 address, or "" when it has none.
        local re='"myvm" "stopped" "([0-9]{1,3}(\.[0-9]{1,3}){3})?" "/org/microvm/Manager/vm/myvm"'
        [[ $out =~ $re ]] || fail "ListVMs lacks myvm (name, state stopped, address or \"\", path)"
        expect_eq "the names ListVMs lists, in order" "$(list_vm_names alice)" "my-vm myvm"
}

# The names ListVMs returns to USER, in its order.
list_vm_names() {
        as_user "$1" busctl --json=short call "$BUS" "$MPATH" "$MIFACE" ListVMs |
                python3 -c 'import json, sys; print(" ".join(e[0] for e in json.load(sys.stdin)["data"][0]))'
}

t_signals() {
        local pid log before
        pid=$(in_container sh -c 'gdbus monitor --system --dest org.microvm.Manager \
                >/run/microvm-monitor.log 2>&1 & echo $!')
        sleep 1.5
        before=$(list_vm_names alice)
        client alice create sigvm >/dev/null
        # ListVMs follows creations and deletions, sorted by name.
        expect_eq "ListVMs after creating sigvm" "$(list_vm_names alice)" \
                "$( (tr ' ' '\n' <<<"$before"; echo sigvm) | LC_ALL=C sort | xargs)"
        client alice delete sigvm --purge >/dev/null
        expect_eq "ListVMs after deleting sigvm" "$(list_vm_names alice)" "$before"
        sleep 1
        in_container kill "$pid" || true
        log=$(in_container cat /run/microvm-monitor.log)
        echo "$log" | head -20
        grep -q "InterfacesAdded (objectpath '$MPATH/vm/sigvm'" <<<"$log" ||
                fail "no InterfacesAdded for sigvm"
        grep -q "InterfacesRemoved (objectpath '$MPATH/vm/sigvm'" <<<"$log" ||
                fail "no InterfacesRemoved for sigvm"
}

t_restart_keeps_definitions() {
        local before after
        before=$(vm_props myvm)
        restart_microvmd
        expect_eq "microvmd after restart" "$(in_container systemctl is-active microvmd)" active
        after=$(vm_props myvm)
        echo "$after" | sed 's/^/  /'
        [[ $before == "$after" ]] || fail "properties of myvm changed across restart: before: $before"
        client alice list | grep -Eq '(^|[[:space:]])myvm[[:space:]]' || fail "list lacks myvm after restart"
}

# From 256 definitions on they are read by worker threads: all load, invalid ones are
# still skipped and logged.
t_many_definitions() {
        local since out n
        in_container python3 - "$STATE/vms" <<'EOF2'
import json, os, sys
d = sys.argv[1]
t = json.load(open(f"{d}/myvm.json"))
for i in range(300):
    t.update(name=f"many{i:03d}", workspace=f"/var/lib/microvm/workspaces/many{i:03d}")
    fd = os.open(f"{d}/many{i:03d}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(t, f)
with open(f"{d}/many-junk.json", "w") as f:
    f.write("{ not json")
EOF2
        since=$(in_container date +%s)
        sleep 1
        restart_microvmd
        out=$(list_vm_names alice)
        n=$(wc -w <<<"$out")
        expect_eq "VMs listed with 300 more definitions" "$(grep -o 'many[0-9]*' <<<"$out" | wc -l)" 300
        [[ $out == *"myvm"* && $out != *"many-junk"* ]] || fail "ListVMs: $out"
        echo "  $n VMs listed"
        out=$(in_container journalctl -u microvmd --since "@$since" -o cat --no-pager)
        grep -q "Skipping VM definition many-junk.json" <<<"$out" || fail "many-junk.json was not logged as skipped"
        grep -Fq "Loaded $n VM definitions." <<<"$out" || fail "microvmd did not log loading $n definitions"
        in_container sh -c "rm -f $STATE/vms/many*.json"
        restart_microvmd
}

# microvm-build-guest: up to date without resolving modules again (no modinfo); a changed
# input rebuilds.
t_guest_stamp() {
        local out modinfo
        in_container test -f "$STATE/guest/stamp" || { echo "  no guest was built here (no usable kernel): skipped"; return 0; }
        modinfo=$(in_container sh -c 'command -v modinfo') || fail "no modinfo in the container"
        in_container sh -c "rm -rf /run/gs && mkdir -p /run/gs/bin &&
                printf '#!/bin/sh\\necho called >>/run/gs/modinfo-calls\\nexec $modinfo \"\$@\"\\n' >/run/gs/bin/modinfo &&
                chmod +x /run/gs/bin/modinfo && cp /usr/libexec/microvm/microvm-init /run/gs/init"
        out=$(in_container env PATH="/run/gs/bin:$CT_PATH" /usr/libexec/microvm/microvm-build-guest --init /run/gs/init /run/gs/out 2>&1) ||
                fail "the first build failed: $out"
        in_container test -s /run/gs/modinfo-calls || fail "the first build did not resolve the modules"
        in_container rm -f /run/gs/modinfo-calls
        out=$(in_container env PATH="/run/gs/bin:$CT_PATH" /usr/libexec/microvm/microvm-build-guest --init /run/gs/init /run/gs/out 2>&1)
        echo "  $out" | tail -n 1
        [[ $out == *"up to date"* ]] || fail "the second run did not find the guest up to date: $out"
        in_container test ! -e /run/gs/modinfo-calls || fail "the up-to-date check ran modinfo"
        in_container sh -c 'echo >>/run/gs/init'
        out=$(in_container env PATH="/run/gs/bin:$CT_PATH" /usr/libexec/microvm/microvm-build-guest --init /run/gs/init /run/gs/out 2>&1)
        [[ $out == *"building the guest"* ]] || fail "a changed microvm-init did not rebuild: $out"
        # A stamp of the format before the module database was in it: rebuilt once.
        in_container sed -i '/^module-database /d; /^wanted /d' /run/gs/out/stamp
        out=$(in_container env PATH="/run/gs/bin:$CT_PATH" /usr/libexec/microvm/microvm-build-guest --init /run/gs/init /run/gs/out 2>&1)
        [[ $out == *"building the guest"* ]] || fail "a stamp of the earlier format did not rebuild: $out"
        in_container rm -rf /run/gs
}

t_invalid_definition_skipped() {
        local since out
        in_container sh -c "printf '{ this is not json\n' >$STATE/vms/junk.json
                : >$STATE/vms/empty.json
                printf '%s\n' '{\"format-version\":1,\"name\":\"../../etc\",\"owner\":0,\"vcpus\":1,\"memory-mib\":1,\"workspace\":\"/etc\",\"created-at\":0}' >$STATE/vms/evil.json"
        since=$(in_container date +%s)
        sleep 1
        restart_microvmd
        expect_eq "microvmd after restart" "$(in_container systemctl is-active microvmd)" active
        expect_eq "junk.json after restart" "$(in_container cat "$STATE/vms/junk.json")" "{ this is not json"
        in_container test -e "$STATE/vms/empty.json" || fail "empty.json was deleted"
        in_container test -e "$STATE/vms/evil.json" || fail "evil.json was deleted"
        out=$(in_container journalctl -u microvmd --since "@$since" -o cat --no-pager)
        echo "$out" | sed 's/^/  journal: /'
        grep -q junk <<<"$out" || fail "the journal of microvmd does not mention junk.json"
        out=$(client alice list)
        grep -Eq '(^|[[:space:]])myvm[[:space:]]' <<<"$out" || fail "list lacks myvm"
        if grep -Eq 'junk|empty|evil|etc' <<<"$out"; then fail "list shows an invalid definition: $out"; fi
        in_container rm -f "$STATE/vms/junk.json" "$STATE/vms/empty.json" "$STATE/vms/evil.json"
}

t_delete_keeps_workspace() {
        local out
        out=$(client alice delete myvm 2>&1) || fail "alice: delete myvm failed: $out"
        in_container test ! -e "$STATE/vms/myvm.json" || fail "myvm.json still there"
        in_container test -d "$WS/myvm" || fail "the workspace $WS/myvm was removed without --purge"
        in_container test -f "$WS/myvm/ssh-host-keys/ssh_host_ed25519_key" || fail "host key removed"
        expect_dbus_error "$E_NO_SUCH_VM" alice "$MPATH" "$MIFACE.GetVM" "'myvm'"
        if client alice list | grep -Eq '(^|[[:space:]])myvm[[:space:]]'; then fail "list still shows myvm"; fi
        # The workspace directory left behind blocks the name.
        expect_create_error "$E_EXISTS" "'myvm'" "{}"
}

t_purge_does_not_follow_symlinks() {
        local ws=$WS/purgevm out
        out=$(client alice create purgevm 2>&1) || fail "alice: create purgevm failed: $out"
        in_container sh -c 'echo precious >/etc/important
                mkdir -p /var/lib/microvm/precious/sub
                echo keep >/var/lib/microvm/precious/keep
                echo keep >/var/lib/microvm/precious/sub/keep'
        # Links to places microvmd may write (its own state dir) and to /etc.
        as_user alice sh -ec "cd $ws
                ln -s /etc/important etc-link
                ln -s $STATE/precious dir-link
                ln -s $STATE/precious/keep file-link
                mkdir -p deep/er
                ln -s $STATE/precious deep/er/dir-link
                echo mine >deep/file
                mv ssh-host-keys real-keys
                ln -s $STATE/precious ssh-host-keys"
        out=$(client alice delete purgevm --purge 2>&1) || fail "alice: delete purgevm --purge failed: $out"
        # The tree is moved aside at once and removed by a worker thread: wait for that.
        removed() {
                in_container sh -c "! ls -A $WS/.staging | grep -q '^remove-purgevm-'"
        }
        wait_until 30 removed || fail "the detached workspace is still in $WS/.staging after 30 s"
        in_container journalctl -u microvmd -o cat --no-pager | grep -qF "Removed the workspace of purgevm." ||
                fail "microvmd did not log the removal of purgevm's workspace"
        expect_eq /etc/important "$(in_container cat /etc/important)" precious
        expect_eq "$STATE/precious/keep" "$(in_container cat "$STATE/precious/keep")" keep
        expect_eq "$STATE/precious/sub/keep" "$(in_container cat "$STATE/precious/sub/keep")" keep
        in_container test ! -e "$STATE/vms/purgevm.json" || fail "purgevm.json still there"
        in_container sh -c "test ! -e $ws && test ! -L $ws" || fail "$ws still there after --purge"
        in_container rm -rf "$STATE/precious" /etc/important
}

t_purge_removes_workspace() {
        local out
        out=$(client alice delete my-vm --purge 2>&1) || fail "alice: delete my-vm --purge failed: $out"
        in_container test ! -e "$STATE/vms/my-vm.json" || fail "my-vm.json still there"
        in_container test ! -e "$WS/my-vm" || fail "$WS/my-vm still there"
}

# polkit is asked at every call, and its answer serves only the call it was given for:
# microvmd dispatches the call again once polkit has answered (auth_verify()), and the
# answer is dropped after that. A rule that reads its verdict from a file shows it: a
# refused call changes nothing and the same call again is asked again, and a changed
# verdict applies to the very next call.
REDISPATCH_RULE=/etc/polkit-1/rules.d/30-test-redispatch.rules
REDISPATCH_VERDICT=/run/microvm-test-verdict
# The rule appends one line per check here (polkitd runs it as its own user).
REDISPATCH_CHECKS=/run/microvm-test-checks

# redispatch_rule USER ACTION... : the test rule for USER and the actions; it records each
# check (verb, vm, owner, created-at) and answers what $REDISPATCH_VERDICT says, after
# ${REDISPATCH_DELAY:-0} s.
redispatch_rule() {
        local user=$1 actions
        shift
        actions=$(printf '"%s",' "$@")
        cat <<RULE | in_container tee "$REDISPATCH_RULE" >/dev/null
polkit.addRule(function(action, subject) {
        if (subject.user !== "$user" || [${actions%,}].indexOf(action.id) < 0)
                return polkit.Result.NOT_HANDLED;
        var check = action.lookup("verb") + " " + action.lookup("vm") + " owner " + action.lookup("owner") +
                    " created-at " + action.lookup("created-at");
        var verdict = polkit.spawn(["/bin/sh", "-c",
                'echo "\$1" >>$REDISPATCH_CHECKS; v=\$(cat $REDISPATCH_VERDICT); sleep ${REDISPATCH_DELAY:-0}; echo \$v',
                "sh", check]).trim();
        return verdict === "yes" ? polkit.Result.YES : polkit.Result.NO;
});
RULE
}

redispatch_verdict() {
        echo "$1" | in_container tee "$REDISPATCH_VERDICT" >/dev/null
}

# redispatch_checks PATTERN: how many checks the rule has recorded that match PATTERN.
redispatch_checks() {
        in_container grep -c -- "$1" "$REDISPATCH_CHECKS" || true
}

redispatch_cleanup() {
        in_container rm -f "$REDISPATCH_RULE" "$REDISPATCH_VERDICT" "$REDISPATCH_CHECKS"
}

t_polkit_asked_every_call() {
        local out n
        trap redispatch_cleanup EXIT
        in_container install -m 0666 /dev/null "$REDISPATCH_CHECKS"
        redispatch_verdict no
        redispatch_rule bob org.microvm.manager.create org.microvm.manager.delete
        # polkitd reads rules.d again when it changes; without the rule bob needs a password.
        rule_active() {
                [[ $(gcall bob "$MPATH" "$MIFACE.CreateWorkspace" "'bobrd'" "{}" 2>&1) == *NotAuthorized* ]]
        }
        wait_until 20 rule_active || fail "polkitd did not pick up $REDISPATCH_RULE"

        n=$(redispatch_checks "^create bobrd ")
        expect_dbus_error org.microvm.Error.NotAuthorized bob "$MPATH" "$MIFACE.CreateWorkspace" "'bobrd'" "{}"
        expect_dbus_error org.microvm.Error.NotAuthorized bob "$MPATH" "$MIFACE.CreateWorkspace" "'bobrd'" "{}"
        expect_eq "polkit checks of two refused creates" "$(($(redispatch_checks "^create bobrd ") - n))" 2

        # The verdict changes between two calls: the next call gets the new one.
        redispatch_verdict yes
        out=$(gcall bob "$MPATH" "$MIFACE.CreateWorkspace" "'bobrd'" "{}" 2>&1) ||
                fail "bob's create after the rule said yes: $out"
        echo "  verdict yes: bob creates bobrd -> $out"
        expect_eq "owner of $WS/bobrd" "$(in_container stat -c %U "$WS/bobrd")" bob
        redispatch_verdict no
        expect_dbus_error org.microvm.Error.NotAuthorized bob "$MPATH" "$MIFACE.DeleteWorkspace" "'bobrd'" \
                "{'remove-files': <true>}"
        in_container test -e "$STATE/vms/bobrd.json" || fail "bobrd.json is gone after a refused delete"
        redispatch_verdict yes
        gcall bob "$MPATH" "$MIFACE.DeleteWorkspace" "'bobrd'" "{'remove-files': <true>}" >/dev/null ||
                fail "bob's delete after the rule said yes again was refused"
        in_container test ! -e "$STATE/vms/bobrd.json" || fail "bobrd.json still there"
        in_container sed 's/^/  polkit asked: /' "$REDISPATCH_CHECKS"
}

# An answer about one VM is never used for another of the same name: while polkit
# deliberates carol's StopVM of alice's racevm (the rule says yes, after 5 s), root
# deletes racevm and creates another racevm. The second dispatch finds other details
# (owner, created-at), so polkit is asked again, and now says no.
t_redispatch_other_vm() {
        local caller out rc=0 checks
        redispatch_race_cleanup() {
                redispatch_cleanup
                in_container gdbus call --system --dest "$BUS" --object-path "$MPATH" \
                        --method "$MIFACE.DeleteWorkspace" "'racevm'" "{'remove-files': <true>}" >/dev/null 2>&1 || true
        }
        trap redispatch_race_cleanup EXIT
        in_container install -m 0666 /dev/null "$REDISPATCH_CHECKS"
        redispatch_verdict yes
        REDISPATCH_DELAY=5 redispatch_rule carol org.microvm.manager.manage-any
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'racevm'" "{}" >/dev/null
        carol_allowed() {
                [[ $(gcall carol "$MPATH" "$MIFACE.StopVM" "'racevm'" "{}" 2>&1) == *NotRunning* ]]
        }
        wait_until 30 carol_allowed || fail "polkitd did not pick up $REDISPATCH_RULE"

        gcall carol "$MPATH" "$MIFACE.StopVM" "'racevm'" "{}" >"$CHECK_LOG.race" 2>&1 &
        caller=$!
        sleep 1
        in_container gdbus call --system --dest "$BUS" --object-path "$MPATH" \
                --method "$MIFACE.DeleteWorkspace" "'racevm'" "{'remove-files': <true>}" >/dev/null
        in_container gdbus call --system --dest "$BUS" --object-path "$MPATH" \
                --method "$MIFACE.CreateWorkspace" "'racevm'" "{}" >/dev/null
        redispatch_verdict no
        wait "$caller" || rc=$?
        out=$(cat "$CHECK_LOG.race")
        echo "  carol's StopVM of alice's racevm, replaced by root's meanwhile -> exit $rc: $out"
        ((rc != 0)) || fail "carol's StopVM succeeded on root's racevm"
        [[ $out == *org.microvm.Error.NotAuthorized* ]] || fail "expected NotAuthorized (asked again), got: $out"
        checks=$(in_container grep "^stop racevm " "$REDISPATCH_CHECKS" | tail -n 2)
        sed 's/^/  polkit asked: /' <<<"$checks"
        [[ $checks == *"owner alice"*$'\n'*"owner root"* ]] ||
                fail "polkit was not asked once for alice's racevm and then for root's"
}

# ---- the authorization matrix (README.md, "Authorization"): every method and property
# setter of both interfaces, as the owner, another member of the group microvm, an
# outsider, root, and a user whom an administrator's rule grants manage-any. The VM is
# stopped and its kernel missing, so an authorized start ends in KernelNotFound and an
# authorized stop in NotRunning: the answer tells whether polkit said yes.

MATRIX_CALLERS=(alice carol bob root opal)
# call: expected answer per caller, in MATRIX_CALLERS order ("ok" or the error's last part).
MATRIX=(
        "CreateWorkspace:ok ok InteractiveAuthorizationRequired ok InteractiveAuthorizationRequired"
        "DeleteWorkspace:ok InteractiveAuthorizationRequired InteractiveAuthorizationRequired ok ok"
        "StartVM:KernelNotFound InteractiveAuthorizationRequired InteractiveAuthorizationRequired KernelNotFound KernelNotFound"
        "StopVM:NotRunning InteractiveAuthorizationRequired InteractiveAuthorizationRequired NotRunning NotRunning"
        "RestartVM:KernelNotFound InteractiveAuthorizationRequired InteractiveAuthorizationRequired KernelNotFound KernelNotFound"
        "ListVMs:ok ok ok ok ok"
        "GetVM:ok ok ok ok ok"
        "VM.Start:KernelNotFound InteractiveAuthorizationRequired InteractiveAuthorizationRequired KernelNotFound KernelNotFound"
        "VM.Stop:NotRunning InteractiveAuthorizationRequired InteractiveAuthorizationRequired NotRunning NotRunning"
        "VM.Restart:KernelNotFound InteractiveAuthorizationRequired InteractiveAuthorizationRequired KernelNotFound KernelNotFound"
        "VM.Delete:ok InteractiveAuthorizationRequired InteractiveAuthorizationRequired ok ok"
        "VM.SetAutostart:ok InteractiveAuthorizationRequired InteractiveAuthorizationRequired ok ok"
        "VM.GetLogs:ok InteractiveAuthorizationRequired InteractiveAuthorizationRequired ok ok"
        "VM.OpenConsole:NotRunning InteractiveAuthorizationRequired InteractiveAuthorizationRequired NotRunning NotRunning"
        "Set Manager property:PropertyReadOnly PropertyReadOnly PropertyReadOnly PropertyReadOnly PropertyReadOnly"
        "Set VM property:PropertyReadOnly PropertyReadOnly PropertyReadOnly PropertyReadOnly PropertyReadOnly"
)

# matrix_call CALLER CALL: prints "ok" or the D-Bus error's last name part.
matrix_call() {
        local who=$1 call=$2 path out rc=0 args=()
        path=$(vm_path mvm)
        case $call in
        CreateWorkspace) args=("$MPATH" "$MIFACE.CreateWorkspace" "'created'" "{}") ;;
        DeleteWorkspace) args=("$MPATH" "$MIFACE.DeleteWorkspace" "'mvm'" "{'remove-files': <true>}") ;;
        StartVM | StopVM | RestartVM) args=("$MPATH" "$MIFACE.$call" "'mvm'" "{}") ;;
        ListVMs) args=("$MPATH" "$MIFACE.ListVMs") ;;
        GetVM) args=("$MPATH" "$MIFACE.GetVM" "'mvm'") ;;
        VM.SetAutostart) args=("$path" "$VMIFACE.SetAutostart" true) ;;
        VM.OpenConsole) args=("$path" "$VMIFACE.OpenConsole") ;;
        VM.Delete) args=("$path" "$VMIFACE.Delete" "{'remove-files': <true>}") ;;
        VM.*) args=("$path" "$VMIFACE.${call#VM.}" "{}") ;;
        "Set Manager property")
                args=("$MPATH" org.freedesktop.DBus.Properties.Set "'$MIFACE'" "'MaxVCPUs'" "<uint32 1>") ;;
        "Set VM property")
                args=("$path" org.freedesktop.DBus.Properties.Set "'$VMIFACE'" "'VCPUs'" "<uint32 64>") ;;
        esac
        if [[ $who == root ]]; then
                out=$(in_container gdbus call --system --dest "$BUS" --object-path "${args[0]}" --timeout 25 \
                        --method "${args[@]:1}" 2>&1) || rc=$?
        else
                out=$(gcall "$who" "${args[@]}" 2>&1) || rc=$?
        fi
        if ((rc == 0)); then
                echo ok
        else
                out=$(grep -o 'GDBus\.Error:[A-Za-z0-9_.]*' <<<"$out" | head -n 1)
                echo "${out##*.}"
        fi
}

# Puts the VM back as the matrix expects it: alice's, stopped, named mvm; no "created".
matrix_reset() {
        gcall alice "$MPATH" "$MIFACE.GetVM" "'mvm'" >/dev/null 2>&1 ||
                gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'mvm'" "{}" >/dev/null
        in_container gdbus call --system --dest "$BUS" --object-path "$MPATH" \
                --method "$MIFACE.DeleteWorkspace" "'created'" "{'remove-files': <true>}" >/dev/null 2>&1 || true
}

t_authorization_matrix() {
        local conf=/etc/microvm/microvmd.conf row call expected got i failures=0 line
        in_container useradd -m -s /bin/bash opal
        cat <<'RULE' | in_container tee /etc/polkit-1/rules.d/40-test-opal-manage-any.rules >/dev/null
polkit.addRule(function(action, subject) {
        if (action.id === "org.microvm.manager.manage-any" && subject.user === "opal")
                return polkit.Result.YES;
        return polkit.Result.NOT_HANDLED;
});
RULE
        in_container mkdir -p /etc/microvm
        printf '[Guest]\nKernel=/nonexistent/vmlinuz\n' | in_container tee "$conf" >/dev/null
        restart_microvmd
        # polkitd reads the new rule when rules.d changes.
        opal_allowed() {
                [[ $(matrix_call opal StopVM) == NotRunning ]]
        }
        matrix_reset
        wait_until 20 opal_allowed || fail "polkitd did not pick up the manage-any rule for opal"
        printf '  %-22s' call
        printf ' %-12s' "${MATRIX_CALLERS[@]}"
        echo
        for row in "${MATRIX[@]}"; do
                call=${row%%:*}
                read -ra expected <<<"${row#*:}"
                line=$(printf '  %-22s' "$call")
                for i in "${!MATRIX_CALLERS[@]}"; do
                        matrix_reset
                        got=$(matrix_call "${MATRIX_CALLERS[i]}" "$call")
                        if [[ $got == "${expected[i]}" ]]; then
                                line+=$(printf ' %-12s' "${got:0:12}")
                        else
                                line+=$(printf ' %-12s' "!${got:0:11}")
                                echo "  MISMATCH: $call as ${MATRIX_CALLERS[i]}: expected ${expected[i]}, got ${got:-<nothing>}"
                                failures=$((failures + 1))
                        fi
                done
                echo "$line"
        done
        matrix_reset
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'mvm'" "{'remove-files': <true>}" >/dev/null
        in_container rm -f "$conf" /etc/polkit-1/rules.d/40-test-opal-manage-any.rules
        restart_microvmd
        ((failures == 0)) || fail "$failures answers differ from the matrix"
}

# GetLogs with follow: at most 4 at once per caller; the fifth is LimitExceeded, and
# another caller is not affected.
t_log_followers() {
        local i pids=() out
        gcall alice "$MPATH" "$MIFACE.CreateWorkspace" "'logvm'" "{}" >/dev/null
        for i in 1 2 3 4; do
                in_container timeout 60 runuser -u alice -- microvm-client --no-ask-password logs -f logvm \
                        >/dev/null 2>&1 &
                pids+=($!)
        done
        following() {
                [[ $(in_container pgrep -c -f "journalctl.*--follow") -ge 4 ]]
        }
        wait_until 15 following || fail "the 4 followers did not start"
        out=$(gcall alice "$(vm_path logvm)" "$VMIFACE.GetLogs" "{'follow': <true>}" 2>&1) &&
                fail "a fifth GetLogs(follow) was allowed: $out"
        echo "  alice's fifth follower: ${out#Error: }"
        [[ $out == *org.microvm.Error.LimitExceeded* ]] || fail "expected LimitExceeded"
        gcall alice "$(vm_path logvm)" "$VMIFACE.GetLogs" "{}" >/dev/null || fail "a plain GetLogs was refused"
        # microvmd blocks SIGTERM and SIGINT for itself; its helpers must not inherit that:
        # a follower ends on SIGTERM.
        local jpid
        jpid=$(in_container pgrep -n -f "journalctl.*--follow")
        in_container kill -TERM "$jpid"
        wait_until 10 eval '! in_container kill -0 "$jpid"' || fail "microvmd's journalctl $jpid ignores SIGTERM"
        echo "  journalctl $jpid ended on SIGTERM"
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
        gcall alice "$MPATH" "$MIFACE.DeleteWorkspace" "'logvm'" "{'remove-files': <true>}" >/dev/null
}

# A call still queued when microvmd is told to exit is never begun: microvmd is paused,
# alice's CreateWorkspace waits in its socket, then SIGTERM and SIGCONT arrive together.
t_exit_begins_no_queued_call() {
        local pid out rc=0 caller
        pid=$(in_container systemctl show -p MainPID --value microvmd)
        ((pid > 0)) || fail "microvmd is not running"
        in_container kill -STOP "$pid"
        # busctl with the signature sends the call as it is (gdbus would introspect first,
        # and its second call would activate a new microvmd).
        as_user alice busctl call --timeout=60 "$BUS" "$MPATH" "$MIFACE" CreateWorkspace 'sa{sv}' late 0 \
                >"$CHECK_LOG.late" 2>&1 &
        caller=$!
        sleep 2
        in_container kill -TERM "$pid"
        in_container kill -CONT "$pid"
        wait "$caller" || rc=$?
        out=$(cat "$CHECK_LOG.late")
        echo "  alice's CreateWorkspace queued at the exit -> exit $rc: $out"
        ((rc != 0)) || fail "the queued CreateWorkspace succeeded"
        wait_until 30 eval '[[ $(in_container systemctl is-active microvmd) != active ]]' ||
                fail "microvmd did not exit on SIGTERM"
        ! in_container test -e "$WS/late" || fail "the queued call created $WS/late"
        ! in_container test -e "$STATE/vms/late.json" || fail "the queued call created late.json"
        # The next call starts microvmd again (D-Bus activation), without the VM.
        out=$(gcall alice "$MPATH" "$MIFACE.ListVMs") || fail "ListVMs after the exit failed"
        [[ $out != *"'late'"* ]] || fail "ListVMs lists late: $out"
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

# ---------------------------------------------------------------- main

dump_diagnostics() {
        echo "===== journalctl -u microvmd ====="
        in_container journalctl -u microvmd -o short-monotonic --no-pager 2>&1 | tail -n 200
        echo "===== journalctl -u polkit (tail) ====="
        in_container journalctl -u polkit -o short-monotonic --no-pager 2>&1 | tail -n 30
        ct_dump_console 60
}

main() {
        if ! ct_check_supported; then
                echo "SKIP: cannot boot a container here" >&2
                exit 77
        fi
        check_build_dir || exit 1
        ct_in_tree ninja -C "$BUILD_DIR" >/dev/null || { echo "build failed" >&2; exit 1; }
        # shellcheck disable=SC2034 # used by container.sh
        CT_NAME=microvm-foundation-$$
        ct_start "$BUILD_DIR" || { ct_dump_console 60; exit 1; }

        check "group microvm exists; users alice, carol (microvm) and bob created" t_group_and_users
        check "busctl introspect activates microvmd and lists the API" t_activation_and_introspection
        check "Manager properties and client --version" t_manager_properties
        check "alice creates myvm without sudo: workspace, definition, properties" t_alice_creates_workspace
        check "myvm has a valid ED25519 host key pair" t_host_keys
        check "the host private key is not readable by group or others" t_host_private_key_not_world_readable
        check "authorized_keys holds exactly alice's public key" t_authorized_keys
        check "create my-vm --vcpus 2 --memory 2G: path my_2dvm, VCPUs, MemoryMiB" t_create_with_size
        check "list, status and --json list show myvm stopped" t_list_and_status
        check "bob is refused and nothing is created" t_bob_refused
        check "carol cannot delete alice's VM" t_carol_cannot_delete_alices
        check "carol creates and deletes her own VM" t_carol_manages_her_own
        check "bad names give InvalidName and change nothing" t_bad_names
        check "bad options give InvalidArgument and change nothing" t_bad_options
        check "AlreadyExists and NoSuchVM" t_duplicate_and_unknown
        check "GetManagedObjects and ListVMs list the VMs" t_object_manager
        check "[Limits]: MaxVMsPerUser and MaxVolumeGiBPerUser give LimitExceeded" t_create_limits
        check "the installed interface files match the live introspection" t_interface_files
        check "the example polkit rules allow and refuse what their comments say" t_example_polkit_rules
        check "InterfacesAdded and InterfacesRemoved are emitted" t_signals
        check "definitions survive systemctl restart microvmd" t_restart_keeps_definitions
        check "an invalid definition is logged, skipped and kept" t_invalid_definition_skipped
        check "300 more definitions load (worker threads); an invalid one is skipped" t_many_definitions
        check "microvm-build-guest: up to date without modinfo, rebuilds on a change" t_guest_stamp
        check "delete removes the definition and keeps the workspace" t_delete_keeps_workspace
        check "delete --purge does not follow symlinks planted in the workspace" t_purge_does_not_follow_symlinks
        check "delete --purge removes the workspace" t_purge_removes_workspace
        check "GetLogs(follow): at most 4 at once per caller (LimitExceeded)" t_log_followers
        check "polkit is asked at every call: a refused call again is asked again, a new verdict applies at once" \
                t_polkit_asked_every_call
        check "an answer about one VM is not used for another of that name (the call is dispatched again)" \
                t_redispatch_other_vm
        check "the authorization matrix: every method and setter as owner, member, outsider, root, manage-any" t_authorization_matrix
        check "a call queued when microvmd gets SIGTERM is not begun; the next one activates it" t_exit_begins_no_queued_call
        check "microvmd did not crash and logged no leak or assertion" t_daemon_healthy

        if ! check_summary test-foundation; then
                dump_diagnostics
                exit 1
        fi
        exit 0
}

main "$@"
