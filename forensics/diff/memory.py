"""Memory that changed between two checkpoints, down to the values that moved.

Pages are compared a megabyte at a time through two reused buffers (a plain memcmp per chunk, ~0.2 s
per GiB here), then page by page only where a chunk differs, then byte by byte only inside a changed
page. Changed byte runs become readings: a printable string ("i=3" -> "i=8"), an integer of its
natural aligned width (4 -> 1010), or a pointer; a symbol names them when one covers the address.
Changes inside thread stacks, the vDSO data and similar places every checkpoint disturbs are kept but
marked as noise, so a reader sees the counters first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from forensics.memory import residency
from forensics.memory.space import AddressSpace, MemoryGap
from forensics.model.process import Process
from forensics.model.vma import Vma

CHUNK = 1 << 20
MAX_DIFF_BYTES_PER_PAGE = 512
STACK_WINDOW_BELOW_SP = 16 << 10

# (name, start, size) of the symbol covering an address, or None.
Namer = Callable[[int, int], "tuple[str, int, int] | None"]


@dataclass(slots=True)
class VmaMemoryChange:
    """Pages of one mapping that differ (`changed`), exist only in B (`appeared`) or only in A (`vanished`)."""

    pid: int
    vma: Vma
    changed: int = 0
    appeared: int = 0
    vanished: int = 0
    changed_pages: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.changed + self.appeared + self.vanished


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One value that moved. `type` is u8/u16/u32/u64/ptr/str/bytes; `noise` names why it is expected
    to change in every checkpoint (thread stack, vdso data) or is None; `grew` for integers."""

    pid: int
    address: int
    type: str
    old: object
    new: object
    where: str
    symbol: str | None = None
    noise: str | None = None

    @property
    def grew(self) -> bool | None:
        if isinstance(self.old, int) and isinstance(self.new, int) and self.type != "ptr":
            return self.new > self.old
        return None


def _printable(b: int) -> bool:
    return 0x20 <= b < 0x7F


def _diff_positions(pa: bytes, pb: bytes) -> list[int] | None:
    out: list[int] = []
    for blk in range(0, len(pa), 64):
        if pa[blk:blk + 64] != pb[blk:blk + 64]:
            out.extend(i for i in range(blk, min(blk + 64, len(pa))) if pa[i] != pb[i])
            if len(out) > MAX_DIFF_BYTES_PER_PAGE:
                return None
    return out


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and p == runs[-1][1]:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    return runs


def _string_at(buf: bytes, start: int) -> str:
    end = start
    while end < len(buf) and _printable(buf[end]):
        end += 1
    return buf[start:end].decode("ascii")


def _as_string(pa: bytes, pb: bytes, s: int, e: int) -> tuple[int, str, str] | None:
    """A run that is text in both versions (printable, possibly ended early by NULs)."""
    for buf in (pa, pb):
        seg = buf[s:e]
        text = seg.rstrip(b"\0")
        if not all(_printable(c) for c in text):
            return None
    left = s
    while left > 0 and _printable(pa[left - 1]) and _printable(pb[left - 1]):
        left -= 1
    old, new = _string_at(pa, left), _string_at(pb, left)
    if max(len(old), len(new)) < 3 or old == new:
        return None
    return left, old, new


def _readings(pid: int, base: int, pa: bytes, pb: bytes, runs: list[tuple[int, int]], is_pointer: Callable[[int], bool],
              where: str, namer: Namer | None, noise: Callable[[int], str | None]) -> Iterator[ValueChange]:
    done_until = -1
    for s, e in runs:
        if s < done_until:
            continue
        addr = base + s
        sym = namer(pid, addr) if namer else None
        name = None
        if sym is not None:
            name = sym[0] if sym[1] == addr else f"{sym[0]}+0x{addr - sym[1]:x}"
            # A known object of integer size is read whole, at its own address.
            if sym[2] in (1, 2, 4, 8) and sym[1] <= addr and base <= sym[1] and sym[1] + sym[2] <= base + len(pa):
                off = sym[1] - base
                fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[sym[2]]
                old, new = struct.unpack_from(fmt, pa, off)[0], struct.unpack_from(fmt, pb, off)[0]
                done_until = off + sym[2]
                yield ValueChange(pid, sym[1], f"u{sym[2] * 8}", old, new, where, sym[0], noise(sym[1]))
                continue
        text = _as_string(pa, pb, s, e)
        if text is not None:
            left, old, new = text
            done_until = left + max(len(old), len(new))
            yield ValueChange(pid, base + left, "str", old, new, where, name, noise(base + left))
            continue
        w4, w8 = s & ~3, s & ~7
        if e <= w8 + 8:
            old8, new8 = struct.unpack_from("<Q", pa, w8)[0], struct.unpack_from("<Q", pb, w8)[0]
            if is_pointer(old8) or is_pointer(new8):
                done_until = w8 + 8
                yield ValueChange(pid, base + w8, "ptr", old8, new8, where, name, noise(base + w8))
                continue
        if e <= w4 + 4:
            done_until = w4 + 4
            yield ValueChange(pid, base + w4, "u32", struct.unpack_from("<I", pa, w4)[0],
                              struct.unpack_from("<I", pb, w4)[0], where, name, noise(base + w4))
        elif e <= w8 + 8:
            done_until = w8 + 8
            yield ValueChange(pid, base + w8, "u64", struct.unpack_from("<Q", pa, w8)[0],
                              struct.unpack_from("<Q", pb, w8)[0], where, name, noise(base + w8))
        else:
            done_until = e
            yield ValueChange(pid, addr, "bytes", pa[s:e].hex(), pb[s:e].hex(), where, name, noise(addr))


