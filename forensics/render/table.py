"""Any declared table as text: a rich table on a terminal, a plain aligned layout in a pipe or file.

Nothing is ever wrapped, folded or cut by us: a row is one line at its natural width, so an address, a
number or a path is never split and `| grep` finds whole rows. On a terminal a table that fits is drawn
with rich; one that does not is printed plain, and the terminal wraps whole lines.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from forensics.records import Column, Fact, Kind, Table, TreeLine
from forensics.records.format import text

def shown_columns(table: Table, wide: bool) -> list[int]:
    if wide:
        return list(range(len(table.type.columns)))
    return [i for i, c in enumerate(table.type.columns)
            if c.brief and not (c.quiet_when_zero and not any(r[i] for r in table.rows))]


def cells(table: Table, wide: bool = False, human: bool = True) -> tuple[list[Column], list[list[str]]]:
    idx = shown_columns(table, wide)
    cols = [table.type.columns[i] for i in idx]
    return cols, [[text(row[i], table.type.columns[i].kind, human=human) for i in idx] for row in table.rows]


def footer(table: Table) -> str | None:
    if not table.omitted:
        return None
    return f"... {table.omitted} more {table.type.title} not shown" + (f" ({table.more})" if table.more else "")


def plain(table: Table, out: TextIO, wide: bool = False, title: bool = True) -> None:
    """Aligned columns separated by two spaces, no wrapping; "none" for an empty table."""
    if title:
        out.write(f"{table.heading}\n")
    if not table.rows:
        out.write("  none\n")
        return
    cols, rows = cells(table, wide)
    widths = [max(len(c.header), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    last = len(cols) - 1

    def line(values: Iterable[str]) -> str:
        parts = [v if i == last else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    out.write(line(c.header for c in cols) + "\n")
    for r in rows:
        out.write(line(r) + "\n")
    note = footer(table)
    if note:
        out.write(note + "\n")


def rich_table(table: Table, wide: bool = False):  # noqa: ANN201 - rich.table.Table, imported lazily
    from rich.table import Table as RichTable

    t = RichTable(title=table.heading, title_justify="left", title_style="bold", expand=False, show_edge=False,
                  header_style="bold")
    cols, rows = cells(table, wide)
    for c in cols:
        t.add_column(c.header, no_wrap=True, justify="right" if c.kind in (Kind.INT, Kind.SIZE) else "left")
    for r in rows:
        t.add_row(*r)
    return t


def fits(table: Table, wide: bool, width: int) -> bool:
    """Whether the boxed table fits with every cell whole (a path split over two lines no longer greps)."""
    cols, rows = cells(table, wide)
    need = 0
    for i, c in enumerate(cols):
        need += (max(len(c.header), *(len(r[i]) for r in rows)) if rows else len(c.header)) + 3
    return need <= width


def is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def write(tables: Iterable[Table], out: TextIO | None = None, wide: bool = False) -> None:
    """Tables one after another, each titled, with a blank line between."""
    out = out or sys.stdout
    tty = is_terminal(out)
    console = None
    if tty:
        from rich.console import Console

        console = Console(file=out, markup=False, highlight=False)
    first = True
    for table in tables:
        if not first:
            out.write("\n")
        first = False
        if console is None:
            plain(table, out, wide)
            continue
        if not table.rows:
            console.print(f"{table.heading}: none", style="dim")
            continue
        if not fits(table, wide, console.width):
            # Numbers and addresses are never cut or folded: a table too wide for the terminal is printed
            # at its natural width and the terminal wraps whole lines.
            plain(table, out, wide)
            continue
        console.print(rich_table(table, wide))
        note = footer(table)
        if note:
            console.print(note, style="dim")


def write_facts(facts: Iterable[Fact], out: TextIO | None = None) -> None:
    """A summary: one "label  value" line each, labels aligned; multi-line values indented."""
    out = out or sys.stdout
    items = [(f.label, text(f.value, f.kind)) for f in facts if f.value is not None and f.value != ""]
    if not items:
        return
    width = max(len(k) for k, _ in items)
    for k, v in items:
        out.write(f"{k.ljust(width)}  {v}\n")


def write_tree(title: str, lines: Iterable[TreeLine], out: TextIO | None = None) -> None:
    """A tree as indented lines ("1 sh  /bin/sh -c ..." then "  7 sleep  sleep 1"); the same on a terminal
    and in a pipe, so it greps the same."""
    out = out or sys.stdout
    out.write(f"{title}\n")
    for node in lines:
        out.write("  " * (node.depth + 1) + node.label + (f"  {node.note}" if node.note else "") + "\n")
