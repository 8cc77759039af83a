# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Boots a disposable real systemd in a systemd-nspawn container on an overlay of / (or of
# CT_LOWER_DIR, see below), with microvmd installed into it, so tests and demos run
# against the real dbus-daemon, polkitd and systemd. Source this file, then:
#
#     ct_check_supported || exit 77     # says why on stderr when it cannot run here
#     ct_start BUILD_DIR                # install, boot, wait until the system is up
#     in_container CMD...               # run CMD inside as root
#     as_user USER CMD...               # run CMD inside as USER (runuser)
#
# Before ct_start a script may set CT_EXTRA_ARGS (an array of more systemd-nspawn
# arguments, e.g. --bind=...) and define ct_pre_boot_hook, called with the project
# installed into $CT_ROOT but before the container boots (to add files to it, or to set
# CT_EXTRA_ARGS using $CT_FS). HAZARD: never --bind a device node of the machine that
# the container's systemd-tmpfiles sets a mode on (static-nodes-permissions.conf): the
# container then changes the machine's node (binding /dev/null as /dev/kvm made the
# machine's /dev/null 0660 root:kvm). Bind a node of your own, made on $CT_FS instead.
#
# CT_LOWER_DIR (default /) is the tree the container's overlay lies on; the Debian 13
# tiers set it to a Debian 13 root file system (tests/debian13/rootfs). microvmd is then
# built and installed with that tree's own tools: ct_in_tree CMD... runs CMD there (in a
# non-booted systemd-nspawn on a throw-away overlay of the tree, with the source tree
# bound at its own path), or directly here when CT_LOWER_DIR is /.
#
# Teardown (poweroff, unmount, remove) runs from an EXIT trap, also on failure and Ctrl-C;
# it calls ct_cleanup_hook first when the script defines one.
#
# Never boot systemd on the machine's own root: its tmpfiles setup empties /tmp and it
# starts services against the real file system. Everything here boots on the overlay, and
# the overlay's upper layer is a tmpfs, so nothing the container writes reaches the disk.

CT_DIR=""               # our temp dir: console.log and the tmpfs mount point fs/
CT_FS=""                # the tmpfs holding upper/, work/ and the overlay mount root/
CT_ROOT=""              # the container's root directory (the overlay)
CT_NAME=""
CT_NSPAWN_PID=""        # the systemd-nspawn we started
CT_PID=""               # PID 1 of the container, as seen from here
CT_CONSOLE_LOG=""
CT_BOOT_TIMEOUT=${CT_BOOT_TIMEOUT:-120}
CT_STOP_TIMEOUT=${CT_STOP_TIMEOUT:-30}
# More systemd-nspawn arguments; set them before ct_start.
if ! declare -p CT_EXTRA_ARGS >/dev/null 2>&1; then
        CT_EXTRA_ARGS=()
fi
# More directories ct_in_tree binds (SRC or SRC:DEST, as systemd-nspawn's --bind=).
if ! declare -p CT_TREE_BINDS >/dev/null 2>&1; then
        CT_TREE_BINDS=()
fi

CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CT_LOWER_DIR=${CT_LOWER_DIR:-/}
CT_SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

ct_log() {
        echo "[container] $*" >&2
}

# Succeeds when a container can be booted here; otherwise says why on stderr.
ct_check_supported() {
        local tool
        if [[ $(id -u) -ne 0 ]]; then
                ct_log "needs root (to mount an overlay and run systemd-nspawn)"
                return 1
        fi
        for tool in systemd-nspawn nsenter runuser mountpoint setsid timeout; do
                if ! command -v "$tool" >/dev/null; then
                        ct_log "needs $tool (apt-get install systemd-container util-linux coreutils)"
                        return 1
                fi
        done
        if ! grep -qw overlay /proc/filesystems && ! modprobe overlay 2>/dev/null; then
                ct_log "the kernel has no overlay file system support"
                return 1
        fi
        if [[ ! -x $CT_LOWER_DIR/lib/systemd/systemd && ! -x $CT_LOWER_DIR/usr/lib/systemd/systemd ]]; then
                ct_log "needs systemd installed in $CT_LOWER_DIR (apt-get install systemd) to boot it in the container"
                return 1
        fi
        return 0
}

