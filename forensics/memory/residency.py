"""Keeping a scan of a mapped file from growing the process's resident memory.

Pages files are read through read-only shared mappings (no copies). Every mapped page a scan touches
counts in the process's RSS until it is unmapped, so a 4 GiB scan would "use" 4 GiB. Telling the kernel
we are done with a range (madvise MADV_DONTNEED) drops those pages from this process; the page cache
keeps them, and touching them again simply faults them back in from it.
"""

from __future__ import annotations

import ctypes
import mmap

PAGE = mmap.PAGESIZE
MADV_DONTNEED = 4


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


_get = ctypes.pythonapi.PyObject_GetBuffer
_get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_release = ctypes.pythonapi.PyBuffer_Release
_release.argtypes = [ctypes.POINTER(_PyBuffer)]
_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def address(view: memoryview) -> int:
    """Where a buffer's bytes are in this process (read-only buffers included)."""
    buf = _PyBuffer()
    if _get(ctypes.py_object(view), ctypes.byref(buf), 0) != 0:
        raise ValueError("not a buffer")
    try:
        return buf.buf or 0
    finally:
        _release(ctypes.byref(buf))


def mapping_of(view: memoryview) -> tuple[mmap.mmap, int] | None:
    """(the mmap behind a view, the view's offset in it), or None for a view of ordinary memory."""
    obj = view.obj
    if not isinstance(obj, mmap.mmap) or len(obj) == 0:
        return None
    base = address(memoryview(obj))
    return obj, address(view) - base


def drop(view: memoryview, start: int, length: int) -> None:
    """Release the whole pages of view[start:start+length] from this process's resident set."""
    if length <= 0 or not isinstance(view.obj, mmap.mmap):
        return
    lo = address(view) + start
    hi = lo + length
    lo = (lo + PAGE - 1) // PAGE * PAGE
    hi = hi // PAGE * PAGE
    if hi > lo:
        _libc.madvise(lo, hi - lo, MADV_DONTNEED)
