"""A comparison of two checkpoints as declared tables: model changes, changed pages, values that moved.

Text views show the first rows of each table with a count of the rest (a diff of two 1 GiB checkpoints
can have tens of thousands of moved values; no person reads them on a terminal, and building them as one
rich table took minutes). JSON, JSON Lines and CSV carry every row.
"""

from __future__ import annotations

from forensics.diff.compare import Diff
from forensics.model.secrets import Masker
from forensics.records import Table
from forensics.records.kinds import CHANGE, PAGE_CHANGE, VALUE_CHANGE

SECTIONS = ("processes", "fds", "sockets", "mounts", "vmas")


def _value(v: object, kind: str, masker: Masker) -> object:
    """Numbers stay numbers (JSON computes with them); pointers read as hex; text is masked."""
    if v is None:
        return None
    if kind == "ptr" and isinstance(v, int):
        return f"0x{v:x}"
    if isinstance(v, (int, float)) and kind:
        return v
    if kind in ("str", "bytes") and isinstance(v, str):
        return masker.text(v)
    if isinstance(v, dict):
        return masker.text(", ".join(f"{k}={masker.value(str(k), str(x))}" for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return masker.text(" ".join(str(x) for x in v))
    return masker.text(str(v))


def changes(d: Diff, masker: Masker) -> Table:
    t = Table(CHANGE)
    for section in SECTIONS:
        for c in d.section(section):
            t.add(c.section, c.pid, c.what, masker.text(c.subject), c.field, _value(c.old, "", masker),
                  _value(c.new, "", masker), c.note)
    return t


def pages(d: Diff) -> Table:
    t = Table(PAGE_CHANGE)
    for m in d.memory:
        t.add(m.pid, m.vma.start, m.vma.end, m.vma.label or m.vma.kind, m.changed, m.appeared, m.vanished)
    return t


def values(d: Diff, masker: Masker, show_all: bool) -> Table:
    t = Table(VALUE_CHANGE)
    for v in d.values:
        if v.noise is not None and not show_all:
            continue
        trend = "grew" if v.grew else ("shrank" if v.grew is False else None)
        t.add(v.pid, v.address, v.symbol or v.where, v.type, _value(v.old, v.type, masker),
              _value(v.new, v.type, masker), trend, v.noise, v.where)
    return t


def folded(d: Diff, show_all: bool) -> int:
    return 0 if show_all else sum(1 for v in d.values if v.noise is not None)