# ct_in_tree CMD...: runs CMD with the tools of CT_LOWER_DIR, as root, in the current
# directory; the source tree (and the directories in CT_TREE_BINDS) read-write at their
# own paths, everything else on a tmpfs overlay that is thrown away, no network. A
# build directory must therefore lie in the source tree or in CT_TREE_BINDS.
ct_in_tree() {
        if [[ $CT_LOWER_DIR == / ]]; then
                "$@"
                return
        fi
        local bind dir=$PWD args=()
        [[ $dir == "$CT_SRC_ROOT" || $dir == "$CT_SRC_ROOT"/* ]] || dir=$CT_SRC_ROOT
        for bind in "$CT_SRC_ROOT" "${CT_TREE_BINDS[@]}"; do
                args+=("--bind=$bind")
        done
        systemd-nspawn -q -D "$CT_LOWER_DIR" --volatile=overlay -M "microvm-tree-$$-$RANDOM" \
                --register=no --keep-unit --private-network --as-pid2 --console=pipe \
                "${args[@]}" --chdir="$dir" --setenv=CI="${CI:-false}" -- "$@"
}

# Mounts the tmpfs and the overlay of CT_LOWER_DIR under a fresh temp dir.
ct_mount_overlay() {
        CT_DIR=$(mktemp -d /tmp/microvm-ct.XXXXXXXX)
        CT_FS=$CT_DIR/fs
        CT_ROOT=$CT_FS/root
        CT_CONSOLE_LOG=$CT_DIR/console.log
        mkdir "$CT_FS"
        mount -t tmpfs -o mode=0755 tmpfs "$CT_FS"
        mkdir "$CT_FS/upper" "$CT_FS/work" "$CT_ROOT"
        mount -t overlay overlay \
                -o "lowerdir=$CT_LOWER_DIR,upperdir=$CT_FS/upper,workdir=$CT_FS/work" "$CT_ROOT"
}

# Installs the project into the overlay root, as a distribution package would; with the
# lower tree's meson (a build directory belongs to the meson that configured it).
ct_install_project() {
        local build_dir=$1 destdir=$CT_ROOT
        local CT_TREE_BINDS=("${CT_TREE_BINDS[@]}")
        if [[ $CT_LOWER_DIR != / ]]; then
                destdir=/run/microvm-ct-root
                CT_TREE_BINDS+=("$CT_ROOT:$destdir")
        fi
        ct_log "installing $build_dir into the container root"
        if ! ct_in_tree meson install --quiet --destdir "$destdir" -C "$build_dir" \
                >"$CT_DIR/install.log" 2>&1; then
                cat "$CT_DIR/install.log" >&2
                ct_log "meson install failed"
                return 1
        fi
}

# Prints the pid of the child of $1 whose command is systemd (the container's PID 1).
ct_find_init() {
        local parent=$1 child
        # shellcheck disable=SC2013 # the file is a list of pids separated by spaces
        for child in $(cat /proc/"$parent"/task/*/children 2>/dev/null); do
                if [[ $(cat /proc/"$child"/comm 2>/dev/null) == systemd ]]; then
                        echo "$child"
                        return 0
                fi
        done
        return 1
}

ct_boot() {
        CT_NAME=${CT_NAME:-microvm-test-$$-$RANDOM}
        ct_log "booting $CT_NAME (console log: $CT_CONSOLE_LOG)"
        # setsid: a Ctrl-C on the terminal reaches only the script, whose trap then
        # powers the container off in order.
        setsid systemd-nspawn -D "$CT_ROOT" --register=no --keep-unit -M "$CT_NAME" \
                --private-network \
                --bind=/dev/net/tun --property=DeviceAllow="/dev/net/tun rw" \
                "${CT_EXTRA_ARGS[@]}" \
                -b --console=pipe -- --unit=multi-user.target \
                </dev/null >"$CT_CONSOLE_LOG" 2>&1 &
        CT_NSPAWN_PID=$!

        local deadline=$((SECONDS + CT_BOOT_TIMEOUT))
        until CT_PID=$(ct_find_init "$CT_NSPAWN_PID"); do
                if ! kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
                        CT_PID=""
                        ct_log "systemd-nspawn exited during boot; console log:"
                        tail -n 50 "$CT_CONSOLE_LOG" >&2
                        return 1
                fi
                if ((SECONDS >= deadline)); then
                        CT_PID=""
                        ct_log "no systemd appeared under systemd-nspawn (pid $CT_NSPAWN_PID)"
                        return 1
                fi
                sleep 0.2
        done
        ct_log "container PID 1 is pid $CT_PID here"

        # systemctl needs PID 1's private socket; retry until it exists.
        local state=""
        while ((SECONDS < deadline)); do
                state=$(timeout $((deadline - SECONDS + 1)) \
                        nsenter -t "$CT_PID" -a -- /usr/bin/env -i PATH="$CT_PATH" \
                        systemctl is-system-running --wait 2>/dev/null) && break
                [[ $state == running || $state == degraded ]] && break
                kill -0 "$CT_PID" 2>/dev/null || break
                sleep 0.5
        done
        case $state in
        running)
                ct_log "system is running"
                ;;
        degraded)
                ct_log "system is degraded; failed units:"
                in_container systemctl --no-pager --failed >&2 || true
                ;;
        *)
                ct_log "system did not come up (state '${state:-unknown}'); console log:"
                tail -n 50 "$CT_CONSOLE_LOG" >&2
                return 1
                ;;
        esac
}

