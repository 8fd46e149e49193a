"""`forensics columns [NAME]`: every declared table, its columns, their types and meaning.

The reference for every JSON, JSON Lines and CSV output, printed from the declarations themselves
(forensics.records.kinds), so it is in every installed copy and can never disagree with the output.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from forensics.cli import app
from forensics.errors import UsageError


@app.command(epilog="Examples:\n\n  forensics columns            # every table\n  forensics columns mappings")
def columns(name: Optional[str] = typer.Argument(None, help="One table (processes, fds, mappings, matches...).")) -> None:
    """The columns of every table the commands print (JSON keys, kinds, what they mean)."""
    from forensics.records.kinds import ALL

    chosen = [r for r in ALL if name is None or r.name == name]
    if not chosen:
        raise UsageError(f"no table {name!r}", "known: " + ", ".join(r.name for r in ALL))
    out = sys.stdout
    for r in chosen:
        out.write(f"{r.name}: {r.doc}\n")
        width = max(len(c.key) for c in r.columns)
        for c in r.columns:
            shown = "" if c.brief else "  (--wide on text)"
            out.write(f"  {c.key.ljust(width)}  {c.kind.value:<8}  {c.doc or c.header.lower()}{shown}\n")
        out.write("\n")
