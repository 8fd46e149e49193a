"""Address spaces: mm-<pid>.img (with its VMAs) and the pagemap images that index pages-<id>.img."""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    I32,
    REP,
    REQ,
    S64,
    U32,
    U64,
    Enum,
    F,
    M,
    Msg,
)

SCHEMA: tuple[Msg | Enum, ...] = (
    # mm.proto
    M("aio_ring_entry", [
        F(1, "id", U64, REQ),
        F(2, "nr_req", U32, REQ),
        F(3, "ring_len", U32, REQ),
    ]),
    M("mm_entry", [
        F(1, "mm_start_code", U64, REQ, hex=True),
        F(2, "mm_end_code", U64, REQ, hex=True),
        F(3, "mm_start_data", U64, REQ, hex=True),
        F(4, "mm_end_data", U64, REQ, hex=True),
        F(5, "mm_start_stack", U64, REQ, hex=True),
        F(6, "mm_start_brk", U64, REQ, hex=True),
        F(7, "mm_brk", U64, REQ, hex=True),
        F(8, "mm_arg_start", U64, REQ, hex=True),
        F(9, "mm_arg_end", U64, REQ, hex=True),
        F(10, "mm_env_start", U64, REQ, hex=True),
        F(11, "mm_env_end", U64, REQ, hex=True),
        F(12, "exe_file_id", U32, REQ),
        F(13, "mm_saved_auxv", U64, REP),  # /proc/PID/auxv as (type, value) words; AT_PAGESZ is here
        F(14, "vmas", "vma_entry", REP),
        F(15, "dumpable", I32),
        F(16, "aios", "aio_ring_entry", REP),
        F(17, "thp_disabled", BOOL),
    ]),
    # vma.proto
    M("vma_entry", [
        F(1, "start", U64, REQ, hex=True),
        F(2, "end", U64, REQ, hex=True),
        F(3, "pgoff", U64, REQ),  # in bytes, as /proc/PID/maps shows it
        F(4, "shmid", U64, REQ),  # file id (file/memfd maps), shmem inode or SysV id: see status
        F(5, "prot", U32, REQ, flags='mmap.prot'),
        F(6, "flags", U32, REQ, flags='mmap.flags'),
        F(7, "status", U32, REQ, flags='mmap.status'),
        F(8, "fd", S64, REQ),  # always -1 in an image; used while restoring
        F(9, "madv", U64, hex=True),
        F(10, "fdflags", U32, hex=True),
    ]),
    # pagemap.proto
    M("pagemap_head", [
        F(1, "pages_id", U32, REQ),
    ]),
    M("pagemap_entry", [
        F(1, "vaddr", U64, REQ, hex=True),  # an offset into the object in pagemap-shmem images
        F(2, "compat_nr_pages", U32, REQ),  # the page count up to 4.1; 4.2 writes 0 here
        F(3, "in_parent", BOOL),  # before v3.5: pages are in the parent dump
        F(4, "flags", U32, flags='pmap.flags'),
        F(5, "nr_pages", U64),  # the page count since 4.2
    ]),
)
