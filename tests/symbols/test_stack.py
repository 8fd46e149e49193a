"""Unwinding: synthetic stacks for each rule (CFI absent, frame pointer, signal frame, scan), then every
frozen thread of the real checkpoints, unwound with the binary's CFI, against the source it ran."""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from forensics.memory.space import AddressSpace
from forensics.loader import load_directory
from forensics.symbols.disasm import disassemble
from forensics.symbols.mapping import Symbolizer
from forensics.symbols.stack import scan_stack
from forensics.symbols.unwind import SIGRETURN_CODE, UC_MCONTEXT, FrameMethod, WalkEnd, unwind
from tests.conftest import REPO, Sample
from tests.symbols.conftest import ArchFacts, resolver_for

CODE = range(0x400000, 0x500000)
SOURCE = (REPO / "samples" / "lab" / "service" / "service.c").read_text().splitlines()
# A process with code in one anonymous executable mapping (no file: no CFI) and a stack.
MAPS = [(0x400000, 0x500000, 0, None, "r-xp"), (0x6000, 0x10000, 0, "[stack]", "rw-p")]


def is_code(address: int) -> bool:
    return address in CODE


def memory(words: dict[int, int]):
    def read_u64(address: int) -> int:
        if address not in words:
            raise LookupError(f"0x{address:x} unreadable")
        return words[address]
    return read_u64


def no_code(_address: int, _length: int) -> bytes | None:
    return None


def chain(*frames: tuple[int, int, int]) -> dict[int, int]:
    """Stack words for frames given as (rbp, saved rbp, return address)."""
    words = {}
    for rbp, saved, ret in frames:
        words[rbp] = saved
        words[rbp + 8] = ret
    return words


def test_without_cfi_the_frame_pointer_is_a_marked_fallback() -> None:
    words = chain((0x7000, 0x7100, 0x401010), (0x7100, 0x7200, 0x402020), (0x7200, 0, 0x403030))
    sym = Symbolizer(MAPS, lambda _p: None)
    walk = unwind({"ip": 0x400500, "sp": 0x6f00, "bp": 0x7000}, memory(words), sym, no_code)
    assert [f.ip for f in walk.frames] == [0x400500, 0x401010, 0x402020, 0x403030]
    assert [f.method for f in walk.frames] == [FrameMethod.REGISTERS] + [FrameMethod.FP] * 3
    assert [f.is_return_address for f in walk.frames] == [False, True, True, True]
    assert [f.ra_slot for f in walk.frames] == [0x7008, 0x7108, 0x7208, None]
    # Without CFI nothing proves the chain ended: the walk says why it stopped, not "outermost".
    assert walk.end is WalkEnd.NO_UNWIND_INFO and not walk.complete
    assert "frame pointer 0" in walk.detail


def test_walk_stops_at_a_loop_and_at_unreadable_or_non_code_frames() -> None:
    sym = Symbolizer(MAPS, lambda _p: None)
    regs = {"ip": 0x400500, "sp": 0x6f00, "bp": 0x7000}
    # A saved rbp that points at its own frame: the caller's rsp (rbp+16) is already above it.
    loop = unwind(regs, memory(chain((0x7000, 0x7000, 0x401010))), sym, no_code)
    assert loop.end is WalkEnd.NO_UNWIND_INFO and "no usable frame pointer" in loop.detail
    assert [f.ip for f in loop.frames] == [0x400500, 0x401010]
    gap = unwind(regs, memory({}), sym, no_code)
    assert gap.end is WalkEnd.NO_UNWIND_INFO and "cannot read the frame at 0x7000" in gap.detail
    data = unwind(regs, memory(chain((0x7000, 0x7100, 0x1234))), sym, no_code)
    assert data.end is WalkEnd.BAD_FRAME and "0x1234" in data.detail
    assert [f.ip for f in data.frames] == [0x400500]


def test_signal_frame_restores_the_interrupted_registers() -> None:
    """A thread inside a signal handler: the handler returned into __restore_rt, whose rsp points at the
    ucontext the kernel pushed; the interrupted pc is exact (not a return address)."""
    trampoline, sp = 0x400800, 0x8000
    mcontext = [0] * 17
    mcontext[10], mcontext[15], mcontext[16] = 0x9000, 0x8800, 0x401234  # rbp, rsp, rip
    words = {sp + UC_MCONTEXT + 8 * i: v for i, v in enumerate(mcontext)}
    words.update(chain((0x9000, 0, 0x402000)))

    def code(address: int, _length: int) -> bytes | None:
        return SIGRETURN_CODE[0] if address == trampoline else None

    walk = unwind({"ip": trampoline, "sp": sp, "bp": 0}, memory(words), Symbolizer(MAPS, lambda _p: None), code)
    assert [(f.ip, f.method, f.is_return_address) for f in walk.frames] == [
        (trampoline, FrameMethod.REGISTERS, False), (0x401234, FrameMethod.SIGNAL, False),
        (0x402000, FrameMethod.FP, True)]
    assert walk.frames[1].sp == 0x8800


