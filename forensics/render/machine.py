"""Any declared table for programs: JSON (one document), JSON Lines (one object a row) and CSV.

Values keep their exact form (integers for addresses, bytes as hex plus text, times with their source);
every row names its record type in JSON Lines so several tables can share one stream.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from forensics.records import Table
from forensics.records.format import json_value, text
from forensics.render.jsontext import dumps_indented


def rows(table: Table) -> list[dict[str, Any]]:
    kinds = [c.kind for c in table.type.columns]
    keys = [c.key for c in table.type.columns]
    return [{k: json_value(v, kind) for k, v, kind in zip(keys, r, kinds)} for r in table.rows]


def document(tables: Iterable[Table]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in tables:
        out[t.type.name] = rows(t)
        if t.omitted:
            out[f"{t.type.name}_omitted"] = t.omitted
    return out


def write_json(tables: Iterable[Table], out: TextIO, extra: dict[str, Any] | None = None) -> None:
    doc = dict(extra or {})
    doc.update(document(tables))
    # Past 20,000 rows unindented: only the C encoder is fast (indent runs the pure-Python one).
    rows_n = sum(len(v) for v in doc.values() if isinstance(v, list))
    encoded = dumps_indented(doc, 1, default=str) if rows_n <= 20_000 else json.dumps(doc, default=str)
    out.write(encoded + "\n")


def write_jsonl(tables: Iterable[Table], out: TextIO) -> None:
    for t in tables:
        for r in rows(t):
            out.write(json.dumps({"record": t.type.name, **r}, default=str) + "\n")


def write_csv(tables: Iterable[Table], out: TextIO) -> None:
    """One CSV block per table: its columns as header; several tables are separated by a blank line.
    Cells are the exact (non-human) text forms."""
    w = csv.writer(out, lineterminator="\n")
    first = True
    for t in tables:
        if not first:
            out.write("\n")
        first = False
        kinds = [c.kind for c in t.type.columns]
        w.writerow([c.key for c in t.type.columns])
        for r in t.rows:
            w.writerow([text(v, k, human=False) for v, k in zip(r, kinds)])
