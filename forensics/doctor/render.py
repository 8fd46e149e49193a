"""A `Diagnosis` on a terminal (rich) and as one JSON document.

Log lines are data: they are laid out as `Text` objects, never parsed as rich markup (CRIU prints
brackets). Nothing here reads a file; it lays out what the diagnosis holds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from forensics.doctor.model import Diagnosis, Finding, LogLine
from forensics.records.escape import shown

SCHEMA_VERSION = 1
OUTCOME_STYLE = {"failed": "bold red", "succeeded": "bold green", "unknown": "bold yellow"}
KIND_LABEL = {"cause": "cause", "pointer": "where to look", "fallback": "unrecognised error"}


def to_json(diag: Diagnosis) -> dict[str, Any]:
    """The diagnosis as plain data: every field of the model, plus `schema` and `cause` (the top
    finding's rule id, or null)."""
    doc: dict[str, Any] = {"schema": SCHEMA_VERSION}
    doc.update(dataclasses.asdict(diag))
    doc["cause"] = diag.cause.rule if diag.cause else None
    return doc


def render_terminal(diag: Diagnosis, console: Console) -> None:
    """Summary, the ranked findings with their log lines, evidence and fix, then the known noise."""
    console.print(_summary(diag))
    console.print()
    if not diag.findings:
        for note in diag.notes or ["No finding."]:
            console.print(Text(shown(note)))
    for n, finding in enumerate(diag.findings, 1):
        console.print(_finding(n, finding, diag))
        console.print()
    if diag.findings:
        for note in diag.notes:
            console.print(Text(shown(note), style="italic"))
    if diag.benign:
        console.print()
        console.print(Text("Not the cause (CRIU prints these on healthy runs too):", style="bold"))
        t = Table.grid(padding=(0, 2))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for b in diag.benign:
            where = _where(b.lines[0], diag) if b.lines else ""
            t.add_row(Text(f"{b.id} x{b.count}", style="dim"),
                      Text.assemble((where + "  ", "dim"), (shown(_message(b.lines[0].text)) if b.lines else ""),
                                    "\n", (b.why, "italic")))
        console.print(Padding(t, (0, 0, 0, 2)))


def _summary(diag: Diagnosis) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("doctor", Text(shown(diag.path)))
    outcome = Text(diag.outcome.upper(), style=OUTCOME_STYLE[diag.outcome])
    doing = [f"{s.action}" + (f" of {s.task}" if s.task else "") for s in diag.sources if s.action]
    if doing:
        outcome.append("  (" + "; ".join(dict.fromkeys(doing)) + ")", style="default")
    t.add_row("outcome", outcome)
    if diag.criu_version:
        t.add_row("CRIU", Text(shown(diag.criu_version)))
    if diag.kernel:
        t.add_row("kernel", Text(shown(diag.kernel)))
    for label, counters in diag.stats.items():
        t.add_row(f"stats ({label})", Text(_stats_line(counters)))
    for i, s in enumerate(diag.sources):
        line = Text.assemble((shown(_short(s.path, diag)), ""), (f"  {s.kind}", "dim"))
        if s.outcome:
            line.append(f"  {s.outcome}", style=OUTCOME_STYLE[s.outcome])
        if s.note:
            line.append(f"  {shown(s.note)}", style="dim")
        t.add_row("read" if i == 0 else "", line)
    return t


def _finding(n: int, f: Finding, diag: Diagnosis) -> Group:
    head = Text.assemble((f"{n}. ", "bold"), (shown(f.title), "bold"), (f"  [{f.rule}]", "dim"),
                         (f"  {KIND_LABEL.get(f.kind, f.kind)}", "cyan"))
    body = Table.grid(padding=(0, 2))
    body.add_column(style="bold", no_wrap=True)
    body.add_column(overflow="fold")
    body.add_row("why", Text(shown(f.explanation)))
    if f.evidence:
        body.add_row("evidence", Text(shown("  ".join(f"{k}={v}" for k, v in f.evidence.items()))))
    if f.lines:
        body.add_row("log", _lines(f.lines, diag))
    if f.context:
        body.add_row("context", _lines(f.context, diag, style="dim"))
    body.add_row("fix", Text(shown(f.fix), style="green"))
    for note in f.notes:
        body.add_row("note", Text(shown(note), style="yellow"))
    return Group(head, Padding(body, (0, 0, 0, 3)))


def _lines(lines: list[LogLine], diag: Diagnosis, style: str = "") -> Text:
    out = Text()
    for i, ln in enumerate(lines):
        if i:
            out.append("\n")
        out.append(_where(ln, diag) + "  ", style="dim")
        out.append(shown(ln.text.strip()), style=style)
    return out


def _where(ln: LogLine, diag: Diagnosis) -> str:
    return f"{shown(_short(ln.source, diag))}:{ln.number}"


def _short(path: str, diag: Diagnosis) -> str:
    """Paths inside the diagnosed directory are shown relative to it; others by name."""
    root = Path(diag.path)
    p = Path(path)
    if p == root:
        return p.name or path
    try:
        return str(p.relative_to(root))
    except ValueError:
        return p.name if len(diag.sources) <= 1 or p.parent == root.parent else path


def _message(line: str) -> str:
    text = line.strip()
    if text.startswith("(") and ")" in text:
        text = text[text.index(")") + 1:].strip()
    return text


def _stats_line(counters: dict[str, int]) -> str:
    parts = []
    for key, value in counters.items():
        if key.endswith("_time"):
            parts.append(f"{key.removesuffix('_time')} {value / 1000:.1f} ms")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)
