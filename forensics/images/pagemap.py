"""A pagemap image as a list of page runs, normalised the way CRIU's own reader does.

Pagemap entries changed over time: before v3.5 only `in_parent` said "the pages are in the parent
dump"; since v3.5 `flags` does; and 4.2 moved the page count from the u32 field 2 (now
`compat_nr_pages`, written as 0) to the u64 field 5 `nr_pages`. CRIU reads all of them through
`init_compat_pagemap_entry` (criu/pagemap.c), and so does `normalise` here, so that callers never
look at the raw fields.

Only runs flagged PE_PRESENT occupy space in pages-<pages_id>.img, in entry order; a run that is only
PE_PARENT or only PE_LAZY has no bytes in this directory. `pages_offset` gives each present run's byte
offset in the pages file. Nothing here reads memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forensics.errors import ImageError
from forensics.images.decode import Image
from forensics.images.magic import Layout

PE_PARENT = 1 << 0   # pages are in the parent dump (follow the `parent` link)
PE_LAZY = 1 << 1     # pages may be restored lazily (with PE_PRESENT they are still in this dump)
PE_PRESENT = 1 << 2  # pages are in this dump's pages file
KNOWN_FLAGS = PE_PARENT | PE_LAZY | PE_PRESENT
# The page size when the caller has none: the model passes each process's own, read from the AT_PAGESZ
# entry of its saved auxv (arm64 kernels run 4K, 16K or 64K pages); 4096 is only the fallback when CRIU
# saved no auxv.
DEFAULT_PAGE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class PagemapRun:
    """`nr_pages` pages from `vaddr` (an offset inside the object for pagemap-shmem images) with
    normalised `flags`; `pages_offset` is the byte offset in the pages file for PE_PRESENT runs, else
    None; `entry_offset` is where the entry sits in the pagemap image."""

    vaddr: int
    nr_pages: int
    flags: int
    pages_offset: int | None
    entry_offset: int

    @property
    def present(self) -> bool:
        return bool(self.flags & PE_PRESENT)

    def end(self, page_size: int = DEFAULT_PAGE_SIZE) -> int:
        return self.vaddr + self.nr_pages * page_size


@dataclass(slots=True)
class Pagemap:
    """The runs of one pagemap image, the pages file they index, and anything wrong with them.

    `errors` has the image's decoding damage plus runs with flag bits CRIU 4.2 does not define (a newer
    format such as compressed pages: their data must not be read as plain pages)."""

    pages_id: int | None
    runs: list[PagemapRun] = field(default_factory=list)
    errors: list[ImageError] = field(default_factory=list)

    @property
    def pages_file(self) -> str | None:
        return f"pages-{self.pages_id}.img" if self.pages_id is not None else None


def normalise(entry: Any) -> tuple[int, int, int]:
    """(vaddr, nr_pages, flags) of one pagemap_entry, as CRIU's init_compat_pagemap_entry makes them."""
    flags = entry.flags
    if entry.HasField("in_parent") and entry.in_parent:
        flags |= PE_PARENT
    elif not entry.HasField("flags"):
        flags = PE_PRESENT
    nr_pages = entry.nr_pages if entry.HasField("nr_pages") else entry.compat_nr_pages
    return entry.vaddr, nr_pages, flags


def pagemap_runs(image: Image, page_size: int = DEFAULT_PAGE_SIZE) -> Pagemap:
    """The runs of a pagemap (or pagemap-shmem) image with their offsets in the pages file."""
    if image.kind.layout is not Layout.PAGEMAP:
        raise ImageError(f"not a pagemap image but {image.magic}", image.path)
    result = Pagemap(None)
    offset = 0
    for entry in image.load():
        if entry.type_name == "pagemap_head":
            head: Any = entry.message
            result.pages_id = head.pages_id
            continue
        vaddr, nr_pages, flags = normalise(entry.message)
        if flags & ~KNOWN_FLAGS:
            result.errors.append(ImageError(
                f"pagemap entry has unknown flags {flags & ~KNOWN_FLAGS:#x}; its pages cannot be located",
                image.path, entry.offset))
        present = bool(flags & PE_PRESENT)
        result.runs.append(PagemapRun(vaddr, nr_pages, flags, offset if present else None, entry.offset))
        if present:
            offset += nr_pages * page_size
    # A damaged head leaves pages_id unknown but the runs usable; the damage itself is in the errors.
    result.errors[:0] = image.errors
    return result
