# Sourced by the guest image build scripts (HERE, ROOT, GUEST, STAMP set): put the init in the tree and
# pack the tree into the ext4 image the guest boots.
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
