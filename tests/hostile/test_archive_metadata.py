"""Hostile archive metadata (Podman/CRI-O/containerd exports, plain and zstd): deeply nested JSON in every
JSON file an archive carries, tar times no calendar holds, extended headers claiming gigabytes, links to
/proc/self/mem, directories nested thousands deep, and a million members. Each is answered with the
checkpoint (partial where something was left out, with the reason), through the real CLI."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from forensics.locate import Limits, open_checkpoint
from tests.hostile.test_scale import cli, within
from tests.locate.conftest import (
    IMAGES,
    PODMAN_CONFIG,
    PODMAN_SPEC,
    Member,
    compress,
    podman_members,
    tar_bytes,
)

NESTED = b"[" * 50_000 + b"]" * 50_000
COMPRESSIONS = ["none", "zstd"]


def _archive(path: Path, extra: list[Member] | bytes, how: str, *, config: bytes | None = None,
             spec: bytes | None = None) -> Path:
    members = [m for m in podman_members() if m.name not in ("config.dump", "spec.dump")]
    members.append(Member("config.dump", config if config is not None else json.dumps(PODMAN_CONFIG).encode()))
    members.append(Member("spec.dump", spec if spec is not None else json.dumps(PODMAN_SPEC).encode()))
    data = tar_bytes(members)[:-1024]
    data += extra if isinstance(extra, bytes) else tar_bytes(extra)[:-1024]
    path.write_bytes(compress(data + bytes(1024), how))
    return path


def _every_command(archive: Path, tmp_path: Path) -> dict:
    """inspect (text and JSON) and report answer; the JSON document is returned."""
    cli("inspect", str(archive), "--all", "--findings", seconds=60)
    _, out = cli("inspect", str(archive), "--json", seconds=60)
    cli("report", str(archive), "-o", str(tmp_path / "r.html"), seconds=60)
    return json.loads(out)


CRIO_SPEC = {"ociVersion": "1.2.0", "annotations": {"io.container.manager": "cri-o",
                                                    "io.kubernetes.cri-o.Metadata": NESTED.decode()}}


@pytest.mark.parametrize("how", COMPRESSIONS)
@pytest.mark.parametrize("where", ["config.dump", "spec.dump", "cri-o-metadata", "deleted.files", "bind.mounts"])
def test_nested_json(tmp_path: Path, where: str, how: str) -> None:
    kw: dict[str, bytes] = {}
    extra: list[Member] = []
    if where == "config.dump":
        kw["config"] = NESTED
    elif where == "spec.dump":
        kw["spec"] = NESTED
    elif where == "cri-o-metadata":
        kw["spec"] = json.dumps(CRIO_SPEC).encode()
    else:
        extra.append(Member(where, NESTED))
    archive = _archive(tmp_path / "cp.tar", extra, how, **kw)
    with open_checkpoint(archive) as src:
        if where in ("config.dump", "spec.dump"):
            assert any(f"{where} nests JSON more than 64 levels deep" in w for w in src.warnings), src.warnings
        assert src.read("pages-1.img") == IMAGES["pages-1.img"]
    doc = _every_command(archive, tmp_path)
    if where in ("deleted.files", "bind.mounts"):
        assert any(f"{where} nests JSON more than 64 levels deep" in w for w in doc["warnings"]), doc["warnings"]
    if where == "cri-o-metadata":
        assert doc["checkpoint"]["engine"] == "cri-o" and doc["checkpoint"]["container"]["name"] == "web"


def _pax_member(name: str, data: bytes, pax: dict[str, str], *, raw_mtime: float | None = None) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1_700_000_000
    ti.pax_headers = pax
    buf = ti.tobuf(format=tarfile.PAX_FORMAT)
    pad = (512 - len(data) % 512) % 512
    return buf + data + bytes(pad)


TIMES = ["1e18", "1e20", "-1e12", "nan", "inf", "-inf"]


@pytest.mark.parametrize("how", COMPRESSIONS)
@pytest.mark.parametrize("mtime", TIMES)
def test_impossible_member_times(tmp_path: Path, mtime: str, how: str) -> None:
    """inventory.img itself (whose time becomes the checkpoint's) and a rootfs-diff.tar entry."""
    diff = _pax_member("etc/evil", b"x", {"mtime": mtime}) + bytes(1024)
    members = tar_bytes([m for m in podman_members() if m.name != "checkpoint/inventory.img"])[:-1024]
    members += _pax_member("checkpoint/inventory.img", IMAGES["inventory.img"], {"mtime": mtime})
    members += _pax_member("rootfs-diff.tar", diff, {})
    archive = tmp_path / "cp.tar"
    archive.write_bytes(compress(members + bytes(1024), how))
    with open_checkpoint(archive) as src:
        assert src.meta.checkpoint_time is None
    doc = _every_command(archive, tmp_path)
    (entry,) = doc["wrapper"]["rootfs_diff"]
    assert entry["path"] == "etc/evil" and entry["mtime"] is None


def _extended(kind: bytes, claimed: int) -> bytes:
    """A GNU long-name or pax header claiming `claimed` bytes, followed by a little data and the end."""
    ti = tarfile.TarInfo("././@LongLink")
    ti.type = kind
    ti.size = claimed
    return ti.tobuf(format=tarfile.GNU_FORMAT) + b"evil/name\0".ljust(512, b"\0")


@pytest.mark.parametrize("how", COMPRESSIONS)
@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE], ids=["gnu", "pax"])
@pytest.mark.parametrize("claimed", [7 << 30, 100 << 30], ids=["7G", "100G"])
def test_extended_header_claims_gigabytes(tmp_path: Path, kind: bytes, claimed: int, how: str) -> None:
    archive = _archive(tmp_path / "cp.tar", _extended(kind, claimed), how)
    with within(30, "an extended header claiming gigabytes"), open_checkpoint(archive) as src:
        assert any(f"claims {claimed} bytes (more than 1048576); not read" in w for w in src.warnings), src.warnings
        assert src.read("pages-1.img") == IMAGES["pages-1.img"]
    _every_command(archive, tmp_path)


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_links_to_proc_self_mem(tmp_path: Path, how: str) -> None:
    links = [Member("checkpoint/dump.log", type=tarfile.SYMTYPE, linkname="/proc/self/mem"),
             Member("dump.log", type=tarfile.LNKTYPE, linkname="/proc/self/mem"),
             Member("checkpoint/parent", type=tarfile.SYMTYPE, linkname="/proc/self/mem")]
    archive = _archive(tmp_path / "cp.tar", links, how)
    with open_checkpoint(archive) as src:
        src.parent()
        assert "dump.log" not in src.list() and "dump.log" not in src.wrapper_files()
        assert any("leaves the archive" in w for w in src.warnings), src.warnings
    _every_command(archive, tmp_path)


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_deeply_nested_directories(tmp_path: Path, how: str) -> None:
    deep = "/".join(["d"] * 3000)
    members = [Member(deep, type=tarfile.DIRTYPE), Member(f"{deep}/f", b"x"), Member("checkpoint/x/" + deep + "/g", b"y")]
    archive = _archive(tmp_path / "cp.tar", members, how)
    with open_checkpoint(archive) as src:
        assert any("levels deep (more than 64); skipped" in w for w in src.warnings)
    _every_command(archive, tmp_path)


