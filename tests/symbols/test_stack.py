"""Stack walking: synthetic stacks for each stop rule, then the frozen threads of the real checkpoints."""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import pytest

from forensics.memory.space import AddressSpace
from forensics.loader import load_directory
from forensics.symbols.disasm import disassemble
from forensics.symbols.mapping import Symbolizer
from forensics.symbols.stack import scan_stack, walk_frames
from tests.conftest import REPO, Sample
from tests.symbols.conftest import resolver_for

CODE = range(0x400000, 0x500000)
SOURCE = (REPO / "samples" / "lab" / "service" / "service.c").read_text().splitlines()


def is_code(address: int) -> bool:
    return address in CODE


def memory(words: dict[int, int]):
    def read_u64(address: int) -> int:
        if address not in words:
            raise LookupError(f"0x{address:x} unreadable")
        return words[address]
    return read_u64


def chain(*frames: tuple[int, int, int]) -> dict[int, int]:
    """Stack words for frames given as (rbp, saved rbp, return address)."""
    words = {}
    for rbp, saved, ret in frames:
        words[rbp] = saved
        words[rbp + 8] = ret
    return words


def test_frame_pointer_chain_to_the_outermost_frame() -> None:
    words = chain((0x7000, 0x7100, 0x401010), (0x7100, 0x7200, 0x402020), (0x7200, 0, 0x403030))
    words[0x6f00] = 0x7ff0  # [rsp]: not code, so no stack-top guess
    frames = walk_frames(memory(words), 0x7000, 0x6f00, 0x400500, is_code)
    assert [f.ip for f in frames] == [0x400500, 0x401010, 0x402020, 0x403030]
    assert [f.method for f in frames] == ["registers"] + ["frame-pointer"] * 3
    assert not any(f.heuristic for f in frames)
    assert [f.is_return_address for f in frames] == [False, True, True, True]
    assert frames[-1].stop == "frame pointer is 0 (outermost frame)"
    assert all(f.stop is None for f in frames[:-1])


@pytest.mark.parametrize(("words", "stop"), [
    (chain((0x7000, 0x7000, 0x401010)), "does not move up"),  # a loop
    (chain((0x7000, 0x6000, 0x401010)), "does not move up"),  # going down the stack
    ({}, "cannot read the frame at 0x7000"),
    (chain((0x7000, 0x7100, 0x1234)), "0x1234 at 0x7008 is not a code address"),
])
def test_walk_stops(words: dict[int, int], stop: str) -> None:
    frames = walk_frames(memory(words), 0x7000, 0x6f00, 0x400500, is_code)
    assert stop in (frames[-1].stop or "")
    assert frames[0].ip == 0x400500


def test_walk_limit_and_bad_rbp() -> None:
    words = chain(*[(0x7000 + 16 * i, 0x7000 + 16 * (i + 1), 0x401000 + i) for i in range(100)])
    frames = walk_frames(memory(words), 0x7000, 0x6f00, 0x400500, is_code, limit=10)
    assert len(frames) == 10 and frames[-1].stop == "frame limit 10 reached"
    frames = walk_frames(memory(words), 0x6000, 0x6f00, 0x400500, is_code)  # rbp below rsp
    assert len(frames) == 1 and "not an aligned stack address" in (frames[0].stop or "")


def test_leaf_function_return_address_is_a_marked_guess() -> None:
    words = chain((0x7000, 0, 0x402020))
    words[0x6f00] = 0x401111  # [rsp]: the leaf's return address into its caller
    frames = walk_frames(memory(words), 0x7000, 0x6f00, 0x400500, is_code)
    assert [(f.ip, f.method, f.heuristic) for f in frames] == [
        (0x400500, "registers", False), (0x401111, "stack-top", True), (0x402020, "frame-pointer", False)]


def test_scan_marks_every_hit_heuristic_and_skips_gaps() -> None:
    words = {0x7000: 0x401000, 0x7008: 0x55, 0x7010: 0x402000, 0x8010: 0x403000, 0x8018: 0x404000}
    # 0x7018..0x7ff8 unreadable: the scan skips to the next page instead of stopping.
    reader = memory({a: words.get(a, 0) for a in (*range(0x7000, 0x7020, 8), *range(0x8000, 0x9000, 8))})
    frames = scan_stack(reader, 0x7000, 0x9000, is_code)
    assert [(f.sp, f.ip) for f in frames] == [(0x7000, 0x401000), (0x7010, 0x402000), (0x8010, 0x403000),
                                              (0x8018, 0x404000)]
    assert all(f.heuristic and f.method == "scan" for f in frames)
    assert len(scan_stack(reader, 0x7000, 0x9000, is_code, limit=2)) == 2
    assert scan_stack(reader, 0x7004, 0x7010, is_code) == []  # rsp rounds up to 0x7008, which is data


# Where each task of the service blocks (service.c): the call its own code made.
BLOCKED_IN = {"service": "accept(", "svc-worker": "pthread_cond_wait(", "svc-reader": "read(",
              "svc-sleeper": "clock_nanosleep(", "svc-child": "read("}


def read_u64_from(space: AddressSpace, address: int) -> int:
    return int(struct.unpack("<Q", space.read(address, 8))[0])


def test_frozen_threads_of_the_checkpoints(samples_with_binary: list[Sample], service_binary: Path) -> None:
    checked = 0
    for s in samples_with_binary:
        if s.images is None:
            continue
        ck = load_directory(s.images)
        exe = s.truth["before"]["processes"][0]["exe"]
        for proc in ck.processes:
            read_u64 = functools.partial(read_u64_from, ck.memory[proc.pid])

            with Symbolizer(proc.vmas, resolver_for(service_binary, exe)) as sym:
                for thread in proc.threads:
                    assert thread.registers is not None
                    gp = thread.registers.gp
                    frames = walk_frames(read_u64, gp["bp"], gp["sp"], gp["ip"], sym.is_code)
                    assert frames[0].ip == gp["ip"] and frames[-1].stop
                    # CRIU rewinds the ip of a task blocked in a system call onto its `syscall`.
                    elf = sym.modules()[0].elf
                    assert elf is not None
                    ip = gp["ip"]
                    assert disassemble(elf.read(ip, 16), ip, ip, after=0)[0].mnemonic == "syscall"
                    for f in frames[1:]:
                        assert sym.symbolize(f.ip, return_address=True).symbol is not None, f
                    # The thread's own code is in a frame without a frame pointer's help: libc's wrappers
                    # keep none, so only the scan finds the return address into service.c.
                    stack = sym.mapping_at(gp["sp"])
                    assert stack is not None
                    # Thread stacks share one anonymous VMA; each ends at the guard page of the next.
                    end = min([v.start for v in proc.guards if v.start > gp["sp"]],
                              default=stack.end)
                    scanned = scan_stack(read_u64, gp["sp"], min(end, stack.end), sym.is_code)
                    ours = [loc for loc in (sym.symbolize(f.ip, return_address=True) for f in scanned)
                            if loc.line is not None]
                    # A scan also finds stale return addresses of finished calls (the main thread's
                    # stack still holds one into reply(), from the last control command), so the right
                    # one is among the hits, not necessarily the first.
                    lines = [SOURCE[loc.line.line - 1] for loc in ours if loc.line is not None]
                    assert any(BLOCKED_IN[thread.comm or ""] in text for text in lines), \
                        f"{s} {thread.comm}: {[str(loc) for loc in ours]}"
                    checked += 1
    assert checked >= 5
