"""Searching process memory at the speed of the pages file.

A pages file holds the PE_PRESENT runs of one pagemap back to back, in pagemap order. Searching it in
one pass (what grep does) and translating each hit's file offset to a virtual address afterwards is as
fast as searching gets; the only care needed is at run seams: a hit that straddles two runs which are
not also adjacent in the address space is not a real string in memory and is dropped. Pages that live
in a parent checkpoint are searched in the parent's file and kept only where the child points at them.

A pages file is searched a window at a time. With Hyperscan (forensics.memory.engine), which scans
without holding the GIL, windows are searched on every core by a few threads, each window exactly as it
would be alone, so the answer does not depend on how many threads ran.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from forensics.memory import engine, residency
from forensics.memory.space import PE_PARENT, PageStore, Run


@dataclass(frozen=True, slots=True)
class Hit:
    address: int
    length: int


class LazyAlternation:
    """The regex alternation of a list of fixed strings (longest first), escaped and compiled at its first
    search: for 10,000 strings that takes `re` ~0.3 s, and with the native engine it is never searched."""

    __slots__ = ("strings", "_rx")

    def __init__(self, strings: tuple[bytes, ...]) -> None:
        self.strings = strings
        self._rx: re.Pattern[bytes] | None = None

    def compiled(self) -> re.Pattern[bytes]:
        if self._rx is None:
            alternation = b"|".join(re.escape(x) for x in sorted(self.strings, key=len, reverse=True))
            self._rx = re.compile(alternation, re.DOTALL)
        return self._rx

    def search(self, string: bytes | memoryview, pos: int = 0) -> re.Match[bytes] | None:
        return self.compiled().search(string, pos)

    def finditer(self, string: bytes | memoryview) -> Iterator[re.Match[bytes]]:
        return self.compiled().finditer(string)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyAlternation) and self.strings == other.strings

    def __hash__(self) -> int:
        return hash(self.strings)


@dataclass(frozen=True, slots=True)
class Needle:
    """What to look for: always a compiled regex; also the plain bytes when the pattern is a literal
    (then the search runs the C fast-search over the mapping, as grep -F does), or several strings
    (`literals`, from a list of indicators: every occurrence of each is a hit). `scanner` is the native
    engine when there is one for this pattern."""

    regex: re.Pattern[bytes] | LazyAlternation
    literal: bytes | None = None
    literals: tuple[bytes, ...] = ()
    scanner: engine.Scanner | None = field(default=None, compare=False)


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
    literal = None if (regex or ignore_case) else raw
    rx = re.compile(body, flags)
    if literal is not None:
        scanner = engine.literal_scanner([literal])
    else:
        scanner = engine.regex_scanner(body, ignore_case=ignore_case)
    return Needle(rx, literal, scanner=scanner)


def compile_literals(strings: Sequence[bytes]) -> Needle:
    """A list of fixed strings (indicators of compromise, one per line of a --file): every occurrence
    of each is a hit, overlaps included. Duplicates count once; empty strings are refused."""
    unique = tuple(dict.fromkeys(strings))
    if not unique or any(not s for s in unique):
        raise ValueError("empty pattern")
    if len(unique) == 1:
        return Needle(re.compile(re.escape(unique[0]), re.DOTALL), unique[0],
                      scanner=engine.literal_scanner(unique))
    # Without the native engine, the alternation finds where some string starts (and the fallback then
    # checks every string at that position).
    return Needle(LazyAlternation(unique), None, unique, scanner=engine.literal_scanner(unique))


def _present_index(store: PageStore) -> tuple[list[int], list[Run]]:
    runs = sorted((r for r in store.runs if r.offset is not None), key=lambda r: r.offset or 0)
    return [r.offset or 0 for r in runs], runs


CHUNK = 64 << 20
REGEX_OVERLAP = 64 << 10
# Threads that search windows at once; each needs a core, and a window is big enough to keep it busy.
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _window_hits(pages: memoryview, pos: int, stop: int, end: int, needle: Needle) -> list[tuple[int, int]]:
    """(offset, length) of every match that starts in pages[pos:stop]; the window reads on past stop by
    as much as a match may need (a literal's length, REGEX_OVERLAP for a regex), and its pages are
    released from memory once searched."""
    try:
        return _search_window(pages, pos, stop, end, needle)
    finally:
        residency.drop(pages, pos, stop - pos)


def _search_window(pages: memoryview, pos: int, stop: int, end: int, needle: Needle) -> list[tuple[int, int]]:
    scanner = needle.scanner
    longest = max((len(x) for x in needle.literals), default=len(needle.literal or b""))
    if scanner is not None and scanner.mode is engine.Mode.LITERALS:
        hi = min(stop + longest - 1, end)
        return [(pos + a, n) for a, n in scanner.literal_hits(pages[pos:hi]) if a < stop - pos]
    mapped = residency.mapping_of(pages)
    if needle.literal is not None and mapped is not None:
        mm, base = mapped
        lit = needle.literal
        hi = min(stop + len(lit) - 1, end)
        out = []
        i = mm.find(lit, base + pos, base + hi)
        while i != -1:
            out.append((i - base, len(lit)))
            i = mm.find(lit, i + 1, base + hi)
        return out
    hi = min(stop + (longest - 1 if longest else REGEX_OVERLAP), end)
    if scanner is not None:
        rx = needle.regex
        assert isinstance(rx, re.Pattern)  # a regex scanner comes with compile_pattern's re.compile
        return [(pos + a, n) for a, n in scanner.regex_hits(pages[pos:hi], rx, stop - pos)]
    if needle.literals:
        return _literal_list_hits(pages, pos, stop, hi, needle)
    out = []
    for m in needle.regex.finditer(pages[pos:hi]):
        if m.start() >= stop - pos:
            break
        out.append((pos + m.start(), m.end() - m.start()))
    return out


def _literal_list_hits(pages: memoryview, pos: int, stop: int, hi: int, needle: Needle) -> list[tuple[int, int]]:
    """Without the native engine: every occurrence of each string, overlaps included (what the engine
    reports), found by trying the alternation at every position where one of them starts."""
    window = pages[pos:hi]
    by_len = sorted({len(x) for x in needle.literals}, reverse=True)
    wanted = set(needle.literals)
    out: list[tuple[int, int]] = []
    m = needle.regex.search(window)
    while m is not None and m.start() < stop - pos:
        a = m.start()
        out.extend((pos + a, n) for n in reversed(by_len) if bytes(window[a:a + n]) in wanted)
        m = needle.regex.search(window, a + 1)
    return out


def _file_hits(pages: memoryview, end: int, needle: Needle,
               progress: Callable[[int], None] | None = None,
               span: tuple[int, int] | None = None) -> Iterator[tuple[int, int]]:
    """(offset, length) of every match in pages[:end], window by window, in file order. A regex match
    longer than REGEX_OVERLAP that straddles two windows is cut at the window's end. With `span`
    (lo, hi), only matches starting in [lo, hi) (they may run past hi): how a hunt spreads one big pages
    file over several workers without losing or doubling a match at the seams."""
    lo, limit = (0, end) if span is None else (max(0, span[0]), min(end, span[1]))
    windows = [(pos, min(pos + CHUNK, limit)) for pos in range(lo, limit, CHUNK)]
    if needle.scanner is not None and WORKERS > 1 and len(windows) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(WORKERS, len(windows))) as pool:
            results = pool.map(lambda w: _window_hits(pages, w[0], w[1], end, needle), windows)
            for (pos, stop), hits in zip(windows, results):
                yield from hits
                if progress is not None:
                    progress(stop - pos)
        return
    for pos, stop in windows:
        yield from _window_hits(pages, pos, stop, end, needle)
        if progress is not None:
            progress(stop - pos)


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

