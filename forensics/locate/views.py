"""Read-only bytes of the evidence: files opened O_RDONLY and mapped ACCESS_READ, served as memoryviews.

Every byte the locate layer hands out is a read-only window of a memory map: a whole file (an image in a
CRIU directory, or a member spilled from a compressed archive) or a slice of one archive mapped once. No
caller can write through a view, and nothing here opens a file for writing.

A view stays valid after its source is closed for as long as the caller holds it: closing a source
releases its own references, and the kernel unmaps a file when the last view of it is dropped.
"""

from __future__ import annotations

import errno
import io
import mmap
import os
import stat
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from forensics.errors import ForensicsError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

EMPTY = memoryview(b"")

# O_NOATIME keeps a read from changing the evidence's access time; the kernel allows it only to the file's
# owner (or CAP_FOWNER), so it is tried first and dropped when refused. O_NONBLOCK makes opening a FIFO
# return at once instead of waiting for a writer (it changes nothing for a regular file), so the type
# check below happens before anything can block.
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_NOATIME = getattr(os, "O_NOATIME", 0)
# Files of these pseudo-filesystems look regular but are the live kernel's (/proc/self/mem, /proc/kcore,
# /sys/...): reading them is never reading evidence, and some block or fail with EIO.
_PSEUDO_ROOTS = ("/proc", "/sys")
_pseudo_devs: set[int] | None = None


def _pseudo_devices() -> set[int]:
    global _pseudo_devs
    if _pseudo_devs is None:
        found = set()
        for root in _PSEUDO_ROOTS:
            try:
                found.add(os.stat(root).st_dev)
            except OSError:
                pass
        _pseudo_devs = found
    return _pseudo_devs


