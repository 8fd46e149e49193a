"""A hunt as text (a declared table: rich on a terminal, plain lines in pipes), JSON, JSON Lines and one
self-contained HTML page.

Every format is made from the same `Row`s. The page loads nothing; every string from a checkpoint (paths,
labels, matched mapping names, finding details) goes through render.html's `el`/`esc`, which escape
markup and make control and bidi characters visible. Each row links to its checkpoint's own section of
the page, which gives the exact `forensics report` command for that checkpoint's full report (and the
anchor of the process in it).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

from forensics.hunt.rows import Row, Status
from forensics.hunt.run import Hunt
from forensics.records import Table
from forensics.records.kinds import HUNT_COUNT, HUNT_HIT


def _addr(v: int | None) -> str:
    return "" if v is None else f"0x{v:x}"


def _cell_time(t: str | None, source: str | None) -> str:
    """The page's time cell: the time and where it was read, as every time the toolkit shows."""
    if not t:
        return ""
    return t.replace("T", " ")[:19] + (f" ({source})" if source else " (source unknown)")


def table(rows: list[Row], per_checkpoint: bool, title: str | None = None) -> Table:
    """The rows as the declared hunt table (records.kinds): every format (text, JSON, JSON Lines, CSV)
    is rendered from it generically, like every other command's."""
    kind = HUNT_COUNT if per_checkpoint else HUNT_HIT
    t = Table(kind, title=title)
    for r in rows:
        h = r.hit
        values = {"checkpoint": r.checkpoint, "container": r.container, "pod": r.pod,
                  "namespace": r.namespace, "time": r.time, "time_source": r.time_source,
                  "status": r.status.value, "ref": r.ref, "engine": r.engine, "count": r.count, "error": r.error,
                  "pid": h.pid if h else None, "address": h.address if h else None,
                  "kind": h.kind.value if h else None, "what": h.what if h else None,
                  "detail": h.detail if h else (None if r.error else "(no hits)"),
                  "length": h.length if h else None, "where": h.where if h else None,
                  "score": h.score if h else None}
        t.add(*(values[c.key] for c in kind.columns))
    return t


def document(h: Hunt, rows: list[Row], per_checkpoint: bool) -> dict[str, Any]:
    from forensics.render.machine import rows as records

    return {"question": h.question, "checkpoints": len(h.results), "partial": h.partial,
            "failed": sum(1 for r in h.results if r.status is Status.FAILED),
            "folded": sum(r.folded for r in h.results), "rows": records(table(rows, per_checkpoint))}


def jsonl(rows: list[Row], per_checkpoint: bool) -> Iterator[str]:
    """JSON Lines, one object a row, named by its record type as every command's JSON Lines are."""
    from forensics.render.machine import rows as records

    t = table(rows, per_checkpoint)
    for doc in records(t):
        yield json.dumps({"record": t.type.name, **doc}, separators=(",", ":"), default=str)


def report_command(ref: str, index: int) -> str:
    return f"forensics report {shlex.quote(ref)} -o report-{index}.html"


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top;word-break:break-word}th{background:#f3f3f3;cursor:default}
tr.failed td{color:#a00}tr.partial td{color:#a60}code{background:#f5f5f5;padding:1px 4px}
section{border-top:2px solid #ccc;margin-top:1.5em}.muted{color:#777}"""


def page(h: Hunt, rows: list[Row], per_checkpoint: bool, reports: dict[str, str] | None = None) -> str:
    """`reports` maps a checkpoint's ref to its generated report (a URL relative to the page): then rows
    link their pid to that report's process section, and the checkpoint's section links the report."""
    from forensics.render.html import el, frag, raw

    reports = reports or {}

    index = {r.target.ref: i for i, r in enumerate(h.results, 1)}
    head = ["checkpoint", "container", "pod", "namespace", "time", "status"]
    head += ["hits"] if per_checkpoint else ["pid", "address", "what", "detail"]
    body = []
    for r in rows:
        n = index.get(r.ref, 0)
        cells = [el("td", el("a", r.checkpoint, href=f"#ck-{n}")), el("td", r.container or ""),
                 el("td", r.pod or ""), el("td", r.namespace or ""), el("td", _cell_time(r.time, r.time_source)),
                 el("td", r.status.value)]
        if per_checkpoint:
            cells.append(el("td", str(r.count)))
        elif r.hit is not None:
            pid = "" if r.hit.pid is None else str(r.hit.pid)
            if pid and r.ref in reports:
                pid = el("a", pid, href=f"{reports[r.ref]}#pid-{pid}")
            cells += [el("td", pid), el("td", _addr(r.hit.address)), el("td", r.hit.what),
                      el("td", r.hit.detail)]
        else:
            cells += [el("td"), el("td"), el("td"), el("td", r.error or "(no hits)")]
        body.append(el("tr", *cells, class_=r.status.value if r.status is not Status.OK else None))
    sections = []
    for i, res in enumerate(h.results, 1):
        t = res.target
        pids = sorted({x.pid for x in res.hits if x.pid is not None})
        facts = [("path", t.ref), ("engine", t.engine), ("container", t.container), ("pod", t.pod),
                 ("namespace", t.namespace),
                 ("time", f"{t.time} ({t.time_source})" if t.time and t.time_source else t.time),
                 ("status", res.status.value),
                 ("hits", str(len(res.hits))),
                 ("folded (shared by every checkpoint)", str(res.folded) if res.folded else None)]
        sections.append(el(
            "section",
            el("h2", t.label, id=f"ck-{i}"),
            el("table", *(el("tr", el("th", k), el("td", v)) for k, v in facts if v is not None)),
            [el("p", el("strong", "error: "), e) for e in res.errors],
            el("p", "Its full report: ", el("a", reports[t.ref], href=reports[t.ref]), " ",
               [frag(el("a", f"pid {p}", href=f"{reports[t.ref]}#pid-{p}"), " ") for p in pids])
            if t.ref in reports else
            el("p", "Its full report: ", el("code", report_command(t.ref, i)),
               (" then open " if pids else None),
               [frag(el("code", f"report-{i}.html#pid-{p}"), " ") for p in pids]),
        ))
    title = f"forensics hunt: {h.question}"
    summary = (f"{len(h.results)} checkpoints, {sum(1 for r in h.results if r.hits)} with hits, "
               f"{sum(1 for r in h.results if r.status is Status.FAILED)} failed")
    doc = el("html",
             el("head", el("meta", charset="utf-8"), el("title", title),
                el("meta", http_equiv="Content-Security-Policy",
                   content="default-src 'none'; style-src 'unsafe-inline'"),
                el("style", raw(_CSS))),
             el("body", el("h1", title), el("p", summary, class_="muted"),
                el("table", el("tr", *(el("th", c) for c in head)), *body), *sections),
             lang="en")
    return "<!DOCTYPE html>\n" + doc + "\n"
