#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration test of the real guest: microvmd installed into a disposable container
# that boots a real systemd; microvm-guest.service builds the guest there (the newest
# /boot kernel with virtiofs, microvm-init as /init) before microvmd starts, and a VM
# boots it under QEMU/TCG with the container's /usr (the machine's, through the
# overlay) as its read-only software share. The checks go through the guest's own
# sshd (microvm-client ssh) and its root shell on the virtio console
# (microvm-client console). Users: alice and carol in the group microvm, bob in
# neither. Needs openssh-server (the guest runs /usr/sbin/sshd from the share) and
# git installed on the machine.
#
#
# Usage: tests/integration/test-guest.sh [BUILD_DIR]
#
# BUILD_DIR (default: build/) must be configured with
#     --prefix=/usr --sysconfdir=/etc --localstatedir=/var
# Exit status: 0 all checks passed, 1 a check failed, 77 a container cannot run here
# (or the machine lacks what the guest needs). TEST_VERBOSE=1 prints the output of
# passing checks too.

# The checks are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317
# Guest commands are written in single quotes on purpose: the guest expands them.
# shellcheck disable=SC2016,SC2001

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(realpath -m "${1:-${BUILD_DIR:-$SRC_ROOT/build}}")
TEST_NAME=test-guest

# shellcheck source-path=SCRIPTDIR source=container.sh
source "$HERE/container.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

GUEST_DIR=$STATE/guest  # where microvm-guest.service builds the real guest
CONF=/etc/microvm/microvmd.conf
MEMORY_MIB=1024         # sshd and bash in the guest need more than 512 MiB
STOP_TIMEOUT_SEC=60     # [Hypervisor] StopTimeoutSec=

READY_TIMEOUT=150       # start returned -> property Ready (sshd answers), under TCG
VERB_TIMEOUT=330        # start + stop: a hung client fails, never hangs the test
SSH_TIMEOUT=90          # one microvm-client ssh, waiting included
CONSOLE_IDLE=6          # seconds the console's input stays open for the shell to answer

WS_MYVM=$WS/myvm
RW_TEST=/usr/microvm-rw-test

USR_SECRET=/usr/local/share/microvm-root-only  # root's, mode 0600, in the software share
CREDS=/home/alice/.local/share/microvm/credentials  # the config's default, for alice
# Which virtiofsd the container has: Debian 13's Rust one (runs as the owner, serves a
# credentials directory) or QEMU 7.2's C one (Debian 12: runs as root, refuses it).
VIRTIOFSD_KIND=""

MARK_POWER_BUTTON="microvm-init: power button, shutting down"
MARK_POWER_OFF="microvm-init: powering off"
MARK_ARMED="microvm-init: power button armed"
MARK_SSHD_LISTENS="microvm-init: sshd listens on port 22"
VOLUME_IMAGE=/var/lib/microvm/volumes/myvm.img

# ---------------------------------------------------------------- helpers

ready_is() {
        [[ $(vm_prop "$1" Ready) == "$2" ]]
}

# Each run of a VM is one invocation of its hypervisor unit; the guest's console lines
# carry the invocation ID.
run_id() {
        in_container systemctl show -p InvocationID --value "$(unit_of "$1")"
}

show_run_log() {
        echo "  the guest's console, run $1 (last ${2:-30} lines):"
        run_log "$1" 2>&1 | tail -n "${2:-30}" | sed 's/^/    | /'
}

# wait_ready NAME: the VM runs and its property Ready becomes true.
wait_ready() {
        local name=$1 start=$SECONDS
        if ! wait_until "$READY_TIMEOUT" ready_is "$name" true; then
                echo "  State $(vm_prop "$name" State), Ready $(vm_prop "$name" Ready)"
                show_run_log "$(run_id "$name")" 40
                fail "Ready of $name did not become true within $READY_TIMEOUT s"
        fi
        echo "  Ready of $name is true after $((SECONDS - start)) s"
        expect_eq "State of $name" "$(vm_prop "$name" State)" running
}

# vm_verb USER VERB NAME: microvm-client VERB NAME, bounded in time.
vm_verb() {
        local user=$1 verb=$2 name=$3
        in_container timeout "$VERB_TIMEOUT" runuser -u "$user" -- \
                microvm-client --no-ask-password "$verb" "$name" </dev/null
}

# timed_verb SECONDS USER VERB NAME: vm_verb within SECONDS; says how long it took.
timed_verb() {
        local limit=$1 start=$SECONDS rc=0
        shift
        vm_verb "$@" || rc=$?
        echo "  $1: microvm-client $2 $3 -> exit $rc after $((SECONDS - start)) s"
        ((rc == 0)) || fail "$1: microvm-client $2 $3 failed (exit $rc)"
        ((SECONDS - start <= limit)) || fail "$1: microvm-client $2 $3 took longer than $limit s"
}

# vm_ssh USER NAME COMMAND...: microvm-client ssh NAME -- COMMAND as USER. No terminal
# (setsid): a password or host key prompt would fail at once instead of waiting. As with
# ssh, the words of COMMAND are joined with spaces and the guest's shell parses them:
# pass a shell command line as one word.
vm_ssh() {
        local user=$1 name=$2
        shift 2
        in_container timeout "$SSH_TIMEOUT" setsid -w runuser -u "$user" -- \
                microvm-client --no-ask-password ssh "$name" -- "$@" </dev/null
}

