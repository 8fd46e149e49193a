"""Where each thread was stopped: symbolized ip, the instructions around it, and a stack view."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from forensics.memory.space import AddressSpace, MemoryGap, space_of
from forensics.model.process import Arch, Process, Thread
from forensics.model.syscalls import syscall_of, word_reader
from forensics.symbols.disasm import ARCHES, Instruction, disassemble
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
    # Decode from the function's start when it is near (a disassembly window, not a page size).
    start = fn_start if fn_start is not None and ip - fn_start < 4096 else ip
    code = code_bytes(space, sym, start, ip - start + 64)
    if code is not None and str(regs.arch) in ARCHES:
        stop.instructions = disassemble(code, start, ip, function_start=fn_start, before=6, after=4,
                                        arch=str(regs.arch))
    prove_syscall(thread, space, sym)
    if space is not None and regs.sp is not None:
        pages: dict[int, bytes] = {}
        size = proc.page_size

        def read_u64(addr: int) -> int:
            # Stack words are read one by one (unwind, then scan): a page is read from the store once.
            page = addr - addr % size
            if addr - page > size - 8:
                return struct.unpack("<Q", space.read(addr, 8))[0]
            data = pages.get(page)
            if data is None:
                data = pages[page] = space.read(page, size)
            return struct.unpack_from("<Q", data, addr - page)[0]

        def read_code(addr: int, length: int) -> bytes | None:
            return code_bytes(space, sym, addr, length)

        chain = unwind(regs.gp, read_u64, sym, read_code, arch=str(regs.arch))
        vma = space.vma_at(regs.sp)
        stack_end = vma.end if vma is not None else regs.sp + 65536
        # Thread stacks share one anonymous mapping: stop the scan at the next guard page CRIU recorded.
        guards = [v.start for v in proc.guards if v.start > regs.sp]
        if guards:
            stack_end = min(stack_end, min(guards))
        slots = frozenset(f.ra_slot for f in chain.frames if f.ra_slot is not None)
        chain.stack_hits = scan_stack(read_u64, regs.sp, min(stack_end, regs.sp + 16384), sym.is_code,
                                      sym.is_function_start, scan_limit, slots, page_size=size)
        stop.unwind = chain
        stop.frames = [(fr, sym.symbolize(fr.ip, return_address=fr.is_return_address, inlined=True))
                       for fr in chain.frames]
        stop.stack_hits = [(h, sym.symbolize(h.value, return_address=True)) for h in chain.stack_hits]
    return stop


def prove_syscall(thread: Thread, space: AddressSpace | None, sym: Symbolizer) -> None:
    """aarch64 (any arch without orig_ax): the code at pc, read from the binary when its page was not
    dumped, proves the call x8 names, or nothing is said (forensics.model.syscalls). Completes the model's
    Thread, which the loader could not prove from the checkpoint's own pages."""
    regs = thread.registers
    if thread.syscall is None and regs is not None and regs.arch is not Arch.X86_64:
        thread.syscall, thread.syscall_evidence = syscall_of(
            regs, word_reader(lambda a, n: code_bytes(space, sym, a, n)))


def prove_syscalls(ck, resolver) -> None:  # noqa: ANN001 - Checkpoint, BinaryResolver
    """`prove_syscall` for every thread of a checkpoint, for outputs that show threads without stops."""
    for p in ck.processes:
        if any(t.syscall is None and t.registers is not None and t.registers.arch is not Arch.X86_64
               for t in p.threads):
            with symbolizer(p, resolver) as sym:
                for t in p.threads:
                    prove_syscall(t, space_of(ck, p.pid), sym)


def symbolizer(proc: Process, resolver) -> Symbolizer:  # noqa: ANN001
    """A Symbolizer for a process, checking each binary found against the build-id CRIU recorded."""
    return Symbolizer(proc.vmas, resolver, build_ids={v.path: v.build_id for v in proc.vmas if v.path and v.build_id},
                      page_size=proc.page_size)


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
