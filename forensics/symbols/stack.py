"""Code addresses found on a frozen thread's stack: what a scan sees, kept apart from the call chain.

`scan_stack` takes every aligned word between rsp and the end of the stack that points into executable
memory. Return addresses of calls that finished long ago, pointers held in locals and callbacks look the
same as live return addresses, so these are never frames: the proven chain is `unwind.py`'s. A value
equal to a function's first byte is a function pointer (a call never returns to a function's entry), so
the scan leaves those out (`is_function_start`, Symbolizer.is_function_start).

`read_u64(address)` reads a little-endian u64 and raises (any exception) where memory is unreadable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ReadU64 = Callable[[int], int]
IsCode = Callable[[int], bool]

MAX_HITS = 64


@dataclass(frozen=True, slots=True)
class StackHit:
    """A code address `value` found in the stack word at `slot`. Not a frame: it may be stale."""

    slot: int
    value: int


def scan_stack(read_u64: ReadU64, rsp: int, stack_end: int, is_code: IsCode,
               is_function_start: IsCode = lambda _a: False, limit: int = MAX_HITS,
               skip_slots: frozenset[int] = frozenset(), page_size: int = 4096) -> list[StackHit]:
    """Every 8-byte-aligned word in [rsp, stack_end) whose value is a code address and not a function's
    start, up to `limit`, in stack order (innermost first). `skip_slots`: words already explained (the
    return addresses of the proven chain). Unreadable pages are skipped."""
    hits: list[StackHit] = []
    addr = (rsp + 7) & ~7
    while addr + 8 <= stack_end and len(hits) < limit:
        try:
            value = read_u64(addr)
        except Exception:  # noqa: BLE001 - a gap in the saved stack: skip to the next page
            addr = (addr // page_size + 1) * page_size
            continue
        if addr not in skip_slots and is_code(value) and not is_function_start(value):
            hits.append(StackHit(addr, value))
        addr += 8
    return hits
