#!/usr/bin/env bash
# Build (once) the lab's Debian rootfs: trixie minbase + CRIU >= 4.2 and its crit/pycriu from sid,
# Docker engine, containerd, runc, podman and a static busybox. Idempotent: a stamp file marks each
# finished stage, so an interrupted build resumes and a finished one costs nothing.
# Usage: build-rootfs.sh ROOTFS
set -euo pipefail
ROOTFS=${1:?usage: build-rootfs.sh ROOTFS}
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
STAMP="$ROOTFS/.lab-stamp"
stage_done() { grep -qx "$1" "$STAMP" 2>/dev/null; }
mark() { echo "$1" >>"$STAMP"; }

if [ "$(id -u)" != 0 ]; then echo "build-rootfs: needs root" >&2; exit 77; fi
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }

if ! stage_done debootstrap; then
  rm -rf "$ROOTFS"; mkdir -p "$ROOTFS"
  debootstrap --variant=minbase trixie "$ROOTFS" "$MIRROR"
  mark debootstrap
fi

in_root() {
  # apt in a chroot is enough for installing; the lab itself enters with pivot_root.
  mount --bind /proc "$ROOTFS/proc"; mount --bind /dev "$ROOTFS/dev"
  trap 'umount "$ROOTFS/proc" "$ROOTFS/dev" 2>/dev/null || true' RETURN
  chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}

if ! stage_done packages-v2; then
  cat >"$ROOTFS/etc/apt/sources.list" <<SRC
deb $MIRROR trixie main
deb $MIRROR sid main
SRC
  # Prefer trixie, take only what the lab names from sid (CRIU 4.2 and podman 5.8 live there).
  cat >"$ROOTFS/etc/apt/preferences.d/lab" <<PREF
Package: *
Pin: release n=trixie
Pin-Priority: 900

Package: *
Pin: release n=sid
Pin-Priority: 100
PREF
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  in_root apt-get -o Acquire::Check-Valid-Until=false update -qq
  in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends \
    docker.io docker-cli containerd runc iptables iproute2 busybox-static procps \
    python3 gcc libc6-dev ca-certificates zstd xz-utils bzip2 util-linux
  in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends \
    -t sid criu python3-pycriu
  in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends \
    -t sid podman conmon crun netavark aardvark-dns containers-storage golang-github-containers-common \
    || echo "build-rootfs: podman could not be installed; podman scenarios will be skipped" >&2
  in_root apt-get clean
  mark packages-v2
fi
if ! stage_done bash-static; then
  # A static bash for the `shell` scenario's image (busybox has no bash history to recover).
  in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends bash-static
  mark bash-static
fi
in_root criu --version
if ! stage_done debugger-golang; then
  # The Go scenario: golang-go builds its static service; delve opens the ELF cores made from it.
  in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends golang-go delve
  mark debugger-golang
fi
