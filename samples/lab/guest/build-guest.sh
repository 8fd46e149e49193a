#!/usr/bin/env bash
# Build (once) the guest lab's disk image: a copy of the lab's rootfs with a stock Debian kernel
# (linux-image-cloud-amd64: soft-dirty tracking, NVMe, virtio-blk and ext4 built in, so no initrd) and
# the guest's init, packed into an ext4 image with `mkfs.ext4 -d`. The host kernel here has no
# CONFIG_MEM_SOFT_DIRTY; this kernel, booted under qemu TCG, lets CRIU make incremental chains.
# Idempotent: a stamp file marks each finished stage; a finished image costs nothing.
# Usage: build-guest.sh LAB_ROOTFS GUEST_DIR
set -euo pipefail
LAB_ROOTFS=${1:?usage: build-guest.sh LAB_ROOTFS GUEST_DIR}
GUEST=${2:?usage: build-guest.sh LAB_ROOTFS GUEST_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT="$GUEST/root"
STAMP="$GUEST/.stamp"
. "$HERE/common.sh"

if [ "$(id -u)" != 0 ]; then echo "build-guest: needs root" >&2; exit 77; fi
[ -x "$LAB_ROOTFS/usr/sbin/criu" ] || { echo "build-guest: no lab rootfs at $LAB_ROOTFS" >&2; exit 1; }
mkdir -p "$GUEST"

if ! stage_done copy-v2; then
  # A new copy starts every later stage again.
  rm -rf "$ROOT"; mkdir -p "$ROOT"; : >"$STAMP"
  # What a lab run leaves in the rootfs (daemon state, apt's cache) is not part of the guest, nor what
  # other lab stages put under /srv and /opt (benchmark data, private tool prefixes).
  tar -C "$LAB_ROOTFS" --one-file-system -c \
      --exclude=./var/lib/docker --exclude="./var/lib/containerd*" --exclude=./var/lib/containers \
      --exclude=./var/cache/apt --exclude=./lab --exclude=./out --exclude=./.oldroot --exclude=./.lab-stamp \
      --exclude=./srv --exclude=./opt . \
    | tar -C "$ROOT" -x
  mkdir -p "$ROOT/srv" "$ROOT/opt"
  mark copy-v2
fi

if ! stage_done kernel; then
  # The kernel package unpacked (not installed): no initramfs-tools run, nothing but /boot and modules.
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  in_root apt-get -o Acquire::Check-Valid-Until=false update -qq
  pkg=$(in_root apt-cache depends --no-recommends --no-suggests linux-image-cloud-amd64 \
        | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "build-guest: no kernel package behind linux-image-cloud-amd64" >&2; exit 1; }
  rm -rf "$ROOT/tmp/kernel"; mkdir -p "$ROOT/tmp/kernel"
  (cd "$ROOT/tmp/kernel" && in_root sh -c "cd /tmp/kernel && apt-get -o Acquire::Check-Valid-Until=false download $pkg")
  dpkg-deb -x "$ROOT"/tmp/kernel/*.deb "$ROOT"
  rm -rf "$ROOT/tmp/kernel" "$ROOT"/var/lib/apt/lists/*_Packages
  mark kernel
fi

if ! stage_done kmod; then
  # modprobe, so the kernel can load what it asks for (nfnetlink for CRIU's network lock, overlay...)
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  in_root apt-get -o Acquire::Check-Valid-Until=false update -qq
  in_root apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends kmod
  in_root apt-get clean
  rm -rf "$ROOT"/var/lib/apt/lists/*_Packages
  kver=$(basename "$(ls -d "$ROOT"/usr/lib/modules/* | head -n1)")
  in_root depmod "$kver"
  mark kmod
fi

pack_image 4G
