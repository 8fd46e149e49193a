"""Every declared table of every bundled sample, rendered in every format, says the same thing.

The text (plain, as in a pipe), CSV, JSON Lines and HTML renderings of one table are parsed back and
compared cell by cell with the JSON values, so a format that formats a column its own way fails here.
"""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from forensics.findings.rules import findings
from forensics.loader import load_checkpoint
from forensics.records import Kind, Table
from forensics.records.format import text
from forensics.records.kinds import ALL
from forensics.render import machine
from forensics.render import table as plain
from forensics.render.html import records_table
from forensics.tables import findings as finding_tables
from forensics.tables import inspect as tables
from forensics.tables.secrets import masker_for
from tests.conftest import bundled_samples

SAMPLES = bundled_samples()


def sample_tables(s) -> list[Table]:  # noqa: ANN001
    ck = load_checkpoint(s.images or s.archive)
    masker = masker_for([ck], reveal=False)
    procs = ck.processes
    return [tables.processes(procs, masker), tables.threads(procs), tables.fds(procs), tables.sockets(procs),
            tables.mappings(procs), tables.mounts(ck), tables.environment(procs, masker),
            finding_tables.findings(findings(ck), masker)]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_every_table_agrees_in_every_format(sample) -> None:  # noqa: ANN001
    checked = 0
    for t in sample_tables(sample):
        cols = t.type.columns
        exact = [[text(v, c.kind, human=False) for v, c in zip(row, cols)] for row in t.rows]
        # JSON Lines and JSON: the same values, typed
        lines = io.StringIO()
        machine.write_jsonl([t], lines)
        docs = [json.loads(x) for x in lines.getvalue().splitlines()]
        assert docs == [{"record": t.type.name, **r} for r in machine.rows(t)]
        for doc, row in zip(docs, t.rows):
            for c, v in zip(cols, row):
                if c.kind in (Kind.ADDRESS, Kind.INT, Kind.PID, Kind.SIZE) and v is not None:
                    assert doc[c.key] == v and isinstance(doc[c.key], int)
        # CSV: the exact text of every cell
        buf = io.StringIO()
        machine.write_csv([t], buf)
        got = list(csv.reader(io.StringIO(buf.getvalue())))
        assert got[0] == [c.key for c in cols]
        assert got[1:] == exact
        # plain text (a pipe): one line per row, every brief cell whole on its line
        out = io.StringIO()
        plain.write([t], out, wide=True)
        body = out.getvalue().splitlines()
        if not t.rows:
            assert body[1].strip() == "none"
            continue
        human = [[text(v, c.kind) for v, c in zip(row, cols)] for row in t.rows]
        assert len(body) == 2 + len(t.rows)  # title, header, one line per row: nothing wrapped
        for line, cells in zip(body[2:], human):
            for cell in cells:
                assert cell in line
        # HTML: the same exact text per cell
        parser = _Cells()
        parser.feed(str(records_table("t", t)))
        assert [[c.replace("\u2060", "") for c in r] for r in parser.rows] == exact
        checked += len(t.rows)
    assert checked > 0


def test_every_record_type_is_covered() -> None:
    """Each declared record has a unique name and keys; the ones inspect builds are exercised above."""
    names = [r.name for r in ALL]
    assert len(set(names)) == len(names)
    for r in ALL:
        assert len({c.key for c in r.columns}) == len(r.columns)
