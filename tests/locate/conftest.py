"""Helpers of the locate tests: checkpoints and archives built in tmp_path, and filesystem snapshots.

The locate layer does not decode images, so a synthetic checkpoint is a directory of files with CRIU's
names and arbitrary bytes. Archives are made with Python's tarfile (and raw headers where tarfile would
refuse to write the hostile thing), compressed in memory.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from forensics.locate.scratch import live_scratch_dirs

IMAGES = {
    "inventory.img": b"\x54\x4c\x51\x58inventory" + bytes(30),
    "pstree.img": b"pstree" + bytes(20),
    "core-1.img": os.urandom(2000),
    "pagemap-1.img": b"pagemap" + bytes(50),
    "pages-1.img": os.urandom(3 * 4096),
}


def make_criu_dir(path: Path, images: dict[str, bytes] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, data in (images or IMAGES).items():
        (path / name).write_bytes(data)
    return path


PODMAN_CONFIG = {"id": "ab" * 32, "name": "web", "rootfsImageName": "docker.io/library/nginx:latest",
                 "runtime": "crun", "createdTime": "2025-01-02T03:04:05.123456789Z"}
PODMAN_SPEC = {"ociVersion": "1.2.0", "annotations": {"io.container.manager": "libpod"}}


@dataclass
class Member:
    """One member to write: a regular file (data), or any TarInfo type with fields set."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    size: int | None = None        # a header size different from len(data) (a lie)
    devmajor: int = 0
    devminor: int = 0

    def info(self) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(self.name)
        ti.type = self.type
        ti.linkname = self.linkname
        ti.size = len(self.data) if self.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
        ti.mtime = 1_700_000_000
        ti.mode = 0o644
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        return ti


def podman_members(images: dict[str, bytes] | None = None, *, config: bool = True) -> list[Member]:
    out = [Member("checkpoint", type=tarfile.DIRTYPE)]
    out += [Member(f"checkpoint/{n}", d) for n, d in (images or IMAGES).items()]
    if config:
        out += [Member("config.dump", json.dumps(PODMAN_CONFIG).encode()),
                Member("spec.dump", json.dumps(PODMAN_SPEC).encode())]
    return out


def tar_bytes(members: Iterable[Member]) -> bytes:
    """A plain tar; members are written raw (header + data + padding) so any header can be forged."""
    buf = io.BytesIO()
    for m in members:
        ti = m.info()
        if m.size is not None:
            ti.size = m.size
        buf.write(ti.tobuf(format=tarfile.PAX_FORMAT))
        buf.write(m.data)
        if len(m.data) % 512:
            buf.write(bytes(512 - len(m.data) % 512))
    buf.write(bytes(1024))
    return buf.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "none":
        return data
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if how == "bzip2":
        return bz2.compress(data)
    if how == "xz":
        return lzma.compress(data)
    raise ValueError(how)


def write_archive(path: Path, members: Iterable[Member], how: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(compress(tar_bytes(members), how))
    return path


def snapshot(root: Path, exclude: Path | None = None) -> dict[str, tuple[str, int, int, str]]:
    """Every entry under `root` (not following links): kind, size, mtime_ns, content hash for files."""
    out: dict[str, tuple[str, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if exclude is not None:
            dirnames[:] = [d for d in dirnames if here / d != exclude]
        for name in [*dirnames, *filenames]:
            p = here / name
            st = os.lstat(p)
            kind = "link" if p.is_symlink() else "dir" if p.is_dir() else "file"
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if kind == "file" else ""
            out[str(p.relative_to(root))] = (kind, st.st_size if kind != "dir" else 0, st.st_mtime_ns, digest)
    return out


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for rel, entry in sorted(snapshot(root).items()):
        h.update(f"{rel}\0{entry[0]}\0{entry[1]}\0{entry[3]}\n".encode())
    return h.hexdigest()


@pytest.fixture
def scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point tempfile (and so the tool's scratch directories) at tmp_path/scratch; check it is left empty."""
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    assert not [d for d in live_scratch_dirs() if d.is_relative_to(root)], "a scratch directory is still live"
