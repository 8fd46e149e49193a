"""Raw memory to a file: chosen spans of one process, dumped bytes written, the rest left as holes.

Linear in the number of mappings and dumped segments: each span walks only the VMAs it overlaps
(`AddressSpace.vma_segments`), not every segment of the process once per span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from forensics.memory.space import AddressSpace


@dataclass(slots=True)
class DumpResult:
    written: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    index: list[tuple[int, int, int]] = field(default_factory=list)   # (start, end, file offset)


def dump_spans(space: AddressSpace, spans: list[tuple[int, int]], out: BinaryIO, sparse: bool = True) -> DumpResult:
    """Spans back to back into `out`; holes are skipped with seek (sparse files) or written as zeros when
    `out` cannot seek (stdout)."""
    res = DumpResult()
    base = 0
    for start, end in spans:
        addr = start
        for vma in space.vmas:
            if vma.end <= start or vma.start >= end:
                continue
            for seg_addr, data in space.vma_segments(vma):
                lo, hi = max(seg_addr, start), min(seg_addr + len(data), end)
                if hi <= lo:
                    continue
                if lo > addr:
                    res.gaps.append((addr, lo))
                    _hole(out, base + addr - start, lo - addr, sparse)
                out.write(data[lo - seg_addr:hi - seg_addr])
                res.written += hi - lo
                addr = hi
        if addr < end:
            res.gaps.append((addr, end))
            _hole(out, base + addr - start, end - addr, sparse)
        res.index.append((start, end, base))
        base += end - start
    if sparse:
        out.truncate(base)
    return res


def _hole(out: BinaryIO, offset: int, length: int, sparse: bool) -> None:
    if sparse:
        out.seek(offset + length)
        return
    zeros = bytes(min(length, 1 << 20))
    while length > 0:
        n = min(length, len(zeros))
        out.write(zeros[:n])
        length -= n
