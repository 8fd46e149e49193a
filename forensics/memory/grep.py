"""Find bytes in every process's memory of a checkpoint, with addresses and the mapping they are in.

Private memory is searched one pages file at a time (forensics.memory.search); each shared-memory
object once, its hits then attributed to every process that maps it, at that process's address.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from forensics.memory.space import spaces
from forensics.memory.search import Needle, search_store
from forensics.memory.select import VmaFilter
from forensics.model.checkpoint import Checkpoint
from forensics.model.vma import Vma


@dataclass(frozen=True, slots=True)
class Match:
    """One hit: `pid`, virtual `address`, `length`, and the `vma` holding it."""

    pid: int
    address: int
    length: int
    vma: Vma

    @property
    def where(self) -> str:
        return self.vma.label or self.vma.kind


def scan_size(ck: Checkpoint, flt: VmaFilter) -> int:
    """Bytes a search will read: for the progress bar."""
    seen: set[int] = set()
    total = 0
    for pid, space in spaces(ck).items():
        if not flt.wants_pid(pid):
            continue
        stores = [space.store, *space.shared.values()]
        for st in stores:
            if id(st) not in seen:
                seen.add(id(st))
                total += len(st.pages)
    return total


def grep(ck: Checkpoint, pattern: Needle, flt: VmaFilter,
         progress: Callable[[int], None] | None = None,
         span: tuple[int, int] | None = None) -> Iterator[Match]:
    """Every match in the processes `flt` wants. `span` (lo, hi) limits the search of each process's own
    pages file to matches starting at file offsets [lo, hi), and shared memory to the span starting at 0:
    a hunt splits one big process into such spans, and their union is exactly the unsplit result."""
    shared_done: dict[int, list] = {}
    for pid, space in spaces(ck).items():
        if not flt.wants_pid(pid):
            continue
        for hit in search_store(space.store, pattern, progress, span):
            vma = space.vma_at(hit.address)
            if vma is None or vma.start in space.shared_of:
                continue
            if flt.wants_vma(vma) and flt.wants_address(hit.address, hit.length):
                yield Match(pid, hit.address, hit.length, vma)
        if span is not None and span[0] != 0:
            continue
        for vma in space.vmas:
            link = space.shared_of.get(vma.start)
            if link is None or not flt.wants_vma(vma):
                continue
            key, base = link
            store = space.shared.get(key)
            if store is None:
                continue
            if key not in shared_done:
                shared_done[key] = list(search_store(store, pattern, progress))
            for hit in shared_done[key]:
                if base <= hit.address < base + vma.size:
                    addr = vma.start + hit.address - base
                    if flt.wants_address(addr, hit.length):
                        yield Match(pid, addr, hit.length, vma)


def strings_pattern(min_len: int, encoding: str) -> Needle:
    """Printable runs, as `strings` finds them: ASCII, or UTF-16LE (each char followed by a NUL)."""
    if encoding == "utf16":
        return Needle(re.compile(rb"(?:[\x20-\x7e]\x00){%d,}" % min_len))
    return Needle(re.compile(rb"[\x20-\x7e\t]{%d,}" % min_len))
