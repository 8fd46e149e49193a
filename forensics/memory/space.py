"""A process's memory as CRIU saved it: virtual address -> bytes, or the reason there are none.

The pagemap says, run by run, where pages are: in this checkpoint's pages file (PE_PRESENT, which alone
consumes space there), in the parent checkpoint at the same address (PE_PARENT), or only on a lazy-pages
server (PE_LAZY alone). Pages in no run were not dumped at all: never touched, the zero page, or clean
pages of a file mapping whose bytes are in the file. A reader must tell these apart and never hand out
zeros for memory it does not have, so every gap is an exception that says which kind of gap it is.

Pages files are read through a memoryview (an mmap, or a window of an archive), never copied whole.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from forensics.errors import ForensicsError

from forensics.images.pagemap import DEFAULT_PAGE_SIZE, PE_PARENT, PE_PRESENT
from forensics.model.checkpoint import Checkpoint
from forensics.model.vma import Vma


# How `--as` reads a value: little-endian, as on every architecture CRIU checkpoints here.
VALUE_FORMATS = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "i8": "<b", "i16": "<h", "i32": "<i",
                 "i64": "<q", "f64": "<d"}


class GapKind(StrEnum):
    """Why bytes are missing. DAMAGED is the evidence's fault (a truncated pages file): a command that meets
    it reports a partial result; the others are what CRIU chose not to store."""

    UNMAPPED = "unmapped"
    NOT_DUMPED = "not dumped"        # never touched, the zero page, or a clean file page
    FILE_PAGE = "file page"          # a clean page of a mapped file: its bytes are in that file
    PARENT_MISSING = "parent missing"
    LAZY = "lazy"
    DAMAGED = "damaged"


class MemoryGap(ForensicsError):
    """An address whose bytes are not in the checkpoint; `reason` says why in words, `kind` as a GapKind."""

    def __init__(self, address: int, reason: str, kind: GapKind = GapKind.NOT_DUMPED) -> None:
        super().__init__(f"0x{address:x}: {reason}")
        self.address = address
        self.reason = reason
        self.kind = kind


# A flag of our own on runs the pagemap lists but whose bytes the pages file does not hold (truncated).
DAMAGED = 1 << 31


class RunLike(Protocol):
    """A normalised pagemap run (forensics.images.pagemap.PagemapRun)."""

    @property
    def vaddr(self) -> int: ...
    @property
    def nr_pages(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def pages_offset(self) -> int | None: ...


# The mappings an address space is laid over: the model's own (memory sits above the model).
VmaLike = Vma


@dataclass(frozen=True, slots=True)
class Run:
    """Pages [start, end) and where their bytes are: `offset` into the pages file when present."""

    start: int
    end: int
    flags: int
    offset: int | None


def layout(runs: Iterable[RunLike], page_size: int, pages_size: int, where: str) -> tuple[list[Run], list[str]]:
    """Runs in address order; the ones that point past the end of the pages file (a truncated pages file)
    are kept, marked DAMAGED, and reported: reading them says "damaged", not "never dumped"."""
    out: list[Run] = []
    errors: list[str] = []
    for r in runs:
        length = r.nr_pages * page_size
        off = r.pages_offset
        if off is not None and off + length > pages_size:
            errors.append(str(ForensicsError(
                f"pagemap run at 0x{r.vaddr:x} ({r.nr_pages} pages) ends past the end of the pages file "
                f"({pages_size} bytes)", where, off)))
            out.append(Run(r.vaddr, r.vaddr + length, r.flags | DAMAGED, None))
            continue
        out.append(Run(r.vaddr, r.vaddr + length, r.flags, off))
    out.sort(key=lambda run: run.start)
    return out, errors


class PageStore:
    """One pagemap's runs over one pages buffer, with an optional parent store for PE_PARENT pages."""

    def __init__(self, runs: Sequence[Run], pages: memoryview | bytes, parent: PageStore | None = None,
                 page_size: int = DEFAULT_PAGE_SIZE, name: str = "", pages_path: Path | None = None) -> None:
        self.runs = list(runs)
        self._starts = [r.start for r in self.runs]
        # The view itself, not a new one over it: locate knows where its views lie in their maps.
        self.pages = pages if isinstance(pages, memoryview) else memoryview(pages)
        self.parent = parent
        self.page_size = page_size
        self.name = name
        # The pages file on disk, when it is a real file (not an archive member): lets a writer copy
        # pages file-to-file in the kernel (copy_file_range) instead of through this process.
        self.pages_path = pages_path

    def run_at(self, addr: int) -> Run | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.runs[i].end:
            return self.runs[i]
        return None

    def next_run_start(self, addr: int) -> int | None:
        i = bisect.bisect_right(self._starts, addr)
        return self._starts[i] if i < len(self._starts) else None

    def chunk(self, addr: int, limit: int) -> memoryview:
        """Bytes from addr up to at most `limit` bytes, stopping at the end of the run that holds them.
        Raises MemoryGap when addr is not backed here (or in the parent chain)."""
        run = self.run_at(addr)
        if run is None:
            raise MemoryGap(addr, "not dumped (page never touched, zero page, or clean file page)")
        n = min(limit, run.end - addr)
        if run.flags & DAMAGED:
            raise MemoryGap(addr, "damaged evidence: the pagemap lists this page but the pages file ends before "
                                  "it (truncated)", GapKind.DAMAGED)
        if run.offset is not None:
            off = run.offset + (addr - run.start)
            return self.pages[off:off + n]
        if run.flags & PE_PARENT:
            if self.parent is None:
                raise MemoryGap(addr, "in the parent checkpoint, which is missing", GapKind.PARENT_MISSING)
            return self.parent.chunk(addr, n)
        raise MemoryGap(addr, "lazy page: held by a lazy-pages server, not in the image", GapKind.LAZY)

    def read(self, addr: int, length: int) -> bytes:
        return _gather(self.chunk, addr, length)

    def segments(self) -> Iterator[tuple[int, memoryview]]:
        """Every run whose bytes are available, as (address, bytes), in address order; parent pages are
        resolved through the chain, gaps skipped."""
        for run in self.runs:
            addr = run.start
            while addr < run.end:
                try:
                    piece = self.chunk(addr, run.end - addr)
                except MemoryGap:
                    addr = (addr // self.page_size + 1) * self.page_size
                    continue
                yield addr, piece
                addr += len(piece)

    def dumped_pages(self, start: int, end: int) -> tuple[int, int, int]:
        """(present, parent, lazy) page counts inside [start, end)."""
        present = parent = lazy = 0
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        for run in self.runs[i:]:
            if run.start >= end:
                break
            lo, hi = max(run.start, start), min(run.end, end)
            if hi <= lo:
                continue
            n = (hi - lo) // self.page_size
            if run.flags & DAMAGED:
                continue
            if run.flags & PE_PRESENT:
                present += n
            elif run.flags & PE_PARENT:
                parent += n
            else:
                lazy += n
        return present, parent, lazy


class AddressSpace:
    """A process's virtual memory: its VMAs over its private page store and shared stores."""

    def __init__(self, vmas: Sequence[VmaLike], store: PageStore, shared: dict[int, PageStore] | None = None,
                 shared_of: dict[int, tuple[int, int]] | None = None) -> None:
        # CRIU 4.2 appends fake "guard" VMAs (MADV_GUARD_INSTALL ranges) that overlap real ones.
        self.vmas = sorted((v for v in vmas if v.kind != "guard"), key=lambda v: v.start)
        self._starts = [v.start for v in self.vmas]
        self.store = store
        # VMA start -> (shared store key, byte offset of the VMA's start inside the shared object)
        self.shared = shared or {}
        self.shared_of = shared_of or {}

    def vma_at(self, addr: int) -> VmaLike | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.vmas[i].end:
            return self.vmas[i]
        return None

    def _chunk(self, addr: int, limit: int) -> memoryview:
        vma = self.vma_at(addr)
        if vma is None:
            raise MemoryGap(addr, "not mapped in this process", GapKind.UNMAPPED)
        limit = min(limit, vma.end - addr)
        link = self.shared_of.get(vma.start)
        if link is not None:
            key, base = link
            store = self.shared.get(key)
            if store is None:
                raise MemoryGap(addr, "shared memory whose pages are not in the checkpoint")
            try:
                return store.chunk(base + (addr - vma.start), limit)
            except MemoryGap as gap:
                raise MemoryGap(addr, "shared memory page " + gap.reason, gap.kind) from None
        try:
            return self.store.chunk(addr, limit)
        except MemoryGap as gap:
            if vma.kind == "file" and gap.kind is GapKind.NOT_DUMPED:
                raise MemoryGap(addr, f"clean page of {vma.path}: its bytes are in that file", GapKind.FILE_PAGE) from None
            raise

    def read(self, addr: int, length: int) -> bytes:
        return _gather(self._chunk, addr, length)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            piece = self._chunk(addr, min(256, limit - len(out)))
            nul = bytes(piece).find(b"\0")
            if nul >= 0:
                out += piece[:nul]
                return bytes(out)
            out += piece
            addr += len(piece)
        return bytes(out)

    def segments(self) -> Iterator[tuple[int, memoryview, VmaLike]]:
        """Every dumped byte range of every VMA, in address order, private and shared alike."""
        for vma in self.vmas:
            for addr, piece in self.vma_segments(vma):
                yield addr, piece, vma

    def vma_segments(self, vma: VmaLike) -> Iterator[tuple[int, memoryview]]:
        """The dumped byte ranges of one VMA, gaps skipped."""
        addr = vma.start
        while addr < vma.end:
            try:
                piece = self._chunk(addr, vma.end - addr)
            except MemoryGap:
                nxt = self._next_backed(addr, vma)
                if nxt is None or nxt <= addr:
                    return
                addr = nxt
                continue
            yield addr, piece
            addr += len(piece)

    def _next_backed(self, addr: int, vma: VmaLike) -> int | None:
        link = self.shared_of.get(vma.start)
        page = self.store.page_size
        if link is None:
            nxt = self.store.next_run_start(addr)
            return nxt if nxt is not None and nxt < vma.end else None
        nxt = (addr // page + 1) * page
        return nxt if nxt < vma.end else None


def _gather(chunk, addr: int, length: int) -> bytes:  # noqa: ANN001 - (addr, limit) -> memoryview
    """Bytes of [addr, addr+length) from a chunk reader that may answer in pieces; a gap raises."""
    out = bytearray()
    while length > 0:
        piece = chunk(addr, length)
        out += piece
        addr += len(piece)
        length -= len(piece)
    return bytes(out)


def read_string_table(space: AddressSpace, start: int, end: int, limit: int = 1 << 20) -> list[str]:
    """NUL-separated strings in [start, end): how argv and environ sit on the stack (mm_arg_*, mm_env_*)."""
    if end <= start:
        return []
    data = space.read(start, min(end - start, limit))
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "backslashreplace") for p in parts]


def space_of(ck: Checkpoint, pid: int) -> AddressSpace | None:
    """The address space the loader attached for `pid`, typed: the model keeps these as plain handles (it
    names no type of this floor), and every analysis reaches them through here."""
    space = ck.memory.get(pid)
    return space if isinstance(space, AddressSpace) else None


def spaces(ck: Checkpoint) -> dict[int, AddressSpace]:
    """Every attached address space by pid, in pid order."""
    return {pid: s for pid in sorted(ck.memory) if isinstance(s := ck.memory[pid], AddressSpace)}
