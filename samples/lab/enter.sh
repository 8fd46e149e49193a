#!/bin/sh
# Runs inside `unshare --mount --propagation private`: make ROOTFS the root of this private mount
# namespace with pivot_root (a chroot makes CRIU refuse: "root task has another root than mntns"), then
# exec the given command in it. Everything mounted here lives only in this namespace and disappears
# with its last process; nothing leaks into the host's mount table.
# Usage: enter.sh ROOTFS LABDIR OUTDIR CMD...
set -eu
ROOTFS=$1 LABDIR=$2 OUTDIR=$3
shift 3
mount --bind "$ROOTFS" "$ROOTFS"
mkdir -p "$ROOTFS/lab" "$ROOTFS/out" "$ROOTFS/.oldroot"
mount --bind "$LABDIR" "$ROOTFS/lab"
mount -o remount,bind,ro "$ROOTFS/lab"
mount --bind "$OUTDIR" "$ROOTFS/out"
mount -t proc proc "$ROOTFS/proc"
mount --rbind /sys "$ROOTFS/sys"
mount -t tmpfs -o mode=0755 tmpfs "$ROOTFS/run"
mount -t tmpfs -o mode=1777 tmpfs "$ROOTFS/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$ROOTFS/tmp"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOTFS/dev/pts"
mount --bind "$ROOTFS/dev/pts/ptmx" "$ROOTFS/dev/ptmx"
cd "$ROOTFS"
pivot_root . .oldroot
cd /
umount -l /.oldroot
exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
