"""Hostile checkpoint archives, built in tmp_path: each attack is refused or skipped with a warning, the
checkpoint around it is still served, and nothing is written anywhere but the tool's scratch directory,
which is gone after close. Every attack runs uncompressed (read in place) and gzip/zstd (spilled)."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from forensics.errors import ArchiveError, NotACheckpoint
from forensics.locate import Limits, Source, open_checkpoint
from tests.locate.conftest import IMAGES, Member, podman_members, snapshot, write_archive

COMPRESSIONS = ["none", "gzip", "zstd"]


def attacks(tmp_path: Path) -> dict[str, tuple[list[Member], str]]:
    """name -> (hostile members appended to a good Podman archive, text its warning must contain)."""
    outside = tmp_path / "outside"
    return {
        "absolute": ([Member(str(outside / "abs.img"), b"evil")], "absolute path"),
        "absolute-in-images": ([Member("/checkpoint/x.img", b"evil")], "absolute path"),
        "dotdot": ([Member("../../x", b"evil")], "'..' component"),
        "dotdot-inside": ([Member("checkpoint/../../../outside/y", b"evil")], "'..' component"),
        "symlink-etc": ([Member("checkpoint/etc", type=tarfile.SYMTYPE, linkname="/etc")], "never followed"),
        "symlink-then-write": ([Member("checkpoint/evil", type=tarfile.SYMTYPE, linkname=str(outside)),
                                Member("checkpoint/evil/pwned", b"evil")], "lies under the symlink"),
        "hardlink-out": ([Member("checkpoint/h.img", type=tarfile.LNKTYPE, linkname="../../etc/passwd")],
                         "leaves the archive"),
        "hardlink-abs": ([Member("checkpoint/h.img", type=tarfile.LNKTYPE, linkname="/etc/passwd")],
                         "leaves the archive"),
        "hardlink-missing": ([Member("checkpoint/h.img", type=tarfile.LNKTYPE, linkname="checkpoint/nope")],
                             "no earlier regular member"),
        "chardev": ([Member("checkpoint/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)], "character device"),
        "blockdev": ([Member("checkpoint/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)], "block device"),
        "fifo": ([Member("checkpoint/fifo", type=tarfile.FIFOTYPE)], "fifo"),
        "parent-escape": ([Member("checkpoint/parent", type=tarfile.SYMTYPE, linkname="../../elsewhere")],
                          "leaves the archive"),
        "parent-absolute": ([Member("checkpoint/parent", type=tarfile.SYMTYPE, linkname="/var/lib/x")],
                            "leaves the archive"),
    }


def _open(path: Path, limits: Limits | None = None) -> Source:
    return open_checkpoint(path, limits=limits)


@pytest.mark.parametrize("how", COMPRESSIONS)
@pytest.mark.parametrize("attack", sorted(attacks(Path("/x"))))
def test_attack_skipped_with_warning(tmp_path: Path, scratch_root: Path, attack: str, how: str) -> None:
    (tmp_path / "outside").mkdir()
    hostile, expect = attacks(tmp_path)[attack]
    archive = write_archive(tmp_path / "cp.tar", podman_members() + hostile, how)
    before = snapshot(tmp_path, exclude=scratch_root)
    with _open(archive) as src:
        src.parent()                       # a parent link is resolved (or refused) now
        assert any(expect in w for w in src.warnings), src.warnings
        assert src.list() == sorted(IMAGES)
        for name, data in IMAGES.items():
            assert src.read(name) == data
        served = set(src.list()) | set(src.wrapper_files())
        assert not {"x.img", "h.img", "null", "sda", "fifo", "etc", "evil", "parent"} & served
        assert src.wrapper_files() == ["config.dump", "spec.dump"]
    assert snapshot(tmp_path, exclude=scratch_root) == before
    assert not list(scratch_root.iterdir())
    assert not (tmp_path / "outside" / "pwned").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_hardlink_inside_is_an_alias(tmp_path: Path, scratch_root: Path, how: str) -> None:
    link = Member("checkpoint/alias.img", type=tarfile.LNKTYPE, linkname="checkpoint/pages-1.img")
    with _open(write_archive(tmp_path / "cp.tar", podman_members() + [link], how)) as src:
        assert src.read("alias.img") == IMAGES["pages-1.img"]


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_duplicate_names_last_copy_wins(tmp_path: Path, scratch_root: Path, how: str) -> None:
    dup = Member("checkpoint/pages-1.img", b"second copy")
    with _open(write_archive(tmp_path / "cp.tar", podman_members() + [dup], how)) as src:
        assert src.read("pages-1.img") == b"second copy"
        assert any("appears again" in w and "pages-1.img" in w for w in src.warnings)


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_size_past_end_of_archive(tmp_path: Path, scratch_root: Path, how: str) -> None:
    lying = Member("checkpoint/pages-9.img", b"x" * 1000, size=10 << 20)   # header says 10 MiB, 1000 follow
    members = podman_members() + [lying, Member("after.txt", b"never reached")]
    archive = write_archive(tmp_path / "cp.tar", members, how)
    before = snapshot(tmp_path, exclude=scratch_root)
    with _open(archive) as src:
        assert any("pages-9.img" in w and ("past the end" in w or "cut off" in w) for w in src.warnings), src.warnings
        assert not src.exists("pages-9.img")
        assert src.read("pages-1.img") == IMAGES["pages-1.img"]
        assert "after.txt" not in src.wrapper_files()
    assert snapshot(tmp_path, exclude=scratch_root) == before


def test_data_after_end_marker_is_reported(tmp_path: Path, scratch_root: Path) -> None:
    archive = write_archive(tmp_path / "cp.tar", podman_members(), "none")
    with open(archive, "ab") as f:
        f.write(b"appended \x01 junk" * 100)
    with _open(archive) as src:
        assert any("not part of the archive" in w for w in src.warnings)
        assert src.read("inventory.img") == IMAGES["inventory.img"]


def test_damaged_header_midway_is_reported(tmp_path: Path, scratch_root: Path) -> None:
    archive = write_archive(tmp_path / "cp.tar", podman_members() + [Member("tail.txt", b"t")], "none")
    data = bytearray(archive.read_bytes())
    pos = data.find(b"tail.txt")
    header = pos - pos % 512
    data[header + 148:header + 156] = b"0000000\0"          # a wrong checksum
    archive.write_bytes(bytes(data))
    with _open(archive) as src:
        assert any("not part of the archive" in w for w in src.warnings), src.warnings
        assert src.list() == sorted(IMAGES)


# ------------------------------------------------------------------ decompression bombs

def _bomb_member(size: int) -> Member:
    return Member("checkpoint/pages-2.img", bytes(size))


@pytest.mark.parametrize("how", ["gzip", "zstd", "bzip2", "xz"])
def test_bomb_after_images_stops_with_warning(tmp_path: Path, scratch_root: Path, how: str) -> None:
    archive = write_archive(tmp_path / "cp.tar", podman_members() + [_bomb_member(32 << 20)], how)
    before = snapshot(tmp_path, exclude=scratch_root)
    with _open(archive, Limits(max_bytes=4 << 20)) as src:
        assert any("decompression bomb" in w for w in src.warnings), src.warnings
        assert not src.exists("pages-2.img")
        assert src.read("pages-1.img") == IMAGES["pages-1.img"]
        spilled = sum(f.stat().st_size for f in scratch_root.rglob("*") if f.is_file())
        assert spilled <= 4 << 20
    assert snapshot(tmp_path, exclude=scratch_root) == before
    assert not list(scratch_root.iterdir())


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_bomb_before_any_image_is_refused(tmp_path: Path, scratch_root: Path, how: str) -> None:
    archive = write_archive(tmp_path / "cp.tar", [_bomb_member(32 << 20)] + podman_members(), how)
    with pytest.raises(ArchiveError) as exc:
        _open(archive, Limits(max_bytes=4 << 20))
    assert exc.value.path == str(archive) and exc.value.offset is not None
    assert not list(scratch_root.iterdir())


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_ratio_limit(tmp_path: Path, scratch_root: Path, how: str) -> None:
    archive = write_archive(tmp_path / "cp.tar", [_bomb_member(16 << 20)] + podman_members(), how)
    with pytest.raises(ArchiveError, match="expands"):
        _open(archive, Limits(ratio_floor=1 << 20, max_ratio=50))


def test_zstd_bomb_with_default_limits(tmp_path: Path, scratch_root: Path) -> None:
    """1 GiB of zeros in a few KiB of zstd: the default ratio limit stops it after 64 MiB."""
    ti = tarfile.TarInfo("checkpoint/pages-1.img")
    ti.size = 1 << 30
    cctx = zstandard.ZstdCompressor(level=1)
    path = tmp_path / "bomb.tar.gz"
    with open(path, "wb") as f, cctx.stream_writer(f) as w:
        w.write(ti.tobuf())
        chunk = bytes(1 << 20)
        for _ in range(1024):
            w.write(chunk)
        w.write(bytes(1024))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ArchiveError, match="decompression bomb"):
        _open(path)
    assert not list(scratch_root.iterdir())


def test_too_many_members(tmp_path: Path, scratch_root: Path) -> None:
    members = podman_members() + [Member(f"junk/{i}", b"") for i in range(50)]
    with _open(write_archive(tmp_path / "cp.tar", members, "zstd"), Limits(max_members=20)) as src:
        assert any("more than 20 members" in w for w in src.warnings)


# ------------------------------------------------------------------ not archives at all

@pytest.mark.parametrize("content", [b"", b"hello world" * 100, os.urandom(4096)])
def test_not_an_archive(tmp_path: Path, scratch_root: Path, content: bytes) -> None:
    p = tmp_path / "x.tar"
    p.write_bytes(content)
    with pytest.raises(NotACheckpoint, match="expected a CRIU image directory"):
        _open(p)


def test_compressed_but_not_tar(tmp_path: Path, scratch_root: Path) -> None:
    p = tmp_path / "x.tar.gz"
    p.write_bytes(gzip.compress(b"just text, no tar" * 100))
    with pytest.raises(NotACheckpoint, match="gzip-compressed, but not a tar"):
        _open(p)
    assert not list(scratch_root.iterdir())


def test_tar_without_images(tmp_path: Path, scratch_root: Path) -> None:
    p = write_archive(tmp_path / "x.tar", [Member("readme.txt", b"hi")], "none")
    with pytest.raises(NotACheckpoint, match="without CRIU images"):
        _open(p)
