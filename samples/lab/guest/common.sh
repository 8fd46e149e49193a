# Sourced by the guest image build scripts once HERE, ROOT, GUEST and STAMP are set: their stage stamps,
# chroot runner and image packing.

stage_done() { grep -qx "$1" "$STAMP" 2>/dev/null; }
mark() { echo "$1" >>"$STAMP"; }

in_root() {
  # Unmounted whatever the command does (set -e would leave a failed command's mounts behind, and
  # mkfs.ext4 -d would then copy the host's /proc).
  local rc=0
  mount --bind /proc "$ROOT/proc"; mount --bind /dev "$ROOT/dev"
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
  umount "$ROOT/proc" "$ROOT/dev"
  return $rc
}

# Put the init in the tree and pack the tree into the ext4 image the guest boots.
pack_image() {
  local size="$1" init_changed=0
  # Repacked when the init's content changed (not its mtime: a fresh clone makes every file new) or a
  # stage ran since the last pack.
  cmp -s "$HERE/init" "$ROOT/cf-init" || init_changed=1
  install -m 0755 "$HERE/init" "$ROOT/cf-init"
  if [ ! -f "$GUEST/root.img" ] || [ "$init_changed" = 1 ] || [ "$STAMP" -nt "$GUEST/root.img" ]; then
    rm -f "$GUEST/root.img.tmp"
    mkfs.ext4 -q -F -L cf-guest -d "$ROOT" "$GUEST/root.img.tmp" "$size"
    mv "$GUEST/root.img.tmp" "$GUEST/root.img"
  fi
  ls "$ROOT"/boot/vmlinuz-* >/dev/null
}
