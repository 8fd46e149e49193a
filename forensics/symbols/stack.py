"""Return addresses recovered from a frozen thread's stack (x86_64).

Two methods, kept apart because they differ in trust:

- `walk_frames` follows the frame-pointer chain (code built with -fno-omit-frame-pointer): at a frame
  pointer rbp, [rbp] holds the caller's rbp and [rbp+8] the return address into the caller. It stops at a
  saved rbp that does not move up the stack (a loop or the outermost frame, whose rbp is 0), at memory it
  cannot read, at a return address outside code, or at a frame limit. The frame of a function that keeps
  no frame pointer (libc's system-call wrappers, leaf functions) is invisible to it: its caller is skipped.
  The return address on top of the stack ([rsp], right after a call) is offered as a heuristic frame to
  cover the commonest case of that, ip in a leaf function.
- `scan_stack` takes every word between rsp and the end of the stack that points into executable memory.
  Stale return addresses of finished calls and function pointers held in locals look the same, so every
  frame it returns is marked heuristic.

`read_u64(address)` reads a little-endian u64 and raises (any exception) where memory is unreadable;
`is_code(address)` says whether an address lies in executable memory (Symbolizer.is_code does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ReadU64 = Callable[[int], int]
IsCode = Callable[[int], bool]

MAX_FRAMES = 256
PAGE = 4096


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: `ip` (the thread's ip for frame 0, a return address for the others), `fp` (the frame
    pointer the return address was read through, None where there is none), `sp` (the stack address the
    return address was read from; rsp for frame 0), `method` (registers, frame-pointer, stack-top or scan),
    `heuristic` (a guess, not a proven caller), and `stop` on the last frame of a walk: why it ended."""

    index: int
    ip: int
    sp: int | None
    fp: int | None
    method: str
    heuristic: bool = False
    stop: str | None = None

    @property
    def is_return_address(self) -> bool:
        """Whether ip is a saved return address (symbolize it with return_address=True)."""
        return self.method != "registers"


def walk_frames(read_u64: ReadU64, rbp: int, rsp: int, ip: int, is_code: IsCode,
                limit: int = MAX_FRAMES) -> list[Frame]:
    """Frame 0 from the registers, then one frame per link of the frame-pointer chain."""
    frames = [Frame(0, ip, rsp, rbp, "registers")]
    top = _read(read_u64, rsp)
    fp_return = _read(read_u64, rbp + 8) if rbp >= rsp else None
    if top is not None and is_code(top) and top != fp_return:
        # ip may be in a function that has not (or never) set up rbp: its return address is at [rsp] only
        # right after the call, so this is a guess, and is only offered when the chain disagrees.
        frames.append(Frame(1, top, rsp, None, "stack-top", heuristic=True))
    stop = None
    while True:
        if len(frames) >= limit:
            stop = f"frame limit {limit} reached"
            break
        if rbp == 0:
            stop = "frame pointer is 0 (outermost frame)"
            break
        if rbp < rsp or rbp % 8:
            stop = f"frame pointer 0x{rbp:x} is not an aligned stack address above rsp 0x{rsp:x}"
            break
        try:
            ret = read_u64(rbp + 8)
            next_rbp = read_u64(rbp)
        except Exception as e:  # noqa: BLE001 - the reader's own error type is the caller's business
            stop = f"cannot read the frame at 0x{rbp:x}: {e}"
            break
        if not is_code(ret):
            stop = f"0x{ret:x} at 0x{rbp + 8:x} is not a code address"
            break
        frames.append(Frame(len(frames), ret, rbp + 8, rbp, "frame-pointer"))
        if next_rbp != 0 and next_rbp <= rbp:
            stop = f"saved frame pointer 0x{next_rbp:x} at 0x{rbp:x} does not move up the stack"
            break
        rbp = next_rbp
    last = frames[-1]
    frames[-1] = Frame(last.index, last.ip, last.sp, last.fp, last.method, last.heuristic, stop)
    return frames


def scan_stack(read_u64: ReadU64, rsp: int, stack_end: int, is_code: IsCode,
               limit: int = MAX_FRAMES) -> list[Frame]:
    """Every 8-byte-aligned word in [rsp, stack_end) whose value is a code address, up to `limit`, in
    stack order (innermost first). Unreadable pages are skipped."""
    frames: list[Frame] = []
    addr = (rsp + 7) & ~7
    while addr + 8 <= stack_end and len(frames) < limit:
        try:
            value = read_u64(addr)
        except Exception:  # noqa: BLE001 - a gap in the saved stack: skip to the next page
            addr = (addr // PAGE + 1) * PAGE
            continue
        if is_code(value):
            frames.append(Frame(len(frames), value, addr, None, "scan", heuristic=True))
        addr += 8
    return frames


def _read(read_u64: ReadU64, address: int) -> int | None:
    try:
        return read_u64(address)
    except Exception:  # noqa: BLE001 - unreadable is an answer here
        return None
