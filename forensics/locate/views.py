"""Read-only bytes of the evidence: files opened O_RDONLY and mapped ACCESS_READ, served as memoryviews.

Every byte the locate layer hands out is a read-only window of a memory map: a whole file (an image in a
CRIU directory, or a member spilled from a compressed archive) or a slice of one archive mapped once;
files under READ_BELOW are read into immutable bytes instead (a map costs a file descriptor). No
caller can write through a view, and nothing here opens a file for writing.

A view stays valid after its source is closed for as long as the caller holds it: closing a source
releases its own references, and the kernel unmaps a file when the last view of it is dropped.
"""

from __future__ import annotations

import io
import mmap
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from forensics.errors import ForensicsError

# Re-exported: locate's callers name them here.
from forensics.openfile import MapFailed, check_regular, map_fd, open_evidence, open_readonly, open_regular

# (Only these are declared re-exports; the rest of the module is public as usual.)
__all__ = ["MapFailed", "check_regular", "map_fd", "open_evidence", "open_readonly", "open_regular"]

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

EMPTY = memoryview(b"")

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


def read_small(path: Path, limit: int) -> bytes:
    """The whole of a small regular file (metadata such as config.v2.json), refused past `limit` bytes."""
    fd, st = open_regular(path)
    try:
        if st.st_size > limit:
            raise ForensicsError(f"is {st.st_size} bytes, more than the {limit} read for metadata", path)
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of a file just opened (read from its offset, 0); `fd` stays open for the caller."""
    with os.fdopen(os.dup(fd), "rb", closefd=True) as f:
        return f.read(limit + 1)[:limit]


# Files up to this size are read, not mapped: CPython's mmap keeps a duplicate of the file descriptor for
# as long as the map lives, so a checkpoint of hundreds of processes held one descriptor per image file (a
# test session reached fd 1024, where select() gives up) for maps of a few hundred bytes each.
READ_BELOW = 256 << 10


class MappedFile:
    """One real file, mapped on first read (read into memory when small: see READ_BELOW). `path` is where
    it is; `size` what it held when listed."""

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
                if st.st_size < READ_BELOW:
                    self._view = memoryview(_read_fd(fd, st.st_size))   # bytes: read-only like a map
                    self.size = self._view.nbytes
                    return self._view[:]
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
