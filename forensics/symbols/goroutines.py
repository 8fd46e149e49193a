"""The goroutines of a Go process, read from a checkpoint's memory the way a debugger finds them.

The Go runtime keeps every goroutine it ever created in the slice `runtime.allgs` ([]*g): a global of
the binary, so its address comes from the symbol table. Each `runtime.g` holds its id (`goid`), status
(`atomicstatus`), where it was created (`gopc`), the function it runs (`startpc`), and for a goroutine that
is not running, where it parked (`sched`, a `runtime.gobuf`: sp, pc, bp). Field offsets change between Go
releases, so they are read from the binary's own DWARF (the struct types `runtime.g` and
`runtime.gobuf`), never assumed. A binary without DWARF (`-ldflags=-w`) gets no listing, and says so.

A parked goroutine's chain is unwound with the call-frame information from its saved sp/pc/bp, as a
thread's is. A goroutine that was running on a thread (status running or syscall) has a stale gobuf:
its stack is that thread's, unwound from the thread's registers instead.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from forensics.memory.space import space_of
from forensics.symbols.elf import PARSE_ERRORS, ElfImage
from forensics.symbols.mapping import Location, Symbolizer
from forensics.symbols.unwind import NativeFrame, Unwind, unwind

ReadBytes = Callable[[int, int], bytes]
ReadCode = Callable[[int, int], bytes | None]
MAX_GOROUTINES = 1_000_000


class GStatus(IntEnum):
    """runtime/runtime2.go's _Gidle ... _Gpreempted (the scan bit 0x1000 masked off)."""

    IDLE = 0
    RUNNABLE = 1
    RUNNING = 2
    SYSCALL = 3
    WAITING = 4
    MORIBUND = 5
    DEAD = 6
    ENQUEUE = 7
    COPYSTACK = 8
    PREEMPTED = 9


@dataclass(frozen=True, slots=True)
class GLayout:
    """Offsets of the runtime.g and runtime.gobuf fields this module reads, from DWARF."""

    goid: int
    atomicstatus: int
    sched: int
    startpc: int
    gopc: int
    gobuf_sp: int
    gobuf_pc: int
    gobuf_bp: int


@dataclass(slots=True)
class Goroutine:
    """One goroutine: `id`, `status`, `function` (startpc symbolized), `created_by` (gopc), and its chain
    from the saved gobuf (`frames` with their locations, `unwind` saying how it ended); empty for one
    running on a thread."""

    id: int
    status: GStatus | int
    address: int
    function: Location
    created_by: Location
    pc: int
    sp: int
    frames: list[tuple[NativeFrame, Location]] = field(default_factory=list)
    unwind: Unwind | None = None


@dataclass(slots=True)
class GoroutineListing:
    """Every live goroutine of a process, or why there is no listing (`note`)."""

    goroutines: list[Goroutine] = field(default_factory=list)
    note: str | None = None
    dead: int = 0


def layout(elf: ElfImage) -> GLayout | None:
    """The field offsets of runtime.g and runtime.gobuf from the binary's DWARF, None without them."""
    found: dict[str, dict[str, int]] = {}
    try:
        if not elf.elf.has_dwarf_info():
            return None
        dwarf = elf.elf.get_dwarf_info(relocate_dwarf_sections=False)
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            name = top.attributes.get("DW_AT_name")
            if name is None or name.value != b"runtime":
                continue
            for die in top.iter_children():
                if die.tag != "DW_TAG_structure_type":
                    continue
                type_name = die.attributes.get("DW_AT_name")
                if type_name is None or type_name.value not in (b"runtime.g", b"runtime.gobuf"):
                    continue
                found[type_name.value.decode()] = {
                    m.attributes["DW_AT_name"].value.decode(): int(m.attributes["DW_AT_data_member_location"].value)
                    for m in die.iter_children()
                    if m.tag == "DW_TAG_member" and "DW_AT_data_member_location" in m.attributes}
            if len(found) == 2:
                break
        g, buf = found["runtime.g"], found["runtime.gobuf"]
        return GLayout(g["goid"], g["atomicstatus"], g["sched"], g["startpc"], g["gopc"], buf["sp"], buf["pc"],
                       buf["bp"])
    except (KeyError, *PARSE_ERRORS):
        return None


