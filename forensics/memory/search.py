"""Searching process memory at the speed of the pages file.

A pages file holds the PE_PRESENT runs of one pagemap back to back, in pagemap order. Searching it in
one pass (what grep does) and translating each hit's file offset to a virtual address afterwards is as
fast as searching gets; the only care needed is at run seams: a hit that straddles two runs which are
not also adjacent in the address space is not a real string in memory and is dropped. Pages that live
in a parent checkpoint are searched in the parent's file and kept only where the child points at them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from forensics.memory.space import PE_PARENT, PageStore, Run


@dataclass(frozen=True, slots=True)
class Hit:
    address: int
    length: int


def compile_pattern(pattern: str, *, regex: bool = False, hex_bytes: bool = False, ignore_case: bool = False,
                    utf16: bool = False) -> re.Pattern[bytes]:
    """The one compiled form every search uses: fixed bytes are escaped, --hex is parsed ("de ad be ef" or
    "deadbeef"), --utf16 interleaves NULs (UTF-16LE), --ignore-case folds ASCII."""
    if hex_bytes:
        raw = bytes.fromhex(pattern.replace(" ", "").replace("\\x", ""))
        body = re.escape(raw)
    elif regex:
        body = pattern.encode("utf-8")
        if utf16:
            raise ValueError("--utf16 takes a fixed string, not a regular expression")
    else:
        raw = pattern.encode("utf-16-le") if utf16 else pattern.encode("utf-8")
        body = re.escape(raw)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(body, flags)


def _present_index(store: PageStore) -> tuple[list[int], list[Run]]:
    runs = sorted((r for r in store.runs if r.offset is not None), key=lambda r: r.offset or 0)
    return [r.offset or 0 for r in runs], runs


def search_store(store: PageStore, pattern: re.Pattern[bytes]) -> Iterator[Hit]:
    """Every match in a page store and its parent chain, as virtual addresses, in file order."""
    offsets, runs = _present_index(store)
    if runs:
        last = runs[-1]
        end = (last.offset or 0) + (last.end - last.start)
        for m in pattern.finditer(store.pages, 0, end):
            a, b = m.span()
            i = bisect.bisect_right(offsets, a) - 1
            run = runs[i]
            addr = run.start + (a - (run.offset or 0))
            if not _contiguous(runs, offsets, i, b):
                continue
            yield Hit(addr, b - a)
    if store.parent is not None:
        parent_ranges = [(r.start, r.end) for r in store.runs if r.offset is None and r.flags & PE_PARENT]
        if parent_ranges:
            starts = [s for s, _ in parent_ranges]
            for hit in search_store(store.parent, pattern):
                j = bisect.bisect_right(starts, hit.address) - 1
                if j >= 0 and hit.address + hit.length <= parent_ranges[j][1]:
                    yield hit


def _contiguous(runs: list[Run], offsets: list[int], i: int, end_offset: int) -> bool:
    """Whether file bytes up to end_offset continue run i without an address-space jump."""
    run = runs[i]
    run_file_end = (run.offset or 0) + (run.end - run.start)
    while end_offset > run_file_end:
        if i + 1 >= len(runs):
            return False
        nxt = runs[i + 1]
        if nxt.start != run.end or nxt.offset != run_file_end:
            return False
        i, run = i + 1, nxt
        run_file_end = (run.offset or 0) + (run.end - run.start)
    return True


def count_store(store: PageStore, pattern: re.Pattern[bytes]) -> int:
    return sum(1 for _ in search_store(store, pattern))
