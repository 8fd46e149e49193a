"""Hostile checkpoints made from the bundled samples with the project's own encoder.

Each function copies a real checkpoint and rewrites one image: entries are decoded with
`forensics.images`, changed or multiplied as protobuf messages, and written back behind the original
header, so everything but the attacked field is what CRIU wrote. Nothing here is bundled: the tests make
these in tmp_path (a million VMAs is ~30 MB, made in a few seconds).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from forensics.images.decode import open_image
from tests.conftest import SAMPLES, load_samples


def service_images() -> Path:
    """The service scenario's first checkpoint: 2 processes, fds of every kind, shared memory, tmpfs."""
    return next(s for s in load_samples(SAMPLES) if s.scenario == "service" and s.name == "checkpoint1").images


def copy_service(dest: Path) -> Path:
    shutil.copytree(service_images(), dest)
    return dest


def messages(path: Path) -> list[Any]:
    return [e.message for e in open_image(path).load()]


def write_image(path: Path, entries: Iterable[Any], like: Path | None = None) -> None:
    """`entries` framed behind the header of `like` (default: `path` itself as it is now)."""
    source = open_image(like or path)
    assert source.header is not None
    header = bytes(source.data()[:source.header.length])
    with open(path, "wb") as out:
        out.write(header)
        for msg in entries:
            payload = msg.SerializePartialToString()
            out.write(struct.pack("<I", len(payload)))
            out.write(payload)


def scale_vmas(directory: Path, pid: int, count: int) -> None:
    """mm-PID.img with `count` anonymous private VMAs (copies of its first anonymous one, moved apart)."""
    path = directory / f"mm-{pid}.img"
    (mm,) = messages(path)
    proto = next(v for v in mm.vmas if v.shmid == 0)
    del mm.vmas[:]
    base = 0x100000000
    for i in range(count):
        v = mm.vmas.add()
        v.CopyFrom(proto)
        v.start = base + i * 0x2000
        v.end = v.start + 0x1000
    write_image(path, [mm])


def scale_fds(directory: Path, pid: int, count: int) -> None:
    """fdinfo of `pid` with `count` fds, all naming the file of its first fd."""
    ids = messages(directory / f"ids-{pid}.img")[0]
    path = directory / f"fdinfo-{ids.files_id}.img"
    first = messages(path)[0]
    out = []
    for i in range(count):
        e = type(first)()
        e.CopyFrom(first)
        e.fd = 100 + i
        out.append(e)
    write_image(path, out)


def pstree(directory: Path, count: int, *, deep: bool) -> None:
    """pstree.img with `count` more processes under pid 1: all children of 1 (wide) or each the parent of
    the next (a chain `count` deep). They have no other images, as after a dump cut short."""
    path = directory / "pstree.img"
    entries = messages(path)
    proto = entries[-1]
    for i in range(count):
        e = type(proto)()
        e.CopyFrom(proto)
        e.pid = e.pgid = e.sid = 100_000 + i
        e.ppid = 1 if (not deep or i == 0) else 100_000 + i - 1
        del e.threads[:]
        e.threads.append(e.pid)
        entries.append(e)
    write_image(path, entries)