def test_million_members_zstd(tmp_path: Path) -> None:
    """1.1 million empty members after the images: refused at Limits.max_members with the cap named,
    within 60 s, and the checkpoint before them still served."""
    head = tarfile.TarInfo("junk/000000000")
    head.mtime = 0
    template = bytearray(head.tobuf(format=tarfile.USTAR_FORMAT))
    path = tmp_path / "many.tar.zst"
    with open(path, "wb") as f, zstandard.ZstdCompressor(level=1).stream_writer(f) as w:
        w.write(tar_bytes(podman_members())[:-1024])
        out = io.BytesIO()
        for i in range(1_100_000):
            block = template
            block[5:14] = b"%09d" % i
            block[148:156] = b"        "
            block[148:155] = b"%06o\0" % sum(block)
            out.write(block)
            if i % 50_000 == 49_999:
                w.write(out.getvalue())
                out = io.BytesIO()
        w.write(out.getvalue() + bytes(1024))
    limit = Limits().max_members
    with within(60, "1.1 million members"), open_checkpoint(path) as src:
        assert any(f"more than {limit} members" in w for w in src.warnings), src.warnings[-3:]
        assert src.read("pages-1.img") == IMAGES["pages-1.img"]


def test_report_of_archive_with_bomb_after_images(tmp_path: Path) -> None:
    """The report hashes every member of the archive it was given: a bomb after the images stops that
    listing at the archive limits too, with a note, instead of hashing 1 GiB of zeros."""
    head = tarfile.TarInfo("junk/bomb")
    head.size = 1 << 30
    path = tmp_path / "bomb.tar.zst"
    with open(path, "wb") as f, zstandard.ZstdCompressor(level=1).stream_writer(f) as w:
        w.write(tar_bytes(podman_members())[:-1024] + head.tobuf())
        for _ in range(1024):
            w.write(bytes(1 << 20))
        w.write(bytes(1024))
    with within(60, "report of an archive holding a bomb"):
        cli("report", str(path), "-o", str(tmp_path / "r.html"), seconds=60)
    page = (tmp_path / "r.html").read_text()
    assert "members after these not hashed" in page and "decompression bomb" in page
