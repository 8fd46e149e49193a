"""Keeping a scan of a mapped file from growing the process's resident memory.

Pages files are read through read-only shared mappings (no copies). Every mapped page a scan touches
counts in the process's RSS until it is unmapped, so a 4 GiB scan would "use" 4 GiB. Telling the kernel
we are done with a range (mmap.madvise with MADV_DONTNEED) drops those pages from this process; the page
cache keeps them, and touching them again simply faults them back in from it. Only read-only views are
ever advised: on a private writable map MADV_DONTNEED would discard what was written.
"""

from __future__ import annotations

import mmap

from forensics.locate.views import placement

PAGE = mmap.PAGESIZE


def mapping_of(view: memoryview) -> tuple[mmap.mmap, int] | None:
    """(the map behind a view locate handed out, the view's offset in it), or None for other buffers."""
    return placement(view)


def drop(view: memoryview, start: int, length: int) -> None:
    """Release the pages of view[start:start+length] from this process's resident set.

    For a view locate handed out (a whole pages file, an archive member read in place) exactly the
    whole pages inside that range are released. A slice of one cannot say where it lies in its map, so
    then every page of the map this process has touched is released: what a scan moving forward has
    finished with, or will fault back in from the page cache.
    """
    mapping = view.obj
    if length <= 0 or not view.readonly or not isinstance(mapping, mmap.mmap) or mapping.closed:
        return
    placed = placement(view)
    if placed is None:
        mapping.madvise(mmap.MADV_DONTNEED)
        return
    base = placed[1] + start
    lo = (base + PAGE - 1) // PAGE * PAGE
    hi = min(base + length, len(mapping)) // PAGE * PAGE
    if hi > lo:
        mapping.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