def test_scan_skips_gaps_function_pointers_and_known_slots() -> None:
    words = {0x7000: 0x401000, 0x7008: 0x55, 0x7010: 0x402000, 0x8010: 0x403000, 0x8018: 0x404000}
    # 0x7018..0x7ff8 unreadable: the scan skips to the next page instead of stopping.
    reader = memory({a: words.get(a, 0) for a in (*range(0x7000, 0x7020, 8), *range(0x8000, 0x9000, 8))})
    hits = scan_stack(reader, 0x7000, 0x9000, is_code)
    assert [(h.slot, h.value) for h in hits] == [(0x7000, 0x401000), (0x7010, 0x402000), (0x8010, 0x403000),
                                                 (0x8018, 0x404000)]
    assert len(scan_stack(reader, 0x7000, 0x9000, is_code, limit=2)) == 2
    assert scan_stack(reader, 0x7004, 0x7010, is_code) == []  # rsp rounds up to 0x7008, which is data
    # A value equal to a function's start is a function pointer, never a return address.
    starts = scan_stack(reader, 0x7000, 0x9000, is_code, lambda a: a == 0x402000, skip_slots=frozenset({0x8010}))
    assert [h.value for h in starts] == [0x401000, 0x404000]


# Where each task of the service blocks (service.c): the call its own code made, and where the chain ends.
BLOCKED_IN = {"service": "accept(", "svc-worker": "pthread_cond_wait(", "svc-reader": "read(",
              "svc-sleeper": "clock_nanosleep(", "svc-child": "read("}
STARTED_BY = {"service": "_start", "svc-child": "_start", "svc-worker": "clone3", "svc-reader": "clone3",
              "svc-sleeper": "clone3"}  # clone3: the architecture's thread start (ArchFacts.thread_start)
THREAD_FUNCTION = {"service": "main", "svc-child": "main", "svc-worker": "worker_main",
                   "svc-reader": "reader_main", "svc-sleeper": "sleeper_main"}


def read_u64_from(space: AddressSpace, address: int) -> int:
    return int(struct.unpack("<Q", space.read(address, 8))[0])


def test_frozen_threads_unwind_to_their_start(samples_with_binary: list[Sample], service_binary: Path, arch: str,
                                              facts: ArchFacts) -> None:
    checked = 0
    for s in samples_with_binary:
        if s.images is None:
            continue
        ck = load_directory(s.images)
        exe = s.truth["before"]["processes"][0]["exe"]
        for proc in ck.processes:
            space = ck.memory[proc.pid]
            read_u64 = functools.partial(read_u64_from, space)
            with Symbolizer(proc.vmas, resolver_for(service_binary, exe)) as sym:
                elf = sym.modules()[0].elf
                assert elf is not None

                def code(address: int, length: int) -> bytes | None:
                    return elf.read(address, length)  # noqa: B023 - used inside this iteration only

                for thread in proc.threads:
                    assert thread.registers is not None
                    gp, ip = thread.registers.gp, thread.registers.ip
                    assert ip is not None
                    # A task blocked in a system call is saved rewound onto its `syscall` (x86_64: CRIU
                    # does it; aarch64: the kernel's restart logic, before the freezer's stop).
                    assert disassemble(elf.read(ip, 16), ip, ip, after=0, arch=arch)[0].mnemonic == facts.syscall
                    walk = unwind(gp, read_u64, sym, code, arch=arch)
                    comm = thread.comm or ""
                    assert walk.complete, f"{s} {comm}: {walk.end} {walk.detail}"
                    assert all(f.method is FrameMethod.CFI for f in walk.frames[1:])
                    locs = [sym.symbolize(f.ip, return_address=f.is_return_address) for f in walk.frames]
                    started = facts.thread_start if STARTED_BY[comm] == "clone3" else STARTED_BY[comm]
                    assert locs[-1].symbol == started, f"{s} {comm}: {[str(x) for x in locs]}"
                    assert THREAD_FUNCTION[comm] in [x.symbol for x in locs]
                    # The frame of the thread's own code points at the line of the blocking call.
                    lines = [SOURCE[x.line.line - 1] for x in locs if x.line is not None]
                    assert any(BLOCKED_IN[comm] in text for text in lines), f"{s} {comm}: {lines}"
                    checked += 1
    assert checked >= 5
