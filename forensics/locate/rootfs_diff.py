"""The container's filesystem changes saved next to a checkpoint, listed without extracting anything.

Podman and CRI-O store the files a container added or changed in `rootfs-diff.tar` and the ones it
deleted in `deleted.files` (a JSON list). containerd's CRI writes the same name with a gzip stream inside,
so the compression is told by magic here too. The listing reads tar headers only (from the read-only
view the source serves; compressed ones are streamed under the same bomb limits as archives): it is
evidence, so names that would be unsafe to extract (absolute, "..") are listed as they are, with a warning.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from datetime import datetime

from forensics.errors import ArchiveError, ForensicsError
from forensics.locate.archive import open_tar
from forensics.locate.compression import DEFAULT_LIMITS, READ_ERRORS, GuardedReader, Limits, sniff
from forensics.locate.engines import from_timestamp
from forensics.locate.members import forget_headers, normalize
from forensics.locate.source import Source
from forensics.locate.views import ViewReader

ROOTFS_DIFF = "rootfs-diff.tar"
DELETED_FILES = "deleted.files"
_STOPS: tuple[type[Exception], ...] = (ForensicsError, *READ_ERRORS)


def _type_of(ti: tarfile.TarInfo) -> str:
    if ti.issparse():
        return "sparse"
    for test, name in ((ti.isreg, "file"), (ti.isdir, "dir"), (ti.issym, "symlink"), (ti.islnk, "hardlink"),
                       (ti.ischr, "char"), (ti.isblk, "block"), (ti.isfifo, "fifo")):
        if test():
            return name
    return "other"


@dataclass(frozen=True, slots=True)
class RootfsEntry:
    """One member of rootfs-diff.tar.

    path: as stored; type: file, dir, symlink, hardlink, char, block, fifo, sparse or other; size: bytes of
    content; mode: permission bits (e.g. 0o755); mtime: aware UTC datetime; linkname: target of links.
    """

    path: str
    type: str
    size: int
    mode: int
    mtime: datetime | None   # None for a header time no clock produces (1e20, NaN...)
    uid: int
    gid: int
    user: str
    group: str
    linkname: str | None


@dataclass(slots=True)
class RootfsDiff:
    """The listing; `complete` is False when damage or a limit stopped it (the reason is in warnings)."""

    entries: list[RootfsEntry] = field(default_factory=list)
    compression: str | None = None
    deleted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True


def list_rootfs_diff(data: memoryview | bytes, *, limits: Limits | None = None,
                     name: str = ROOTFS_DIFF) -> RootfsDiff:
    """The headers of a (possibly compressed) tar held in `data`, read without copying its contents."""
    limits = limits or DEFAULT_LIMITS
    out = RootfsDiff()
    view = memoryview(data)
    if len(view) == 0:
        return out
    out.compression = sniff(view[:512].tobytes())
    if out.compression is None:
        out.warnings.append(f"{name} is not a tar archive (plain or compressed)")
        out.complete = False
        return out
    source: ViewReader | GuardedReader = ViewReader(view)
    if out.compression != "none":
        source = GuardedReader(source, out.compression, name, limits)  # type: ignore[arg-type]
    try:
        with open_tar(source, out.compression, name) as tar:
            _list(tar, out, limits, name)
    except _STOPS as exc:
        out.warnings.append(f"{name}: listing stopped after {len(out.entries)} entries ({exc})")
        out.complete = False
    return out


def _list(tar: tarfile.TarFile, out: RootfsDiff, limits: Limits, name: str) -> None:
    while (ti := tar.next()) is not None:
        forget_headers(tar)
        if len(out.entries) >= limits.max_members:
            raise ArchiveError(f"more than {limits.max_members} entries; the rest are not listed", name)
        if normalize(ti.name) is None and ti.name.strip("/.") != "":
            out.warnings.append(f"{name}: entry {ti.name!r} has an absolute path or '..'")
        out.entries.append(RootfsEntry(
            path=ti.name, type=_type_of(ti), size=ti.size, mode=ti.mode & 0o7777,
            mtime=from_timestamp(ti.mtime), uid=ti.uid, gid=ti.gid, user=ti.uname, group=ti.gname,
            linkname=ti.linkname if (ti.issym() or ti.islnk()) else None))


def rootfs_diff(source: Source, *, limits: Limits | None = None) -> RootfsDiff | None:
    """The rootfs diff and deleted files of a container checkpoint; None when it has neither."""
    wrappers: set[str] = set(source.wrapper_files())
    if ROOTFS_DIFF not in wrappers and DELETED_FILES not in wrappers:
        return None
    out = list_rootfs_diff(source.read_wrapper(ROOTFS_DIFF), limits=limits) if ROOTFS_DIFF in wrappers \
        else RootfsDiff()
    if DELETED_FILES in wrappers:
        try:
            deleted = json.loads(source.read_wrapper(DELETED_FILES).tobytes())
        except (ValueError, UnicodeDecodeError):
            deleted = None
        if isinstance(deleted, list) and all(isinstance(d, str) for d in deleted):
            out.deleted = deleted
        else:
            out.warnings.append(f"{DELETED_FILES} is not a JSON list of paths")
    return out
