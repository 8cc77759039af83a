# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shared by tests/demo and tests/run-all: installs the Debian packages needed to build
# microvmd and to test it in a disposable container, and configures and builds a tree.

# Build: compiler, meson, the libraries, gettext/itstool for the translated polkit policy.
# Container tests: systemd (booted in the container), systemd-nspawn, dbus-daemon,
# polkitd, ssh-keygen, gdbus (prints D-Bus error names), python3 (JSON checks and the
# cloud-hypervisor stand-in), procps (ps).
# VMs in the lifecycle tests: QEMU (runs under TCG without /dev/kvm; also brings the C
# virtiofsd), and what tests/guest/build-test-guest builds the test guest from: Debian's
# cloud kernel, busybox-static, cpio, gzip, kmod (modinfo).
# The real guest (test-guest.sh) runs the machine's /usr: sshd (openssh-server) and git.
# The interface files: gdbus-codegen (libglib2.0-dev-bin). The Cockpit page
# (test-cockpit.sh): Cockpit, and headless Chromium driven by Selenium. The fuzzers
# (tests/fuzz/run): clang with libFuzzer.
PREPARE_PACKAGES=(
        meson ninja-build gcc libc6-dev pkg-config
        libsystemd-dev libpolkit-gobject-1-dev libglib2.0-dev libglib2.0-bin
        libjson-glib-dev libdbus-1-dev libnl-3-dev libnl-route-3-dev libnftables-dev
        gettext itstool
        systemd systemd-container dbus polkitd util-linux passwd
        openssh-client python3 bash-completion iproute2 procps
        qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio gzip kmod
        openssh-server git e2fsprogs valgrind nftables
        libglib2.0-dev-bin
        cockpit-ws cockpit-bridge cockpit-system chromium chromium-driver python3-selenium
        clang libclang-rt-14-dev
)
# The benchmark (bench/run, the last tier) boots the same guest under libvirt beside
# microvmd: libvirtd with its QEMU driver, and virsh. Without their recommendations
# (lvm2, swtpm, other hypervisors' drivers), as bench/run installs them: the test
# containers boot on an overlay of / and would start whatever services those bring.
PREPARE_PACKAGES_NO_RECOMMENDS=(
        libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
)

prepare_log() {
        echo "==> $*" >&2
}

# prepare_missing_packages [PACKAGES...]: those not installed (default: PREPARE_PACKAGES).
prepare_missing_packages() {
        local pkg status
        (($#)) || set -- "${PREPARE_PACKAGES[@]}"
        for pkg in "$@"; do
                status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || status=""
                [[ $status == installed ]] || echo "$pkg"
        done
}

# Installs what is missing; does nothing (and needs no network) when all is there.
prepare_install_packages() {
        if ! command -v dpkg-query >/dev/null; then
                prepare_log "not a Debian system: install by hand: ${PREPARE_PACKAGES[*]} ${PREPARE_PACKAGES_NO_RECOMMENDS[*]}"
                return 0
        fi
        local missing missing_norec
        missing=$(prepare_missing_packages | tr '\n' ' ')
        missing_norec=$(prepare_missing_packages "${PREPARE_PACKAGES_NO_RECOMMENDS[@]}" | tr '\n' ' ')
        if [[ -z ${missing// /} && -z ${missing_norec// /} ]]; then
                prepare_log "all needed Debian packages are installed"
                return 0
        fi
        if [[ $(id -u) -ne 0 ]]; then
                prepare_log "missing packages: $missing $missing_norec; run as root to install them"
                return 1
        fi
        prepare_log "installing: $missing $missing_norec"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q || return 1
        if [[ -n ${missing// /} ]]; then
                # shellcheck disable=SC2086 # one word per package
                apt-get install -y -q $missing || return 1
        fi
        if [[ -n ${missing_norec// /} ]]; then
                # shellcheck disable=SC2086 # one word per package
                apt-get install -y -q --no-install-recommends $missing_norec || return 1
        fi
}

# prepare_build SRC_DIR BUILD_DIR [MESON OPTIONS...]: configures (or reconfigures with
# the same options) and builds. The prefix and dirs are those a distribution uses, so
# `meson install` puts files where the system's dbus-daemon, systemd and polkitd look.
prepare_build() {
        local src=$1 build=$2
        shift 2
        local options=(--prefix=/usr --sysconfdir=/etc --localstatedir=/var -Dwerror=true "$@")
        if [[ -f $build/meson-private/coredata.dat ]]; then
                prepare_log "reconfiguring $build"
                meson configure "$build" "${options[@]}"
        else
                prepare_log "configuring $build"
                meson setup "$build" "$src" "${options[@]}"
        fi
        prepare_log "building $build"
        meson compile -C "$build"
}
