"""Where each thread was stopped: symbolized ip, the instructions around it, and a stack view."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from forensics.memory.space import AddressSpace, MemoryGap, space_of
from forensics.model.process import Process, Thread
from forensics.symbols.disasm import Instruction, disassemble
from forensics.symbols.elf import ElfError
from forensics.symbols.mapping import Location, Symbolizer
from forensics.symbols.stack import StackHit, scan_stack
from forensics.symbols.unwind import NativeFrame, Unwind, unwind


@dataclass(slots=True)
class Stop:
    """Where one thread was: its symbolized ip, the instructions around it, the proven call chain
    (`frames`, each with its location; `unwind` says how the walk ended) and, apart from it, other code
    addresses found on its stack (`stack_hits`: not frames)."""

    tid: int
    location: Location
    instructions: list[Instruction] = field(default_factory=list)
    frames: list[tuple[NativeFrame, Location]] = field(default_factory=list)
    stack_hits: list[tuple[StackHit, Location]] = field(default_factory=list)
    unwind: Unwind | None = None


def code_bytes(space: AddressSpace | None, sym: Symbolizer, start: int, length: int) -> bytes | None:
    """Code as the process had it: dumped pages first (patched code shows), else the file's bytes."""
    if space is not None:
        try:
            return space.read(start, length)
        except MemoryGap:
            pass
    mod = sym.module_at(start)
    if mod is None or mod.elf is None or mod.bias is None:
        return None
    try:
        return mod.elf.read(start - mod.bias, length)
    except ElfError:
        return None


def thread_stop(proc: Process, thread: Thread, space: AddressSpace | None, sym: Symbolizer,
                scan_limit: int = 64) -> Stop | None:
    regs = thread.registers
    if regs is None or regs.ip is None:
        return None
    ip = regs.ip
    loc = sym.symbolize(ip)
    stop = Stop(thread.tid, loc)
    fn_start = ip - loc.offset if loc.symbol is not None and loc.offset is not None else None
    start = fn_start if fn_start is not None and ip - fn_start < 4096 else ip
    code = code_bytes(space, sym, start, ip - start + 64)
    if code is not None:
        stop.instructions = disassemble(code, start, ip, function_start=fn_start, before=6, after=4)
    if space is not None and regs.sp is not None:
        pages: dict[int, bytes] = {}

        def read_u64(addr: int) -> int:
            # Stack words are read one by one (unwind, then scan): a page is read from the store once.
            page = addr & ~4095
            if addr - page > 4088:
                return struct.unpack("<Q", space.read(addr, 8))[0]
            data = pages.get(page)
            if data is None:
                data = pages[page] = space.read(page, 4096)
            return struct.unpack_from("<Q", data, addr - page)[0]

        def read_code(addr: int, length: int) -> bytes | None:
            return code_bytes(space, sym, addr, length)

        chain = unwind(regs.gp, read_u64, sym, read_code)
        vma = space.vma_at(regs.sp)
        stack_end = vma.end if vma is not None else regs.sp + 65536
        # Thread stacks share one anonymous mapping: stop the scan at the next guard page CRIU recorded.
        guards = [v.start for v in proc.guards if v.start > regs.sp]
        if guards:
            stack_end = min(stack_end, min(guards))
        slots = frozenset(f.ra_slot for f in chain.frames if f.ra_slot is not None)
        chain.stack_hits = scan_stack(read_u64, regs.sp, min(stack_end, regs.sp + 16384), sym.is_code,
                                      sym.is_function_start, scan_limit, slots)
        stop.unwind = chain
        stop.frames = [(fr, sym.symbolize(fr.ip, return_address=fr.is_return_address, inlined=True))
                       for fr in chain.frames]
        stop.stack_hits = [(h, sym.symbolize(h.value, return_address=True)) for h in chain.stack_hits]
    return stop


def symbolizer(proc: Process, resolver) -> Symbolizer:  # noqa: ANN001
    """A Symbolizer for a process, checking each binary found against the build-id CRIU recorded."""
    return Symbolizer(proc.vmas, resolver, build_ids={v.path: v.build_id for v in proc.vmas if v.path and v.build_id})


def stops_for(ck, resolver) -> dict[tuple[int, int], Stop]:  # noqa: ANN001 - Checkpoint, BinaryResolver
    """A Stop for every thread of every process, symbolized through `resolver`."""
    out: dict[tuple[int, int], Stop] = {}
    for p in ck.processes:
        sym = symbolizer(p, resolver)
        for t in p.threads:
            stop = thread_stop(p, t, space_of(ck, p.pid), sym)
            if stop is not None:
                out[(p.pid, t.tid)] = stop
    return out


def symbol_address(proc: Process, resolver, name: str) -> tuple[int, int] | None:  # noqa: ANN001
    """(runtime address, size) of a global by name in the process's mapped objects."""
    sym = symbolizer(proc, resolver)
    for mod in sym.modules():
        if mod.elf is None or mod.bias is None:
            continue
        s = mod.elf.symbol(name)
        if s is not None:
            return s.value + mod.bias, s.size
    return None


def make_namer(ck, resolver):  # noqa: ANN001, ANN201 - Checkpoint, BinaryResolver -> diff.memory.Namer
    """`(pid, address) -> (name, start, size)` of the data symbol covering an address, for diff."""
    symbolizers: dict[int, Symbolizer] = {}

    def namer(pid: int, address: int) -> tuple[str, int, int] | None:
        proc = ck.process(pid)
        if proc is None:
            return None
        sym = symbolizers.get(pid)
        if sym is None:
            sym = symbolizers[pid] = symbolizer(proc, resolver)
        mod = sym.module_at(address)
        if mod is None or mod.elf is None or mod.bias is None:
            return None
        found = mod.elf.lookup(address - mod.bias)
        if found is None:
            return None
        s, _off = found
        if s.size and not (s.value <= address - mod.bias < s.value + s.size):
            return None
        return s.name, s.value + mod.bias, s.size

    return namer