def _noise_rule(b: Process, vma: Vma) -> Callable[[int], str | None]:
    if vma.kind == "stack":
        return lambda addr: "stack"
    if vma.kind in ("vvar", "vdso"):
        return lambda addr: vma.kind
    sps = [t.registers.sp for t in b.threads if t.registers and t.registers.sp and vma.start <= t.registers.sp < vma.end]

    def rule(addr: int) -> str | None:
        for sp in sps:
            if sp - STACK_WINDOW_BELOW_SP <= addr < sp + (1 << 20):
                return "thread stack"
        return None

    return rule


def compare(pid_b: int, pa: Process, pb: Process, sa: AddressSpace, sb: AddressSpace,
            namer: Namer | None = None, progress: Callable[[int], None] | None = None,
            ) -> tuple[list[VmaMemoryChange], list[ValueChange]]:
    """Page and value changes of one matched process, over the VMAs both checkpoints have at the same
    place and size. A pre-dump side has no mappings of its own, only pages: the other side's mappings
    frame both."""
    changes: list[VmaMemoryChange] = []
    values: list[ValueChange] = []
    page = pb.page_size
    frame_b = pa.vmas if pb.memory_only else pb.vmas
    a_vmas = {(v.start, v.end): v for v in (frame_b if pa.memory_only else pa.vmas)}

    def is_pointer(x: int) -> bool:
        return x > 0x10000 and sb.vma_at(x) is not None

    buf_a, buf_b = bytearray(CHUNK), bytearray(CHUNK)
    for vb in frame_b:
        if (vb.start, vb.end) not in a_vmas:
            continue
        rec = VmaMemoryChange(pid_b, vb)
        noise = _noise_rule(pb, vb)
        where = vb.label or vb.kind
        for addr, bdata in sb.vma_segments(vb):
            pos = 0
            while pos < len(bdata):
                try:
                    adata = sa._chunk(addr + pos, len(bdata) - pos)
                except MemoryGap:
                    rec.appeared += 1
                    pos += page
                    continue
                n = len(adata)
                _compare_span(pid_b, addr + pos, adata, bdata[pos:pos + n], buf_a, buf_b, rec, values,
                              is_pointer, where, namer, noise, page)
                if progress:
                    progress(n)
                pos += n
        for addr, adata in sa.vma_segments(a_vmas[(vb.start, vb.end)]):
            off = 0
            while off < len(adata):
                try:
                    off += len(sb._chunk(addr + off, len(adata) - off))  # a whole run of B at once
                except MemoryGap:
                    rec.vanished += 1
                    off += page
        if rec.total:
            changes.append(rec)
    return changes, values


def _compare_span(pid: int, addr: int, a: memoryview, b: memoryview, buf_a: bytearray, buf_b: bytearray,
                  rec: VmaMemoryChange, values: list[ValueChange], is_pointer, where: str,  # noqa: ANN001
                  namer: Namer | None, noise: Callable[[int], str | None], page: int) -> None:
    for off in range(0, len(a), CHUNK):
        n = min(CHUNK, len(a) - off)
        if n == CHUNK:
            buf_a[:] = a[off:off + n]
            buf_b[:] = b[off:off + n]
            same = buf_a == buf_b
        else:
            same = a[off:off + n].tobytes() == b[off:off + n].tobytes()
        if same:
            residency.drop(a, off, n)
            residency.drop(b, off, n)
            continue
        for p in range(off, off + n, page):
            pa, pb = a[p:p + page].tobytes(), b[p:p + page].tobytes()
            if pa == pb:
                continue
            rec.changed += 1
            rec.changed_pages.append(addr + p)
            positions = _diff_positions(pa, pb)
            if positions is None:
                values.append(ValueChange(pid, addr + p, "page", "(rewritten)", "(rewritten)", where, None,
                                          noise(addr + p)))
                continue
            values.extend(_readings(pid, addr + p, pa, pb, _runs(positions), is_pointer, where, namer, noise))
        residency.drop(a, off, n)
        residency.drop(b, off, n)
