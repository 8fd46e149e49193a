"""Search results over process memory as declared tables: grep matches, YARA matches, strings.

Each row carries the matched bytes themselves (at most MAX_SHOWN of them), masked like every other
output: a responder should see what matched without a second command.
"""

from __future__ import annotations

from collections.abc import Iterable

from forensics.memory.grep import Match
from forensics.memory.space import MemoryGap, space_of, spaces
from forensics.memory.yara import YaraMatch
from forensics.model.checkpoint import Checkpoint
from forensics.model.secrets import Masker
from forensics.records import Table
from forensics.records.kinds import MATCH, STRING, YARA_MATCH

MAX_SHOWN = 256


def matched_bytes(ck: Checkpoint, pid: int, address: int, length: int, masker: Masker) -> bytes | None:
    space = space_of(ck, pid)
    if space is None:
        return None
    try:
        return masker.data(bytes(space.read(address, min(length, MAX_SHOWN))))
    except MemoryGap:
        return None


def matches(ck: Checkpoint, found: Iterable[Match], masker: Masker) -> Table:
    t = Table(MATCH)
    for m in found:
        t.add(m.pid, m.address, m.length, matched_bytes(ck, m.pid, m.address, m.length, masker), m.where,
              m.vma.start, m.vma.end, m.vma.prot_str, m.vma.kind)
    return t


def yara_matches(ck: Checkpoint, found: Iterable[YaraMatch], masker: Masker) -> Table:
    t = Table(YARA_MATCH)
    for m in found:
        t.add(m.rule, m.pattern, m.pid, m.address, m.length, matched_bytes(ck, m.pid, m.address, m.length, masker),
              m.vma.label or m.vma.kind, m.vma.start, m.vma.end)
    return t


def strings(ck: Checkpoint, found: Iterable[Match], utf16: bool, masker: Masker) -> Table:
    t = Table(STRING)
    by_pid = spaces(ck)
    for m in found:
        data = bytes(by_pid[m.pid].read(m.address, m.length))
        text = data.decode("utf-16-le" if utf16 else "ascii", "replace")
        t.add(m.pid, m.address, masker.text(text))
    return t