def goroutines(sym: Symbolizer, read: ReadBytes, read_code: ReadCode, arch: str = "x86_64") -> GoroutineListing:
    """The goroutines of the process whose objects `sym` maps, read through `read(address, length)`.
    `arch` names the registers a parked goroutine's gobuf stands for (pc, sp and the frame pointer: rbp on
    x86_64, x29 on aarch64)."""
    module = next((m for m in sym.modules() if m.elf is not None and m.bias is not None
                   and m.elf.symbol("runtime.allgs") is not None), None)
    if module is None:
        missing = [m.path for m in sym.modules() if m.elf is None]
        if missing:
            return GoroutineListing(note=f"{', '.join(missing)}: binary not found, give --rootfs")
        return GoroutineListing(note="no runtime.allgs symbol: not a Go program (or a stripped one)")
    assert module.elf is not None and module.bias is not None
    lay = layout(module.elf)
    if lay is None:
        return GoroutineListing(note=f"{module.path}: no DWARF for runtime.g (built with -ldflags=-w?)")
    allgs = module.elf.symbol("runtime.allgs")
    assert allgs is not None

    def u64(address: int) -> int:
        return int(struct.unpack("<Q", read(address, 8))[0])

    listing = GoroutineListing()
    try:
        base, count = u64(allgs.value + module.bias), u64(allgs.value + module.bias + 8)
    except Exception as e:  # noqa: BLE001 - the memory reader's own error (a gap)
        return GoroutineListing(note=f"runtime.allgs is not in the checkpoint: {e}")
    if count > MAX_GOROUTINES:
        return GoroutineListing(note=f"runtime.allgs claims {count} goroutines: not believed")
    for i in range(count):
        try:
            g = u64(base + 8 * i)
            status = int(struct.unpack("<I", read(g + lay.atomicstatus, 4))[0]) & ~0x1000
            if status == GStatus.DEAD:
                listing.dead += 1
                continue
            goid, startpc, gopc = u64(g + lay.goid), u64(g + lay.startpc), u64(g + lay.gopc)
            sp, pc, bp = (u64(g + lay.sched + lay.gobuf_sp), u64(g + lay.sched + lay.gobuf_pc),
                          u64(g + lay.sched + lay.gobuf_bp))
        except Exception as e:  # noqa: BLE001 - the memory reader's own error (a gap)
            listing.note = f"goroutine {i} of runtime.allgs is not in the checkpoint: {e}"
            continue
        known = GStatus(status) if status in GStatus._value2member_map_ else status
        item = Goroutine(goid, known, g, sym.symbolize(startpc), sym.symbolize(gopc, return_address=True), pc, sp)
        if known not in (GStatus.RUNNING, GStatus.SYSCALL) and pc and sp:
            regs = {"pc": pc, "sp": sp, "x29": bp} if arch == "aarch64" else {"ip": pc, "sp": sp, "bp": bp}
            chain = unwind(regs, u64, sym, read_code, arch=arch)
            item.unwind = chain
            item.frames = [(fr, sym.symbolize(fr.ip, return_address=fr.is_return_address, inlined=True))
                           for fr in chain.frames]
        listing.goroutines.append(item)
    listing.goroutines.sort(key=lambda x: x.id)
    return listing


def goroutines_for(ck, resolver) -> dict[int, GoroutineListing]:
    """A listing for every process that has memory; non-Go processes get one whose note says so."""
    from forensics.symbols.stops import code_bytes, symbolizer

    out: dict[int, GoroutineListing] = {}
    for proc in ck.processes:
        space = space_of(ck, proc.pid)
        if space is None:
            continue
        sym = symbolizer(proc, resolver)

        def read_code(address: int, length: int, space=space, sym=sym) -> bytes | None:
            return code_bytes(space, sym, address, length)

        arch = next((str(t.registers.arch) for t in proc.threads if t.registers is not None), "x86_64")
        out[proc.pid] = goroutines(sym, space.read, read_code, arch)
    return out
