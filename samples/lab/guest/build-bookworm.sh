#!/usr/bin/env bash
# Build (once) the older-CRIU guest's disk image: Debian 12 (bookworm) minbase with its own CRIU 3.17
# (criu, crit and pycriu in one package there), busybox-static, python3, iproute2 and kmod, and Debian
# 12's cloud kernel (6.1: CRIU 3.17 dumps on it; it fails on kernels from 6.16, see docs/lab.md),
# unpacked (no initrd needed), plus the guest's init; packed into ext4 with `mkfs.ext4 -d`.
# Idempotent: a stamp file marks each finished stage.
# Usage: build-bookworm.sh GUEST_DIR
set -euo pipefail
GUEST=${1:?usage: build-bookworm.sh GUEST_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
ROOT="$GUEST/root"
STAMP="$GUEST/.stamp"
. "$HERE/common.sh"

if [ "$(id -u)" != 0 ]; then echo "build-bookworm: needs root" >&2; exit 77; fi
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
mkdir -p "$GUEST"

if ! stage_done debootstrap; then
  rm -rf "$ROOT"; mkdir -p "$ROOT"; : >"$STAMP"
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR"
  mark debootstrap
fi

if ! stage_done packages; then
  echo "deb $MIRROR bookworm main" >"$ROOT/etc/apt/sources.list"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  in_root apt-get update -qq
  in_root apt-get install -y -qq --no-install-recommends criu busybox-static python3 iproute2 kmod procps
  in_root apt-get clean
  mark packages
fi

if ! stage_done kernel; then
  in_root apt-get update -qq
  pkg=$(in_root apt-cache depends --no-recommends --no-suggests linux-image-cloud-amd64 \
        | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "build-bookworm: no kernel package behind linux-image-cloud-amd64" >&2; exit 1; }
  rm -rf "$ROOT/tmp/kernel"; mkdir -p "$ROOT/tmp/kernel"
  in_root sh -c "cd /tmp/kernel && apt-get download $pkg"
  # Unpacked aside, then copied: Debian 12's kernel package still ships /lib/modules, and unpacking it
  # over the root would replace the merged-/usr symlink /lib with a directory.
  dpkg-deb -x "$ROOT"/tmp/kernel/*.deb "$ROOT/tmp/kernel/x"
  mkdir -p "$ROOT/usr/lib/modules"
  cp -a "$ROOT"/tmp/kernel/x/boot/. "$ROOT/boot/"
  for m in "$ROOT"/tmp/kernel/x/lib/modules "$ROOT"/tmp/kernel/x/usr/lib/modules; do
    [ -d "$m" ] && cp -a "$m"/. "$ROOT/usr/lib/modules/"
  done
  rm -rf "$ROOT/tmp/kernel" "$ROOT"/var/lib/apt/lists/*_Packages
  kver=$(basename "$(ls -d "$ROOT"/usr/lib/modules/* | head -n1)")
  in_root depmod "$kver"
  mark kernel
fi

pack_image 2G