# ct_start BUILD_DIR: mounts, installs, boots and arms the teardown trap.
ct_start() {
        local build_dir=${1:?ct_start needs the build directory}
        trap ct_teardown EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
        ct_mount_overlay || return 1
        ct_install_project "$build_dir" || return 1
        if declare -F ct_pre_boot_hook >/dev/null; then
                ct_pre_boot_hook || { ct_log "ct_pre_boot_hook failed"; return 1; }
        fi
        ct_boot
}

# Runs a command inside the container as root, with a clean environment.
in_container() {
        nsenter -t "$CT_PID" -a -- /usr/bin/env -i PATH="$CT_PATH" LANG=C.UTF-8 \
                TERM=dumb HOME=/root SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# Runs a command inside the container as USER (runuser sets HOME, USER, LOGNAME, SHELL).
as_user() {
        local user=$1
        shift
        in_container runuser -u "$user" -- "$@"
}

ct_dump_console() {
        [[ -n $CT_CONSOLE_LOG && -f $CT_CONSOLE_LOG ]] || return 0
        echo "----- container console (last ${1:-40} lines) -----" >&2
        tail -n "${1:-40}" "$CT_CONSOLE_LOG" >&2
        echo "-----" >&2
}

ct_wait_pid_exit() {
        local pid=$1 deadline=$((SECONDS + $2))
        while kill -0 "$pid" 2>/dev/null; do
                ((SECONDS >= deadline)) && return 1
                sleep 0.2
        done
        return 0
}

ct_unmount() {
        local dir=$1 _
        for _ in 1 2 3 4 5; do
                mountpoint -q "$dir" || return 0
                umount "$dir" 2>/dev/null && return 0
                sleep 0.5
        done
        ct_log "$dir is busy, detaching it lazily"
        umount -l "$dir"
}

ct_teardown() {
        local rc=$?
        set +e
        trap - EXIT INT TERM HUP
        trap '' INT        # a second Ctrl-C must not leave mounts behind
        # A script that sources this file may define ct_cleanup_hook for its own files.
        declare -F ct_cleanup_hook >/dev/null && ct_cleanup_hook

        if [[ -n $CT_NSPAWN_PID ]] && kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
                ct_log "powering off $CT_NAME"
                if [[ -n $CT_PID ]] && kill -0 "$CT_PID" 2>/dev/null; then
                        timeout 10 nsenter -t "$CT_PID" -a -- /usr/bin/env -i PATH="$CT_PATH" \
                                systemctl poweroff --no-block >/dev/null 2>&1
                fi
                if ! ct_wait_pid_exit "$CT_NSPAWN_PID" "$CT_STOP_TIMEOUT"; then
                        ct_log "no clean poweroff within ${CT_STOP_TIMEOUT}s, terminating"
                        kill -TERM "$CT_NSPAWN_PID" 2>/dev/null
                        if ! ct_wait_pid_exit "$CT_NSPAWN_PID" 10; then
                                # Killing PID 1 of the container kills everything in it.
                                [[ -n $CT_PID ]] && kill -KILL "$CT_PID" 2>/dev/null
                                kill -KILL "$CT_NSPAWN_PID" 2>/dev/null
                                ct_wait_pid_exit "$CT_NSPAWN_PID" 10
                        fi
                fi
        fi
        [[ -n $CT_NSPAWN_PID ]] && wait "$CT_NSPAWN_PID" 2>/dev/null
        CT_NSPAWN_PID=""
        CT_PID=""

        if [[ -n $CT_DIR ]]; then
                [[ -n $CT_ROOT ]] && ct_unmount "$CT_ROOT"
                [[ -n $CT_FS ]] && ct_unmount "$CT_FS"
                # Remove only what is no longer a mount: never recurse into the overlay.
                if ! mountpoint -q "$CT_FS" && ! mountpoint -q "$CT_ROOT" 2>/dev/null; then
                        rm -rf --one-file-system "$CT_DIR"
                else
                        ct_log "left $CT_DIR in place: still mounted"
                fi
                CT_DIR=""
        fi
        exit "$rc"
}