def check_regular(fd: int, path: str | os.PathLike[str]) -> os.stat_result:
    """fstat of an open fd: ForensicsError unless it is a regular file outside /proc and /sys (a FIFO,
    socket, device or kernel file named like evidence is refused before a byte is read)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a fifo" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        raise ForensicsError(f"is {kind}, not a regular file; not read", os.fspath(path))
    if st.st_dev in _pseudo_devices():
        raise ForensicsError("is a file of the running kernel (/proc or /sys), not evidence; not read",
                             os.fspath(path))
    return st


def open_regular(path: str | os.PathLike[str], *, follow: bool = False) -> tuple[int, os.stat_result]:
    """(fd, stat) of a regular evidence file, opened read-only, non-blocking, not through a final symlink
    unless `follow`, and checked with `check_regular`. Raises ForensicsError (OSError becomes one too)."""
    try:
        fd = open_readonly(path, follow=follow)
    except OSError as exc:
        raise ForensicsError(f"cannot open: {exc.strerror}", os.fspath(path)) from None
    try:
        return fd, check_regular(fd, path)
    except BaseException:
        os.close(fd)
        raise


def open_evidence(path: str | os.PathLike[str], *, follow: bool = False) -> io.BufferedReader:
    """A buffered binary file over `open_regular` (the caller closes it)."""
    fd, _ = open_regular(path, follow=follow)
    return os.fdopen(fd, "rb")


# Where each view handed out here lies in its map, so that a scan can use the map's own methods on
# exactly that range (mmap.find, mmap.madvise): a memoryview cannot tell its offset in its exporter.
# Views are remembered by identity, and forgotten when they are collected.
_PLACED: dict[int, tuple[weakref.ReferenceType[memoryview], mmap.mmap, int]] = {}


def _placed(view: memoryview, mapping: mmap.mmap, offset: int) -> memoryview:
    key = id(view)
    _PLACED[key] = (weakref.ref(view, lambda _: _PLACED.pop(key, None)), mapping, offset)
    return view


def placement(view: memoryview) -> tuple[mmap.mmap, int] | None:
    """(the read-only map a view handed out here lies in, the view's offset in it), or None for any
    other buffer, including slices of such a view."""
    entry = _PLACED.get(id(view))
    if entry is None or entry[0]() is not view:
        return None
    return entry[1], entry[2]


def open_readonly(path: str | os.PathLike[str], *, follow: bool = False) -> int:
    """A read-only fd for `path` (the last component is not followed unless `follow`); no type check:
    use `open_regular` before reading."""
    flags = _READ_FLAGS if not follow else _READ_FLAGS & ~os.O_NOFOLLOW
    try:
        return os.open(path, flags | _NOATIME)
    except PermissionError:
        if not _NOATIME:
            raise
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise ForensicsError("is a symbolic link; not followed", os.fspath(path)) from None
        raise


class MapFailed(ForensicsError):
    """A file that could not be mapped (most often the address-space limit, RLIMIT_AS, is below its size)."""


def map_fd(fd: int, size: int, path: str | os.PathLike[str] = "") -> mmap.mmap | None:
    """A read-only shared map of the first `size` bytes of `fd`; None for an empty file (mmap cannot map 0).
    Raises MapFailed, naming the size and the reason, when the kernel refuses the mapping."""
    if size == 0:
        return None
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    except (OSError, OverflowError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MapFailed(f"cannot map its {size} bytes ({reason}); the address-space limit (ulimit -v) is "
                        "probably lower: raise it to read this file", os.fspath(path)) from None


def read_small(path: Path, limit: int) -> bytes:
    """The whole of a small regular file (metadata such as config.v2.json), refused past `limit` bytes."""
    fd, st = open_regular(path)
    try:
        if st.st_size > limit:
            raise ForensicsError(f"is {st.st_size} bytes, more than the {limit} read for metadata", path)
        with os.fdopen(os.dup(fd), "rb", closefd=True) as f:
            return f.read(limit + 1)[:limit]
    finally:
        os.close(fd)


class MappedFile:
    """One real file, mapped on first read. `path` is where it is; `size` what it held when listed."""

    __slots__ = ("_map", "_view", "path", "size")

    def __init__(self, path: Path, size: int) -> None:
        self.path: Path | None = path
        self.size = size
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None

    def view(self) -> memoryview:
        if self._view is None:
            assert self.path is not None
            fd, st = open_regular(self.path)
            try:
                self.size = st.st_size
                self._map = map_fd(fd, st.st_size, self.path)
            finally:
                os.close(fd)
            self._view = memoryview(self._map) if self._map is not None else EMPTY
        view = self._view[:]   # the caller's own view, so close() releasing ours leaves theirs valid
        return _placed(view, self._map, 0) if self._map is not None else view

    def close(self) -> None:
        _release(self._view, self._map)
        self._view = None
        self._map = None


class Window:
    """A slice of a mapping shared with other members (an uncompressed archive read in place)."""

    __slots__ = ("base", "offset", "path", "size")

    def __init__(self, base: memoryview, offset: int, size: int) -> None:
        self.base = base
        self.offset = offset
        self.size = size
        self.path: Path | None = None   # a member of an archive read in place has no file of its own

    def view(self) -> memoryview:
        view = self.base[self.offset:self.offset + self.size]
        mapping = self.base.obj
        if isinstance(mapping, mmap.mmap) and self.base.nbytes == len(mapping):   # base is the whole map
            return _placed(view, mapping, self.offset)
        return view

    def close(self) -> None:
        """The shared mapping belongs to the archive; it is released there."""


class Held:
    """The bytes of a small wrapper member of a compressed archive, kept in memory: spilling costs a file
    creation per member, and an archive of a million tiny members would spend minutes creating files."""

    __slots__ = ("data", "path", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.path: Path | None = None

    def view(self) -> memoryview:
        return memoryview(self.data)

    def close(self) -> None:
        """Nothing to release."""


Blob = MappedFile | Window | Held


def _release(view: memoryview | None, mapping: mmap.mmap | None) -> None:
    if view is not None and view is not EMPTY:
        view.release()
    if mapping is not None:
        try:
            mapping.close()
        except BufferError:
            # A caller still holds a window: the map is unmapped when the last one is dropped.
            pass


class SharedMap:
    """One file mapped once (an uncompressed archive); members are `Window`s of it."""

    def __init__(self, path: Path) -> None:
        fd, st = open_regular(path, follow=True)
        try:
            self.size = st.st_size
            self._map = map_fd(fd, st.st_size, path)
        finally:
            os.close(fd)
        self.view: memoryview = memoryview(self._map) if self._map is not None else EMPTY

    def close(self) -> None:
        _release(self.view, self._map)
        self.view = EMPTY
        self._map = None


class ViewReader(io.RawIOBase):
    """A seekable read-only file over a memoryview, so tarfile can walk headers without copying data."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        n = max(0, min(len(target), len(self._view) - self._pos))
        target[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = len(self._view) + offset
        self._pos = max(0, self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos
