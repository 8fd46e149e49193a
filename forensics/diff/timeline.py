"""One value across many checkpoints: what `timeline` tables and charts."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from forensics.errors import ForensicsError
from forensics.memory.space import VALUE_FORMATS, MemoryGap, space_of
from forensics.model.checkpoint import Checkpoint
from forensics.records import Timestamp

@dataclass(frozen=True, slots=True)
class Point:
    """The value in one checkpoint, or why there is none (`missing`)."""

    checkpoint: str
    time: Timestamp | None
    value: int | float | str | None
    missing: str | None = None


def read_value(ck: Checkpoint, pid: int, address: int, kind: str) -> int | float | str:
    space = space_of(ck, pid)
    if space is None:
        raise MemoryGap(address, f"no process {pid} with memory in this checkpoint")
    if kind == "str":
        return space.read_cstring(address, 256).decode("utf-8", "backslashreplace")
    if kind not in VALUE_FORMATS:
        raise ForensicsError(f"--as takes str or {', '.join(VALUE_FORMATS)}")
    fmt = VALUE_FORMATS[kind]
    return struct.unpack(fmt, space.read(address, struct.calcsize(fmt)))[0]


def series(checkpoints: list[Checkpoint], pid: int, address: int, kind: str) -> list[Point]:
    out = []
    for ck in checkpoints:
        try:
            out.append(Point(ck.info.path, ck.info.checkpoint_time, read_value(ck, pid, address, kind)))
        except MemoryGap as gap:
            out.append(Point(ck.info.path, ck.info.checkpoint_time, None, gap.reason))
    return out


def guess_kind(checkpoints: list[Checkpoint], pid: int, address: int) -> str:
    """"str" when the first readable bytes at the address are printable text ending in NUL within 64 bytes
    (a counter string such as "i=4" must not be read as a u64 and called growing), else "u64"."""
    for ck in checkpoints:
        space = space_of(ck, pid)
        if space is None:
            continue
        try:
            data = space.read_cstring(address, 64)
        except MemoryGap:
            continue
        if data and len(data) < 64 and all(0x20 <= b < 0x7F for b in data):
            return "str"
        return "u64"
    return "u64"


def monotonic(points: list[Point]) -> str | None:
    """'only grew' / 'only shrank' / None, over the numeric points (never over strings)."""
    nums = [p.value for p in points if isinstance(p.value, (int, float))]
    if len(nums) < 2:
        return None
    if all(b >= a for a, b in zip(nums, nums[1:])) and nums[-1] > nums[0]:
        return "only grew"
    if all(b <= a for a, b in zip(nums, nums[1:])) and nums[-1] < nums[0]:
        return "only shrank"
    return None


BARS = "▁▂▃▄▅▆▇█"


def sparkline(points: list[Point]) -> str:
    nums = [p.value if isinstance(p.value, (int, float)) else None for p in points]
    real = [n for n in nums if n is not None]
    if not real:
        return ""
    lo, hi = min(real), max(real)
    span = (hi - lo) or 1
    return "".join(" " if n is None else BARS[int((n - lo) / span * (len(BARS) - 1))] for n in nums)
