"""Findings as a declared table, masked on the way out."""

from __future__ import annotations

from collections.abc import Iterable

from forensics.findings.rules import Finding
from forensics.model.secrets import Masker
from forensics.records import Table
from forensics.records.kinds import FINDING


def findings(found: Iterable[Finding], masker: Masker) -> Table:
    t = Table(FINDING)
    for x in found:
        pids = [str(p) for p in dict.fromkeys(e.pid for e in x.evidence if e.pid is not None)]
        t.add(x.score, x.rule, masker.text(x.title), masker.text(x.detail), pids)
    return t


def masked(found: Iterable[Finding], masker: Masker) -> list[Finding]:
    """The findings with their words masked (for outputs that keep the Finding objects, like JSON)."""
    from dataclasses import replace

    return [replace(x, title=masker.text(x.title), detail=masker.text(x.detail),
                    evidence=tuple(replace(e, note=masker.text(e.note) if e.note else e.note) for e in x.evidence))
            for x in found]
