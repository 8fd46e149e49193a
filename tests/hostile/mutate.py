"""Directory- and archive-level mutations of real checkpoints, shared by the bounded hypothesis run
(tests/hostile/test_fuzz_layouts.py) and the long campaign (fuzz/layouts.py).

A mutation is a tuple (kind, a, b) of small integers and a kind name, so hypothesis can shrink it and a
failing one can be replayed from its printed form. Directory mutations change which files a checkpoint
directory holds and what they are (deleted, emptied, multiplied, renamed over another image, replaced by a
FIFO, a directory, or a symlink to /proc/self/mem or /dev/zero; a `parent` link to itself, a FIFO, the
kernel or nowhere; a descriptors.json nested or huge). Archive mutations change members of a real Podman
export (dropped, duplicated, retyped into links/devices/FIFOs, renamed absolute, '..' or thousands deep,
impossible times, lying sizes) and the tar bytes (flips, cuts), then compress it (none, gzip, zstd).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import zstandard

from forensics.images.decode import open_image

DIR_KINDS = ("delete", "empty", "multiply", "rename", "fifo", "dir", "symlink", "parent", "descriptors")
SYMLINK_TARGETS = ("/proc/self/mem", "/dev/zero", "missing", "inventory.img")
PARENT_TARGETS = (".", "fifo", "/proc/self", "..", "missing", "/dev")
ARCHIVE_KINDS = ("drop", "dup", "retype", "rename", "mtime", "size", "flip", "cut")
RETYPES = (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE)
RENAMES = ("/etc/x", "../../x", "checkpoint/" + "d/" * 2000 + "x", "checkpoint/parent", "checkpoint/pstree.img")
MTIMES = ("nan", "inf", "1e20", "-1e12")
COMPRESSIONS = ("none", "gzip", "zstd")


def mutate_directory(d: Path, kind: str, a: int, b: int) -> None:
    """Apply one directory mutation to checkpoint directory `d` (a copy)."""
    names = sorted(p.name for p in d.iterdir() if p.is_file() and not p.is_symlink())
    if not names:
        return
    p = d / names[a % len(names)]
    if kind == "delete":
        p.unlink()
    elif kind == "empty":
        if p.is_file():      # an earlier mutation may have made it a fifo: writing would wait forever
            p.write_bytes(b"")
    elif kind == "multiply" and p.is_file():
        image = open_image(p)
        if image.header is not None:
            data = image.data().tobytes()
            head, body = data[:image.header.length], data[image.header.length:]
            times = min(2 + b % 2000, max(1, (16 << 20) // max(1, len(body))))   # at most ~16 MiB
            p.write_bytes(head + body * times)
    elif kind == "rename":
        other = d / names[b % len(names)]
        if other != p:
            p.replace(other)
    elif kind in ("fifo", "dir"):
        p.unlink()
        os.mkfifo(p) if kind == "fifo" else p.mkdir()
    elif kind == "symlink":
        p.unlink()
        p.symlink_to(SYMLINK_TARGETS[b % len(SYMLINK_TARGETS)])
    elif kind == "parent":
        link = d / "parent"
        if os.path.lexists(link):
            link.unlink() if not link.is_dir() or link.is_symlink() else shutil.rmtree(link)
        target = PARENT_TARGETS[b % len(PARENT_TARGETS)]
        if target == "fifo":
            os.mkfifo(link)
        else:
            link.symlink_to(target)
    elif kind == "descriptors":
        target = d / "descriptors.json"
        if target.is_symlink() or (os.path.lexists(target) and not target.is_file()):  # made by an earlier mutation
            return
        target.write_bytes([b"[" * 100_000, b'["' + b"x" * (4 << 20) + b'"]', b"\xff\x00{",
                                              b'{"a": 1}'][b % 4])


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive, "r:") as tar:
        return [(ti, tar.extractfile(ti).read() if ti.isreg() else b"") for ti in tar]  # type: ignore[union-attr]


def mutate_archive(source: Path, out: Path, muts: list[tuple[str, int, int]], compression: str) -> Path:
    """A mutated copy of the plain tar `source` at `out`, compressed with `compression`."""
    members = _members(source)
    cuts: list[tuple[str, int, int]] = []
    for kind, a, b in muts:
        if not members:
            break
        i = a % len(members)
        ti, data = members[i]
        ti = _copy(ti)
        if kind == "drop":
            del members[i]
            continue
        if kind == "dup":
            members.insert(b % (len(members) + 1), (_copy(ti), data))
            continue
        if kind == "retype":
            ti.type = RETYPES[b % len(RETYPES)]
            ti.linkname = "/proc/self/mem" if b % 2 else "../../etc/passwd"
            ti.size, data = 0, b""
        elif kind == "rename":
            ti.name = RENAMES[b % len(RENAMES)]
        elif kind == "mtime":
            ti.pax_headers = {**ti.pax_headers, "mtime": MTIMES[b % len(MTIMES)]}
        elif kind == "size":
            ti.pax_headers = {**ti.pax_headers, "size": str([1 << 40, 0, len(data) + 513][b % 3])}
        else:
            cuts.append((kind, a, b))
        members[i] = (ti, data)
    buf = io.BytesIO()
    for ti, data in members:
        buf.write(ti.tobuf(format=tarfile.PAX_FORMAT))
        buf.write(data)
        buf.write(bytes(-len(data) % 512))
    buf.write(bytes(1024))
    raw = bytearray(buf.getvalue())
    for kind, a, b in cuts:
        if not raw:
            break
        if kind == "flip":
            raw[a % len(raw)] ^= 1 + b % 255
        else:
            del raw[a % len(raw):]
    out.write_bytes(_compress(bytes(raw), compression))
    return out


def _copy(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    new = tarfile.TarInfo(ti.name)
    for attr in ("size", "mtime", "mode", "type", "linkname", "uid", "gid", "uname", "gname"):
        setattr(new, attr, getattr(ti, attr))
    new.pax_headers = dict(ti.pax_headers)
    return new


def _compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(data)
    return data
