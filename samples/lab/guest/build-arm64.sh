#!/usr/bin/env bash
# Build (once) the arm64 guest's disk image: Debian 13 (trixie) arm64 minbase made with a two-stage
# debootstrap (the second stage runs arm64 binaries through qemu-user-static and binfmt_misc), CRIU 4.2
# and its crit/pycriu from sid (like the host lab's rootfs), python3, gcc (the guest builds the lab's
# programs itself, with the compiler of the system it checkpoints), busybox-static, runc, iptables, and
# trixie's linux-image-cloud-arm64 unpacked (see KERNEL below for what it has built in), plus the
# guest's init; packed into ext4 with `mkfs.ext4 -d`.
# Idempotent: a stamp file marks each finished stage.
# Usage: build-arm64.sh GUEST_DIR
set -euo pipefail
GUEST=${1:?usage: build-arm64.sh GUEST_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
ROOT="$GUEST/root"
STAMP="$GUEST/.stamp"
APT=(apt-get -o Acquire::Check-Valid-Until=false)
. "$HERE/common.sh"

if [ "$(id -u)" != 0 ]; then echo "build-arm64: needs root" >&2; exit 77; fi
host_runs_arm64() {
  # Every stage below runs arm64 programs (debootstrap's second stage, apt, dpkg, depmod) on this x86-64
  # host through qemu-user, registered with binfmt_misc (flag F: the interpreter is opened at
  # registration, so it works inside the chroot without a copy of it there). Registering is global to the
  # running kernel but changes nothing for other binaries; a registration already there stays. Booting the
  # finished image needs none of this.
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || need+=(qemu-user-static)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-upgrade "${need[@]}"
  fi
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
  fi
  grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "build-arm64: binfmt qemu-aarch64 disabled" >&2; exit 1; }
}
mkdir -p "$GUEST"

if ! stage_done debootstrap; then
  host_runs_arm64
  rm -rf "$ROOT"; mkdir -p "$ROOT"; : >"$STAMP"
  debootstrap --arch=arm64 --variant=minbase --foreign trixie "$ROOT" "$MIRROR"
  chroot "$ROOT" /debootstrap/debootstrap --second-stage
  mark debootstrap
fi

if ! stage_done packages-v2; then
  host_runs_arm64
  cat >"$ROOT/etc/apt/sources.list" <<SRC
deb $MIRROR trixie main
deb $MIRROR sid main
SRC
  # Prefer trixie, take only CRIU and pycriu from sid (4.2, as in the host lab's rootfs).
  cat >"$ROOT/etc/apt/preferences.d/lab" <<PREF
Package: *
Pin: release n=trixie
Pin-Priority: 900

Package: *
Pin: release n=sid
Pin-Priority: 100
PREF
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  in_root "${APT[@]}" update -qq
  # runc for the runc checkpoint; iptables because CRIU locks a container's network with
  # iptables-restore while it dumps (runc checkpoint fails without it).
  in_root "${APT[@]}" install -y -qq --no-install-recommends \
    python3 python3-protobuf gcc libc6-dev busybox-static iproute2 kmod procps util-linux runc iptables
  in_root "${APT[@]}" install -y -qq --no-install-recommends -t sid criu python3-pycriu
  in_root "${APT[@]}" clean
  mark packages-v2
fi

if ! stage_done kernel; then
  host_runs_arm64
  # KERNEL: trixie's cloud kernel for arm64, unpacked (not installed: no initramfs-tools run).
  in_root "${APT[@]}" update -qq
  pkg=$(in_root apt-cache depends --no-recommends --no-suggests linux-image-cloud-arm64 \
        | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "build-arm64: no kernel package behind linux-image-cloud-arm64" >&2; exit 1; }
  rm -rf "$ROOT/tmp/kernel"; mkdir -p "$ROOT/tmp/kernel"
  in_root sh -c "cd /tmp/kernel && apt-get -o Acquire::Check-Valid-Until=false download $pkg"
  dpkg-deb -x "$ROOT"/tmp/kernel/*.deb "$ROOT"
  rm -rf "$ROOT/tmp/kernel" "$ROOT"/var/lib/apt/lists/*_Packages
  kver=$(basename "$(ls -d "$ROOT"/usr/lib/modules/* | head -n1)")
  in_root depmod "$kver"
  mark kernel
fi

pack_image 3G