# console_run NAME SCRIPT: feeds SCRIPT to the root shell on the VM's console as alice
# and prints what the console said. The input stays open a few seconds so the shell
# answers before the client leaves.
console_run() {
        local name=$1 script=$2
        { printf '%s\n' "$script"; sleep "$CONSOLE_IDLE"; } |
                in_container timeout 60 runuser -u alice -- \
                        microvm-client --no-ask-password console "$name" |
                tr -d '\r' | sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g'
}

# A digest of ~alice/.ssh: names, sizes and contents.
alice_ssh_dir_state() {
        in_container sh -c 'cd /home/alice/.ssh && ls -la --time-style=+ . && sha256sum ./*'
}

# ---------------------------------------------------------------- checks

# mono PROPERTY UNIT: a timestamp of the unit, CLOCK_MONOTONIC microseconds.
mono() {
        in_container systemctl show -p "$1" --value "$2"
}

t_guest_built() {
        local out file built answered since
        # microvmd starts on the first D-Bus call (or at boot when enabled) and then starts
        # microvm-guest.service, which it does not wait for. A build from nothing takes
        # seconds.
        in_container systemctl stop microvmd
        in_container rm -rf "$GUEST_DIR"
        in_container systemctl start microvmd
        since=$(mono ExecMainStartTimestampMonotonic microvmd.service)
        wait_until 300 guest_build_end "$since" || fail "microvm-guest.service did not run, or not end within 300 s"
        out=$(guest_build_end "$since")
        echo "  microvm-guest.service's start job: ${out% *}"
        if [[ ${out% *} != done ]]; then
                in_container systemctl status --no-pager microvm-guest.service 2>&1 | sed 's/^/    /'
                in_container journalctl -u microvm-guest.service -o cat --no-pager | tail -n 20 | sed 's/^/    | /'
                fail "microvm-guest.service did not succeed"
        fi
        in_container journalctl -u microvm-guest.service -o cat --no-pager | grep -F microvm-build-guest |
                sed 's/^/  | /'
        for file in vmlinuz initrd.img stamp; do
                in_container test -s "$GUEST_DIR/$file" || fail "$GUEST_DIR/$file is missing or empty"
        done
        in_container ls -l "$GUEST_DIR" | sed 's/^/  /'
        expect_eq "microvmd" "$(in_container systemctl is-active microvmd)" active
        # microvmd had its name (and answered) before the build was done.
        built=${out#* }
        answered=$(mono ActiveEnterTimestampMonotonic microvmd.service)
        echo "  microvmd took its bus name at $answered us, microvm-guest.service ended at $built us"
        ((answered > 0 && answered < built)) || fail "microvmd waited for microvm-guest.service before answering"
}

t_setup() {
        local out u key
        in_container useradd -m -s /bin/bash -G microvm alice
        in_container useradd -m -s /bin/bash -G microvm carol
        in_container useradd -m -s /bin/bash bob
        for u in alice carol bob; do
                as_user "$u" mkdir -p -m 0700 "/home/$u/.ssh"
                as_user "$u" ssh-keygen -q -t ed25519 -N '' -C "$u@test" -f "/home/$u/.ssh/id_ed25519"
        done
        # With a persistent volume (on /var in the guest).
        out=$(client alice create myvm --volume 1G --no-credentials 2>&1) || fail "alice: create myvm failed: $out"
        out=$(client carol create carolvm --no-credentials 2>&1) || fail "carol: create carolvm failed: $out"
        expect_eq "CredentialsDirectory of myvm" "$(vm_prop myvm CredentialsDirectory)" ""
        expect_eq "VCPUs of myvm" "$(vm_prop myvm VCPUs)" 1
        expect_eq "MemoryMiB of myvm" "$(vm_prop myvm MemoryMiB)" "$MEMORY_MIB"
        # alice's key went into the workspace (the guest's sshd reads it there).
        key=$(in_container cut -d' ' -f2 /home/alice/.ssh/id_ed25519.pub)
        in_container grep -qF "$key" "$WS_MYVM/ssh-host-keys/authorized_keys" ||
                fail "alice's key is not in $WS_MYVM/ssh-host-keys/authorized_keys"
        # What the guest must not see.
        as_user alice sh -c 'echo alice-secret >/home/alice/secret'
        as_user carol sh -c "echo carol-secret >$WS/carolvm/carol-secret"
        in_container sh -c 'echo root-secret >/root/host-secret'
        in_container sh -c 'echo host-etc >/etc/microvm-host-marker'
        in_container sh -c "umask 077 && echo usr-secret >$USR_SECRET"
        in_container test ! -e "$RW_TEST" || fail "$RW_TEST exists before the test"
        echo "  IPAddress of myvm: $(vm_prop myvm IPAddress)"
}

# A start while microvm-guest.service builds the guest (from nothing: its files gone)
# waits for the build instead of failing with KernelNotFound, and a stop meanwhile ends
# that start at once; QEMU only reads the files once they are complete.
t_start_during_build() {
        local pid rc=0 out built started since
        in_container systemctl stop microvmd
        in_container rm -f "$GUEST_DIR/stamp" "$GUEST_DIR/vmlinuz" "$GUEST_DIR/initrd.img"
        in_container systemctl start microvmd
        since=$(mono ExecMainStartTimestampMonotonic microvmd.service)
        expect_eq "microvm-guest.service right after microvmd's start" \
                "$(in_container systemctl show -p ActiveState --value microvm-guest.service)" activating
        vm_verb alice start myvm >/tmp/microvm-start-during-build.$$ 2>&1 &
        pid=$!
        wait_until 30 state_is myvm starting || fail "myvm did not become starting"
        timed_verb 2 alice stop myvm
        wait "$pid" || rc=$?
        out=$(cat /tmp/microvm-start-during-build.$$)
        rm -f /tmp/microvm-start-during-build.$$
        echo "  the start the stop ended: exit $rc: $out"
        ((rc != 0)) || fail "the start waiting for the build succeeded although stopped"
        grep -qF "stopped while starting" <<<"$out" || fail "the ended start did not say why"
        expect_eq "State of myvm after the stop" "$(vm_prop myvm State)" stopped
        timed_verb 300 alice start myvm
        in_container journalctl -u microvmd -o cat --no-pager |
                grep -F "VM myvm: waiting for microvm-guest.service to build the guest." | sed 's/^/  | /' ||
                fail "no start waited for the build"
        out=$(guest_build_end "$since") || fail "microvm-guest.service's job did not end"
        built=${out#* }
        started=$(mono ExecMainStartTimestampMonotonic "$(unit_of myvm)")
        echo "  microvm-guest.service ended at $built us, the hypervisor started at $started us"
        ((built > 0 && started >= built)) || fail "the hypervisor started before the guest was built"
        expect_eq "microvm-guest.service's start job" "${out% *}" done
        timed_verb 60 alice stop myvm
}

# An admin who boots a guest of their own may mask the builder: microvmd says so in its
# log and a start does not wait for a build that never comes.
t_builder_masked() {
        local journal state rc=0
        in_container systemctl mask --runtime microvm-guest.service >/dev/null
        in_container systemctl restart microvmd
        vm_verb alice start myvm >/dev/null 2>&1 || rc=$?
        state=$(vm_prop myvm State)
        journal=$(in_container journalctl -o cat --no-pager \
                _SYSTEMD_INVOCATION_ID="$(in_container systemctl show -P InvocationID microvmd)")
        vm_verb alice stop myvm >/dev/null 2>&1 || true
        in_container systemctl unmask --runtime microvm-guest.service >/dev/null
        in_container systemctl restart microvmd
        grep -F microvm-guest <<<"$journal" | sed 's/^/  | /'
        ((rc == 0)) || fail "the start with the builder masked failed (exit $rc)"
        expect_eq "State of myvm after that start" "$state" running
        grep -qF "microvm-guest.service is not there" <<<"$journal" || fail "microvmd did not say the builder is masked"
        if grep -qF "waiting for microvm-guest.service" <<<"$journal"; then
                fail "a start waited for the masked builder"
        fi
}

t_start_ready() {
        local run
        expect_eq "Ready of the stopped myvm" "$(vm_prop myvm Ready)" false
        timed_verb 200 alice start myvm
        wait_ready myvm
        run=$(run_id myvm)
        run_log "$run" | grep -F 'microvm-init:' | sed 's/^/  | /'
        # The guest says so on its channel as soon as sshd listens (before any knock on
        # port 22 could get sshd's greeting).
        run_has "$run" "$MARK_ARMED" || fail "the guest did not arm its power button ('$MARK_ARMED')"
        run_has "$run" "$MARK_SSHD_LISTENS" || fail "the guest did not see sshd listen ('$MARK_SSHD_LISTENS')"
        in_container journalctl -u microvmd -o cat --no-pager |
                grep -qF "VM myvm is ready: its guest says its SSH server listens." ||
                fail "Ready did not come from the guest's word on its channel"
}

# What serves the shares, and as whom: the property, and the processes themselves.
t_share_server() {
        local unit pid user users=()
        if [[ $VIRTIOFSD_KIND == rust ]]; then
                expect_eq "ShareServer of myvm" "$(vm_prop myvm ShareServer)" "virtiofsd (rust), as alice"
        else
                expect_eq "ShareServer of myvm" "$(vm_prop myvm ShareServer)" "virtiofsd (C), as root"
        fi
        for unit in workspace software; do
                unit=microvm-myvm-fs_$unit.service
                pid=$(in_container systemctl show -p MainPID --value "$unit")
                ((pid > 0)) || fail "$unit has no main process"
                user=$(in_container ps -o user= -p "$pid")
                echo "  $unit: PID $pid, user $user"
                users+=("$user")
        done
        if [[ $VIRTIOFSD_KIND == rust ]]; then
                expect_eq "users of the virtiofsd processes" "${users[*]}" "alice alice"
        else
                expect_eq "users of the virtiofsd processes" "${users[*]}" "root root"
        fi
        expect_eq "ShareServer of the stopped carolvm" "$(vm_prop carolvm ShareServer)" ""
}

# With the owner's virtiofsd, root in the guest is only alice in the shares: it cannot
# give a file to another uid, nor read what alice cannot read on the host. With the C
# virtiofsd (root), the workspaces are mounted nosuid,nodev on the host instead (README).
t_guest_root_is_owner() {
        local out owner
        if [[ $VIRTIOFSD_KIND != rust ]]; then
                out=$(in_container findmnt -n -o OPTIONS /var/lib/microvm/workspaces)
                echo "  host: /var/lib/microvm/workspaces: $out"
                [[ ,$out, == *,nosuid,* && ,$out, == *,nodev,* ]] || fail "the workspaces are not nosuid,nodev"
                return 0
        fi
        ! as_user alice cat "$USR_SECRET" >/dev/null 2>&1 || fail "alice can read $USR_SECRET on the host: no test object"
        out=$(console_run myvm "touch $WS_MYVM/by-root; chown 4242:4242 $WS_MYVM/by-root; echo \"CH\"\"OWN=\$?\"; cat $USR_SECRET; echo \"C\"\"AT=\$?\"") ||
                fail "microvm-client console failed"
        grep -E '^(CHOWN|CAT)=|usr-secret' <<<"$out" | sed 's/^/  root in the guest: /'
        grep -q '^CAT=[1-9]' <<<"$out" || fail "root in the guest read the host's root-only $USR_SECRET"
        ! grep -qx 'usr-secret' <<<"$out" || fail "the guest printed the contents of $USR_SECRET"
        owner=$(in_container stat -c %u:%g "$WS_MYVM/by-root") || fail "$WS_MYVM/by-root is not on the host"
        echo "  host: $WS_MYVM/by-root belongs to $owner"
        expect_eq "owner of the guest root's file" "$owner" "$(in_container id -u alice):$(in_container id -g alice)"
}

t_ssh_id() {
        local before after out rc=0
        before=$(alice_ssh_dir_state)
        in_container test ! -e /home/alice/.ssh/known_hosts || fail "known_hosts exists before"
        out=$(vm_ssh alice myvm id -un 2>&1) || rc=$?
        echo "  alice: microvm-client ssh myvm -- id -un -> exit $rc: $out"
        ((rc == 0)) || fail "ssh failed (exit $rc)"
        expect_eq "id -un in the guest" "$out" alice
        out=$(vm_ssh alice myvm id 2>&1)
        echo "  id: $out"
        [[ $out == "uid=$(in_container id -u alice)(alice)"* ]] ||
                fail "alice's uid in the guest differs from the host's"
        # The client's own known_hosts file (the pinned key) is gone again.
        out=$(in_container find /tmp /var/tmp /run/user -name 'microvm-known-hosts-*' 2>/dev/null) || true
        [[ -z $out ]] || fail "known_hosts files left behind: $out"
        after=$(alice_ssh_dir_state)
        in_container test ! -e /home/alice/.ssh/known_hosts || fail "~alice/.ssh/known_hosts was created"
        [[ $before == "$after" ]] || {
                diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
                fail "~alice/.ssh changed"
        }
}

t_ssh_git() {
        local out rc=0 host
        host=$(in_container git --version)
        out=$(vm_ssh alice myvm git --version 2>&1) || rc=$?
        echo "  guest: $out (exit $rc); host: $host"
        ((rc == 0)) || fail "git --version in the guest failed (exit $rc)"
        expect_eq "git --version in the guest" "$out" "$host"
}

t_workspace_shared() {
        local out rc=0
        vm_ssh alice myvm "echo hi >$WS_MYVM/from-guest" || fail "writing from the guest failed"
        out=$(in_container stat -c '%U:%G %s' "$WS_MYVM/from-guest") ||
                fail "$WS_MYVM/from-guest is not on the host"
        echo "  host: $WS_MYVM/from-guest: $out, '$(in_container cat "$WS_MYVM/from-guest")'"
        expect_eq "owner of from-guest on the host" "${out% *}" alice:alice
        expect_eq "from-guest on the host" "$(in_container cat "$WS_MYVM/from-guest")" hi
        as_user alice sh -c "echo hello-from-host >$WS_MYVM/from-host"
        out=$(vm_ssh alice myvm cat "$WS_MYVM/from-host" 2>&1) || rc=$?
        echo "  guest: cat $WS_MYVM/from-host -> exit $rc: $out"
        expect_eq "from-host in the guest" "$out" hello-from-host
        # The owner's home in the guest is the workspace.
        out=$(vm_ssh alice myvm 'echo "$HOME"; pwd')
        expect_eq "HOME and working directory in the guest" "$(tr '\n' ' ' <<<"$out")" "$WS_MYVM $WS_MYVM "
}

t_host_hidden() {
        local out script
        # As alice, through ssh: each path says absent or VISIBLE.
        script="for p in /home/alice/secret /home/alice $WS/carolvm $WS/carolvm/carol-secret"
        script+=" /etc/microvm-host-marker /etc/microvm/microvmd.conf /root/host-secret; do"
        script+=' if test -e $p; then echo "VISIBLE $p"; else echo "absent $p"; fi; done;'
        script+=' echo "home: $(ls -A /home | tr "\n" " ")";'
        script+=" echo \"workspaces: \$(ls -A $WS | tr '\\n' ' ')\""
        out=$(vm_ssh alice myvm "$script" 2>&1) || fail "ssh failed: $out"
        sed 's/^/  alice in the guest: /' <<<"$out"
        ! grep -q '^VISIBLE' <<<"$out" || fail "the guest sees host files (above)"
        grep -qx 'home: ' <<<"$out" || fail "/home in the guest is not empty"
        grep -qx 'workspaces: myvm ' <<<"$out" || fail "the guest sees other workspaces than its own"
        # As root, on the console (root could see what alice's permissions hide). The
        # markers are split in the script so that the console's echo of it never matches.
        out=$(console_run myvm 'for p in /home/alice/secret /home/alice '"$WS/carolvm"' /root/host-secret /etc/microvm-host-marker /etc/microvm/microvmd.conf; do test -e $p && echo "VIS""IBLE:$p" || echo "ABS""ENT:$p"; done; echo "HO""ME:$(ls -A /home | wc -l)"') ||
                fail "microvm-client console failed"
        grep -E '^(VISIBLE|ABSENT|HOME):' <<<"$out" | sed 's/^/  root in the guest: /'
        [[ $(grep -c '^ABSENT:' <<<"$out") == 6 ]] || {
                sed 's/^/    | /' <<<"$out"
                fail "expected 6 ABSENT lines from the console"
        }
        ! grep -q '^VISIBLE:' <<<"$out" || fail "root in the guest sees host files"
        grep -qx 'HOME:0' <<<"$out" || fail "/home is not empty for root in the guest"
}

t_software_readonly() {
        local out rc1 rc2
        out=$(console_run myvm "mount -o remount,rw $(dirname "$RW_TEST"); echo \"REM\"\"OUNT=\$?\"; touch $RW_TEST; echo \"R\"\"C=\$?\"; echo x >>/usr/bin/microvm-rw-test2; echo \"R\"\"C2=\$?\"; grep \" /usr \" /proc/mounts | sed 's/^/MOU''NT:/'") ||
                fail "microvm-client console failed"
        grep -E '^(REMOUNT|RC|RC2|MOUNT)[=:]|rw-test|Read-only|denied' <<<"$out" | sed 's/^/  | /'
        rc1=$(sed -n 's/^RC=\([0-9]*\)$/\1/p' <<<"$out" | tail -n 1)
        rc2=$(sed -n 's/^RC2=\([0-9]*\)$/\1/p' <<<"$out" | tail -n 1)
        [[ -n $rc1 && -n $rc2 ]] || {
                sed 's/^/    | /' <<<"$out"
                fail "the console shell did not answer (no RC= and RC2= lines)"
        }
        ((rc1 != 0)) || fail "touch $RW_TEST as root in the guest succeeded"
        ((rc2 != 0)) || fail "writing /usr/bin/microvm-rw-test2 as root in the guest succeeded"
        in_container test ! -e "$RW_TEST" || fail "$RW_TEST exists in the container"
        in_container test ! -e /usr/bin/microvm-rw-test2 || fail "/usr/bin/microvm-rw-test2 exists in the container"
        [[ ! -e $RW_TEST && ! -e /usr/bin/microvm-rw-test2 ]] || fail "a test file exists on the machine's /usr"
        # And alice (not root) cannot either.
        ! vm_ssh alice myvm touch /usr/microvm-rw-test3 2>/dev/null || fail "alice wrote to /usr in the guest"
        in_container test ! -e /usr/microvm-rw-test3 || fail "/usr/microvm-rw-test3 exists in the container"
}

t_purge_volume() {
        local image=/var/lib/microvm/volumes/myvm.img size used
        in_container test -f "$image" || fail "$image does not exist"
        size=$(in_container stat -c %s "$image")
        used=$(in_container du -k "$image" | cut -f1)
        echo "  $image: $size bytes, $used KiB used"
        expect_eq "the image's size" "$size" $((1024 * 1024 * 1024))
        ((used < 512 * 1024)) || fail "the image is not sparse ($used KiB used)"
        expect_eq "the image's owner" "$(in_container stat -c %u:%a "$image")" "$(vmm_uid myvm):600"
        client alice delete myvm --purge >/dev/null
        ! in_container test -e "$image" || fail "$image is still there after delete --purge"
}

t_restart_ephemeral() {
        local out run new_run rc=0
        vm_ssh alice myvm 'echo gone-soon >/tmp/ephemeral && echo gone-soon >/dev/shm/ephemeral' ||
                fail "writing /tmp/ephemeral in the guest failed"
        out=$(vm_ssh alice myvm cat /tmp/ephemeral /dev/shm/ephemeral)
        expect_eq "the files before the restart" "$(tr '\n' ' ' <<<"$out")" "gone-soon gone-soon "
        # The persistent volume (root's /var in the guest) keeps its data.
        out=$(console_run myvm 'echo kept-across-restarts >/var/kept; echo "VO""L=$?"; grep " /var " /proc/mounts | sed "s/^/MOU""NT:/"')
        echo "$out" | grep -E '^(VOL|MOUNT):' | sed 's/^/  console: /'
        grep -q '^VOL=0' <<<"$out" || fail "root could not write /var/kept on the volume"
        grep -q '^MOUNT:/dev/vda /var ext4' <<<"$out" || fail "/var is not the volume (/dev/vda, ext4)"
        run=$(run_id myvm)
        timed_verb $((STOP_TIMEOUT_SEC + 200)) alice restart myvm
        new_run=$(run_id myvm)
        [[ $new_run != "$run" ]] || fail "the same invocation of $(unit_of myvm): not restarted"
        wait_ready myvm
        run_has "$run" "$MARK_POWER_OFF" || {
                show_run_log "$run"
                fail "the first run did not power off gracefully ('$MARK_POWER_OFF' missing)"
        }
        out=$(vm_ssh alice myvm 'for p in /tmp/ephemeral /dev/shm/ephemeral; do test -e $p && echo "STILL $p"; done; cat '"$WS_MYVM/from-guest") ||
                rc=$?
        echo "  after the restart (exit $rc): $(tr '\n' ' ' <<<"$out")"
        ((rc == 0)) || fail "ssh after the restart failed (exit $rc)"
        ! grep -q '^STILL' <<<"$out" || fail "files outside the workspace and the volume survived the restart"
        expect_eq "the workspace file after the restart" "$out" hi
        out=$(vm_ssh alice myvm cat /var/kept) || fail "/var/kept is gone after the restart"
        expect_eq "the volume's file after the restart" "$out" kept-across-restarts
}

t_bob_refused() {
        local out rc=0 ip
        out=$(vm_ssh bob myvm id -un 2>&1) || rc=$?
        echo "  bob: microvm-client ssh myvm -- id -un -> exit $rc: $out"
        ((rc != 0)) || fail "bob ran a command in alice's VM"
        [[ $out != *alice* || $out == *"microvm-client"* ]] || fail "bob got output from the guest: $out"
        # Nor with ssh itself, his key, as alice or as bob (no prompt: BatchMode).
        ip=$(vm_prop myvm IPAddress)
        for u in alice bob; do
                rc=0
                out=$(in_container timeout 30 setsid -w runuser -u bob -- ssh -o BatchMode=yes \
                        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                        -o ConnectTimeout=10 -o LogLevel=ERROR -l "$u" "$ip" id -un </dev/null 2>&1) || rc=$?
                echo "  bob: ssh $u@$ip id -un -> exit $rc: $out"
                ((rc == 255)) || fail "bob's ssh as $u: expected exit 255 (refused), got $rc"
                [[ $out == *"Permission denied"* ]] || fail "bob's ssh as $u was not refused by the guest's sshd"
        done
}

t_stop_graceful() {
        local run logs n_before n_after start=$SECONDS
        run=$(run_id myvm)
        n_before=$(client alice logs myvm | grep -cF "$MARK_POWER_OFF") || true
        timed_verb "$STOP_TIMEOUT_SEC" alice stop myvm
        expect_eq "State of myvm" "$(vm_prop myvm State)" stopped
        expect_eq "FailureReason of myvm" "$(vm_prop myvm FailureReason)" ""
        expect_eq "Ready of the stopped myvm" "$(vm_prop myvm Ready)" false
        logs=$(client alice logs myvm) || fail "microvm-client logs myvm failed"
        n_after=$(grep -cF "$MARK_POWER_OFF" <<<"$logs") || true
        run_log "$run" | grep -F 'microvm-init:' | tail -n 6 | sed 's/^/  | /'
        if ! run_has "$run" "$MARK_POWER_BUTTON" || ! run_has "$run" "$MARK_POWER_OFF"; then
                show_run_log "$run"
                fail "the last run lacks '$MARK_POWER_BUTTON' or '$MARK_POWER_OFF'"
        fi
        grep -qF "$MARK_POWER_BUTTON" <<<"$logs" || fail "'$MARK_POWER_BUTTON' is not in microvm-client logs"
        ((n_after == n_before + 1)) ||
                fail "'$MARK_POWER_OFF' appears $n_after times in microvm-client logs, $n_before before the stop"
        if run_has "$run" "processes still running after 10 s"; then
                echo "  NOTE: the guest had to kill processes at the stop"
        fi
        echo "  stopped in $((SECONDS - start)) s"
}

# Debian 12 (C virtiofsd): the option is refused in words, and nothing is created.
t_credentials_refused() {
        local out rc=0
        as_user alice mkdir -p -m 0700 /home/alice/creds
        out=$(client alice create credvm --credentials /home/alice/creds 2>&1) || rc=$?
        echo "  alice: create credvm --credentials /home/alice/creds -> exit $rc: $out"
        ((rc != 0)) || fail "the C virtiofsd accepted a credentials directory"
        [[ $out == *"Rust virtiofsd"* ]] || fail "the refusal does not say what is missing"
        ! client alice status credvm >/dev/null 2>&1 || fail "the refused create left a VM credvm"
        ! in_container test -e "$WS/credvm" || fail "the refused create left $WS/credvm"
}

# Debian 13 (Rust virtiofsd): the config's default is created by the client and becomes
# the guest user's $HOME; what the agent writes there is alice's on the host, across a
# restart and in a second VM at the same time; the rest of her home stays out of sight.
t_credentials() {
        local out
        in_container test ! -e "$CREDS" || fail "$CREDS exists before the first use"
        out=$(client alice create credvm 2>&1) || fail "alice: create credvm (the default directory) failed: $out"
        expect_eq "CredentialsDirectory of credvm" "$(vm_prop credvm CredentialsDirectory)" "$CREDS"
        expect_eq "the directory the client created" "$(in_container stat -c '%U %a' "$CREDS")" "alice 700"
        timed_verb 200 alice start credvm
        wait_ready credvm
        out=$(vm_ssh alice credvm 'echo "$HOME"; mkdir -p ~/.claude && echo token-1 >~/.claude/x && echo written')
        expect_eq "HOME in the guest, and the write" "$(tr '\n' ' ' <<<"$out")" "$CREDS written "
        expect_eq "the agent's file on the host" "$(in_container cat "$CREDS/.claude/x")" token-1
        expect_eq "its owner on the host" "$(in_container stat -c %U:%G "$CREDS/.claude/x")" alice:alice
        # Its virtiofsd is alice's too.
        local pid
        pid=$(in_container systemctl show -p MainPID --value microvm-credvm-fs_credentials.service)
        ((pid > 0)) || fail "microvm-credvm-fs_credentials.service has no main process"
        expect_eq "the user of the credentials share's virtiofsd" "$(in_container ps -o user= -p "$pid")" alice
        out=$(vm_ssh alice credvm 'for p in /home/alice/secret /home/alice/.ssh; do test -e $p && echo "VISIBLE $p"; done; echo done')
        expect_eq "the rest of alice's home in the guest" "$out" done
        timed_verb $((STOP_TIMEOUT_SEC + 200)) alice restart credvm
        wait_ready credvm
        expect_eq "the file after the restart" "$(vm_ssh alice credvm 'cat ~/.claude/x')" token-1
        # A second VM names the same directory and runs beside the first.
        out=$(client alice create credvm2 --credentials "$CREDS" 2>&1) ||
                fail "alice: create credvm2 --credentials $CREDS failed: $out"
        timed_verb 200 alice start credvm2
        wait_ready credvm2
        expect_eq "State of credvm while credvm2 runs" "$(vm_prop credvm State)" running
        expect_eq "the file in the second VM" "$(vm_ssh alice credvm2 cat "$CREDS/.claude/x")" token-1
        timed_verb "$STOP_TIMEOUT_SEC" alice stop credvm2
        timed_verb "$STOP_TIMEOUT_SEC" alice stop credvm
}

# The owner replaces the directory by a symbolic link to /etc between create and start:
# a clear refusal, never /etc in the guest; the real directory works again afterwards.
t_credentials_swapped() {
        local out rc=0
        as_user alice mv "$CREDS" "$CREDS.real"
        as_user alice ln -s /etc "$CREDS"
        out=$(client alice start credvm 2>&1) || rc=$?
        echo "  alice: start credvm with $CREDS -> /etc: exit $rc: $out"
        ((rc != 0)) || fail "credvm started with its credentials directory replaced by a link to /etc"
        [[ $out == *"symbolic link"* ]] || fail "the refusal does not name the symbolic link"
        expect_eq "State of credvm" "$(vm_prop credvm State)" stopped
        as_user alice rm "$CREDS"
        as_user alice mv "$CREDS.real" "$CREDS"
        # Another user's directory that alice can reach: refused at create, saying why.
        in_container install -d -o carol -g carol -m 0755 /srv/carol-creds
        rc=0
        out=$(client alice create credvm3 --credentials /srv/carol-creds 2>&1) || rc=$?
        echo "  alice: create credvm3 --credentials /srv/carol-creds -> exit $rc: $out"
        ((rc != 0)) || fail "alice got carol's directory as her credentials directory"
        [[ $out == *"not yours"* ]] || fail "the refusal does not say whose directory it is"
        ! client alice status credvm3 >/dev/null 2>&1 || fail "the refused create left a VM credvm3"
        client alice delete credvm >/dev/null
        client alice delete credvm2 >/dev/null
}

volume_clean() {
        local out rc=0
        out=$(in_container e2fsck -fn "$VOLUME_IMAGE" 2>&1) || rc=$?
        echo "  e2fsck -fn $VOLUME_IMAGE -> exit $rc: $(tail -n 1 <<<"$out")"
        ((rc == 0)) || { sed 's/^/    | /' <<<"$out"; fail "the volume's file system is not clean"; }
}

# Stops early in the guest's life, with its persistent volume: right after the start
# (nothing in the guest listens yet: systemd stops it at once), and as soon as the guest
# says it listens (the press is heard during its start-up). Either way the volume's file
# system is clean.
t_stop_early_volume() {
        local run
        state_is myvm stopped || fail "myvm is $(vm_prop myvm State), not stopped"
        timed_verb 200 alice start myvm
        run=$(run_id myvm)
        timed_verb "$STOP_TIMEOUT_SEC" alice stop myvm
        expect_eq "State of myvm" "$(vm_prop myvm State)" stopped
        expect_eq "FailureReason of myvm" "$(vm_prop myvm FailureReason)" ""
        # Often nothing: the guest's kernel was still booting.
        run_log "$run" | grep -F 'microvm-init:' | tail -n 3 | sed 's/^/  | /' || true
        volume_clean

        timed_verb 200 alice start myvm
        run=$(run_id myvm)
        wait_until "$READY_TIMEOUT" run_has "$run" "$MARK_ARMED" || {
                show_run_log "$run"
                fail "the guest did not arm its power button"
        }
        timed_verb "$STOP_TIMEOUT_SEC" alice stop myvm
        expect_eq "State of myvm" "$(vm_prop myvm State)" stopped
        run_log "$run" | grep -F 'microvm-init:' | tail -n 4 | sed 's/^/  | /'
        if ! run_has "$run" "$MARK_POWER_BUTTON" || ! run_has "$run" "$MARK_POWER_OFF"; then
                show_run_log "$run"
                fail "the guest that listened did not power off on the button"
        fi
        volume_clean
}

t_daemon_healthy() {
        local journal
        journal=$(in_container journalctl -u microvmd -o cat --no-pager)
        if grep -Ei 'leak|assert|CRITICAL|segfault|core dump|double free' <<<"$journal"; then
                fail "the journal of microvmd reports the lines above"
        fi
        expect_eq NRestarts "$(in_container systemctl show -p NRestarts --value microvmd)" 0
}

# ---------------------------------------------------------------- setup

write_config() {
        local conf=$CT_ROOT$CONF
        mkdir -p "${conf%/*}"
        cat >"$conf" <<EOF
# Written by $TEST_NAME: the real guest (the default [Guest], built by
# microvm-guest.service), 1 vCPU and enough memory for sshd and bash.
[Manager]
DefaultVCPUs=1
DefaultMemoryMiB=$MEMORY_MIB
[Hypervisor]
StopTimeoutSec=$STOP_TIMEOUT_SEC
EOF
        # Only where a credentials directory can be served (else every create would be
        # refused); the client creates it on first use.
        if [[ $VIRTIOFSD_KIND == rust ]]; then
                sed -i 's|^\[Manager\]$|[Manager]\nDefaultCredentialsDirectory=~/.local/share/microvm/credentials|' "$conf"
        fi
}

ct_pre_boot_hook() {
        if [[ -x $CT_ROOT/usr/libexec/virtiofsd ]]; then
                VIRTIOFSD_KIND=rust
        else
                VIRTIOFSD_KIND=C
        fi
        echo "  virtiofsd in the container: $VIRTIOFSD_KIND"
        write_config
}

test_cleanup_hook() {
        # Never on the machine: the checks only look. Said loudly if it ever happened.
        if [[ -e $RW_TEST ]]; then
                echo "!!! $RW_TEST exists on the machine" >&2
        fi
}

dump_diagnostics() {
        echo "===== journalctl -u microvm-guest ====="
        in_container journalctl -u microvm-guest -o short-monotonic --no-pager 2>&1 | tail -n 30
        echo "===== journalctl -u microvmd ====="
        in_container journalctl -u microvmd -o short-monotonic --no-pager 2>&1 | tail -n 100
        echo "===== journalctl -u $(unit_of myvm) (the guest's console: markers, sshd, tail) ====="
        in_container journalctl -u "$(unit_of myvm)" -o short-monotonic --no-pager 2>&1 |
                grep -E 'microvm-init|Server listening|Accepted|sshd|systemd\[1\]' | tail -n 60
        in_container journalctl -u "$(unit_of myvm)" -o short-monotonic --no-pager 2>&1 | tail -n 30
        echo "===== journalctl -u 'microvm-myvm-*' (virtiofsd, tail) ====="
        in_container journalctl -u 'microvm-myvm-*' -o short-monotonic --no-pager 2>&1 | tail -n 30
        ct_dump_console 20
}

# What the guest runs from the machine's /usr.
check_host_software() {
        local missing=()
        [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
        command -v git >/dev/null || missing+=(git)
        command -v ssh >/dev/null || missing+=(openssh-client)
        if ((${#missing[@]})); then
                echo "SKIP: the guest needs ${missing[*]} on the machine (apt-get install ${missing[*]})" >&2
                return 1
        fi
}

main() {
        if ! ct_check_supported; then
                echo "SKIP: cannot boot a container here" >&2
                exit 77
        fi
        check_host_software || exit 77
        check_build_dir || exit 1
        ct_in_tree ninja -C "$BUILD_DIR" >/dev/null || { echo "build failed" >&2; exit 1; }

        # shellcheck disable=SC2034 # used by container.sh
        CT_NAME=microvm-guest-$$
        ct_start "$BUILD_DIR" || { ct_dump_console 60; exit 1; }

        echo "===== $TEST_NAME: the real guest under QEMU/TCG ====="
        check "microvm-guest.service built $GUEST_DIR/{vmlinuz,initrd.img}; microvmd answered meanwhile" t_guest_built
        if [[ ${FAILED[*]-} ]]; then
                check_summary "$TEST_NAME"
                dump_diagnostics
                exit 1
        fi
        check "users alice, carol (microvm), bob; alice creates myvm (1 vCPU, $MEMORY_MIB MiB), carol carolvm" t_setup
        check "a start during a rebuild of the guest waits for it; a stop meanwhile ends it at once" \
                t_start_during_build
        check "with microvm-guest.service masked, microvmd says so and a start does not wait for it" t_builder_masked
        check "alice: start myvm; Ready becomes true (sshd in the guest answers)" t_start_ready
        check "microvm-client ssh myvm -- id -un prints alice; no prompt, ~alice/.ssh untouched" t_ssh_id
        check "ShareServer and the virtiofsd processes: as alice (Rust virtiofsd) or as root (C)" t_share_server
        check "root in the guest cannot chown in the workspace or read what alice cannot (Rust virtiofsd)" t_guest_root_is_owner
        check "git --version in the guest, from the shared host software" t_ssh_git
        check "the workspace is shared both ways at its host path, files owned by alice" t_workspace_shared
        check "the guest sees nothing of the host's /home, /root, /etc or other workspaces" t_host_hidden
        check "root in the guest cannot write the software share, remount included" t_software_readonly
        check "restart: files outside the workspace and the volume are gone; the workspace and the volume keep theirs" t_restart_ephemeral
        check "bob cannot ssh into alice's VM" t_bob_refused
        check "stop is graceful: power button, powering off, within StopTimeoutSec=$STOP_TIMEOUT_SEC" t_stop_graceful
        check "stop right after start and while the guest starts: stopped, the volume's file system clean" \
                t_stop_early_volume
        check "delete --purge removes the volume's image" t_purge_volume
        if [[ $VIRTIOFSD_KIND == rust ]]; then
                check "credentials directory: the default, \$HOME, owned by alice, across restart and in two VMs" t_credentials
                check "credentials directory swapped for a link to /etc, or carol's: refused in words" t_credentials_swapped
        else
                check "credentials directory with the C virtiofsd: refused (NotSupported), nothing created" t_credentials_refused
        fi
        check "microvmd did not crash and logged no leak or assertion" t_daemon_healthy

        if ! check_summary "$TEST_NAME"; then
                dump_diagnostics
                exit 1
        fi
        exit 0
}

main "$@"
