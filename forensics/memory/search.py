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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from forensics.memory import residency
from forensics.memory.space import PE_PARENT, PageStore, Run


@dataclass(frozen=True, slots=True)
class Hit:
    address: int
    length: int


@dataclass(frozen=True, slots=True)
class Needle:
    """What to look for: always a compiled regex; also the plain bytes when the pattern is a literal
    (then the search runs the C fast-search over the mapping, as grep -F does)."""

    regex: re.Pattern[bytes]
    literal: bytes | None = None


def compile_pattern(pattern: str, *, regex: bool = False, hex_bytes: bool = False, ignore_case: bool = False,
                    utf16: bool = False) -> Needle:
    """The one compiled form every search uses: fixed bytes are escaped, --hex is parsed ("de ad be ef" or
    "deadbeef"), --utf16 interleaves NULs (UTF-16LE), --ignore-case folds ASCII."""
    raw: bytes | None = None
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
    if regex:
        raw = body
    if not raw:
        raise ValueError("empty pattern")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return Needle(re.compile(body, flags), None if (regex or ignore_case) else raw)


def _present_index(store: PageStore) -> tuple[list[int], list[Run]]:
    runs = sorted((r for r in store.runs if r.offset is not None), key=lambda r: r.offset or 0)
    return [r.offset or 0 for r in runs], runs


CHUNK = 64 << 20
REGEX_OVERLAP = 64 << 10


def _file_hits(pages: memoryview, end: int, needle: Needle,
               progress: Callable[[int], None] | None = None,
               span: tuple[int, int] | None = None) -> Iterator[tuple[int, int]]:
    """(offset, length) of every match in pages[:end], a window at a time; each window's pages are
    released from memory once searched. A regex match longer than REGEX_OVERLAP that straddles two
    windows is cut at the window's end. With `span` (lo, hi), only matches starting in [lo, hi) (they
    may run past hi): how a hunt spreads one big pages file over several workers without losing or
    doubling a match at the seams."""
    mapped = residency.mapping_of(pages)
    pos, limit = (0, end) if span is None else (max(0, span[0]), min(end, span[1]))
    while pos < limit:
        stop = min(pos + CHUNK, limit)
        if needle.literal is not None and mapped is not None:
            mm, base = mapped
            lit = needle.literal
            hi = min(stop + len(lit) - 1, end)
            i = mm.find(lit, base + pos, base + hi)
            while i != -1:
                yield i - base, len(lit)
                i = mm.find(lit, i + 1, base + hi)
        else:
            hi = min(stop + (len(needle.literal) - 1 if needle.literal else REGEX_OVERLAP), end)
            for m in needle.regex.finditer(pages[pos:hi]):
                if m.start() >= stop - pos:
                    break
                yield pos + m.start(), m.end() - m.start()
        residency.drop(pages, pos, stop - pos)
        if progress is not None:
            progress(stop - pos)
        pos = stop


def search_store(store: PageStore, needle: Needle, progress: Callable[[int], None] | None = None,
                 span: tuple[int, int] | None = None) -> Iterator[Hit]:
    """Every match in a page store and its parent chain, as virtual addresses, in file order; `progress`
    hears how many bytes each searched window held. With `span` (lo, hi): only matches starting at pages
    file offsets in [lo, hi), and the parent chain only with the span that starts at 0."""
    offsets, runs = _present_index(store)
    if runs:
        last = runs[-1]
        end = (last.offset or 0) + (last.end - last.start)
        for a, n in _file_hits(store.pages, end, needle, progress, span):
            i = bisect.bisect_right(offsets, a) - 1
            run = runs[i]
            if not _contiguous(runs, offsets, i, a + n):
                continue
            yield Hit(run.start + (a - (run.offset or 0)), n)
    if store.parent is not None and (span is None or span[0] == 0):
        parent_ranges = [(r.start, r.end) for r in store.runs if r.offset is None and r.flags & PE_PARENT]
        if parent_ranges:
            starts = [s for s, _ in parent_ranges]
            for hit in search_store(store.parent, needle):
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

