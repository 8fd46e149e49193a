"""python -m forensics.images.schema.sync: compare our schema declarations with a pycriu's, or rewrite them.

Exit status: 0 when they agree (or when only reporting), 1 with --check when they differ or when a
rewrite left differences it cannot make, 2 when the reference descriptors cannot be read.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from forensics.images.schema.sync import compare, rewrite, upstream

LAB_ROOTFS = Path(os.environ.get("LAB_CACHE", "/var/cache/checkpoint-forensics/lab")) / "rootfs"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m forensics.images.schema.sync",
        description="Compare forensics/images/schema/*.py with the protobuf descriptors of a CRIU release "
                    "(names, numbers, types, labels, defaults, (criu) display options, enums, nested types) "
                    "and optionally rewrite the declarations to match.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--rootfs", type=Path, default=None,
                     help=f"a root filesystem with CRIU's pycriu installed; its python3 imports pycriu under "
                          f"chroot (root needed; without root its *_pb2.py files are read instead). "
                          f"Default: the lab's, {LAB_ROOTFS}")
    src.add_argument("--pb2-dir", type=Path, help="a directory of pycriu *_pb2.py files (any CRIU version), "
                                                  "read without running them")
    src.add_argument("--descriptor-set", type=Path,
                     help="a serialized FileDescriptorSet (protoc --include_imports --descriptor_set_out)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 on any difference")
    mode.add_argument("--patch", action="store_true", help="print the edits --write would make, as a diff")
    mode.add_argument("--write", action="store_true", help="rewrite the declaration files to match")
    p.add_argument("--schema-dir", type=Path, default=compare.SCHEMA_DIR,
                   help="the declaration modules (default: the package's own)")
    p.add_argument("--new-module", default="misc.py",
                   help="where declarations of a .proto file no module names go (default: misc.py)")
    return p


def _reference(args: argparse.Namespace) -> upstream.Upstream:
    if args.pb2_dir is not None:
        return upstream.from_pb2_dir(args.pb2_dir)
    if args.descriptor_set is not None:
        return upstream.from_descriptor_set(args.descriptor_set)
    rootfs: Path = args.rootfs or LAB_ROOTFS
    if os.geteuid() == 0:
        return upstream.from_rootfs(rootfs)
    found = upstream.installed_pb2_dir(rootfs)
    if found is None:
        raise upstream.UpstreamError(f"{rootfs}: no pycriu installed there")
    print(f"not root: reading {found} instead of importing it under chroot", file=sys.stderr)
    return upstream.from_pb2_dir(found)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        ref = _reference(args)
    except (upstream.UpstreamError, OSError) as exc:
        print(f"schema sync: {exc}", file=sys.stderr)
        return 2
    mine = compare.ours(args.schema_dir)
    diffs = compare.differences(mine, ref)
    for problem in ref.problems:
        print(f"! {problem}")
    if args.write or args.patch:
        edits = rewrite.plan(mine, ref, diffs, args.schema_dir / args.new_module)
        for path, text in sorted(edits.items()):
            old = path.read_bytes()
            if args.patch:
                sys.stdout.writelines(difflib.unified_diff(
                    old.decode().splitlines(keepends=True), text.decode().splitlines(keepends=True),
                    str(path), str(path)))
            elif text != old:
                path.write_bytes(text)
                print(f"rewrote {path}")
        if args.write:
            diffs = compare.differences(compare.ours(args.schema_dir), ref)
            for d in diffs:
                print(d.text())
            print(f"{len(diffs)} differences left from {ref.source}")
            return 1 if diffs or ref.problems else 0
        return 0
    for d in diffs:
        print(d.text())
    print(f"{len(diffs)} differences from {ref.source}")
    return 1 if args.check and (diffs or ref.problems) else 0


if __name__ == "__main__":
    sys.exit(main())
