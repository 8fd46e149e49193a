"""The report as one self-contained HTML file: overview, findings, process tree, one section per process,
mounts, namespaces, cgroups, and with several checkpoints the changes between them and a timeline.

The page loads nothing: its stylesheet, its script and its pictures (inline SVG) are in the file, and a
Content-Security-Policy allows only that stylesheet and that script, by hash. Everything read from a
checkpoint (argv, environment, paths, socket names) is attacker-controlled, so markup is built with `el`,
which escapes every string it is given and makes control and bidi characters visible; only `Html`
values, made by `el` itself, pass through unescaped.

Two steps: forensics.report.assemble gathers what the page shows (findings, diffs, timeline series, the evidence
manifest with SHA-256 of every file read) into a `Report`; `render` here lays it out. Anchors are stable:
`#pid-1`, `#pid-1-fd-3`, `#pid-1-socket-3`, `#pid-1-tid-8`, `#pid-1-vma-400000`, `#mount-49`; with
several checkpoints each checkpoint's anchors carry a prefix (`#ck2-pid-1`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.flags import capability_names, signal_names
from forensics.model.process import Process
from forensics.model.secrets import Masker
from forensics.records.format import human_size as _human_size
from forensics.model.words import syscall_text
from forensics.records import Kind, Table
from forensics.records.format import text as cell_text

if TYPE_CHECKING:  # the report model is made by forensics.report; this module only lays it out
    from forensics.diff.compare import Diff
    from forensics.diff.memory import ValueChange, VmaMemoryChange
    from forensics.findings.rules import Evidence
    from forensics.report.assemble import Report, ReportedCheckpoint, Track

# Past this many moved values (a process that rewrote its heap) the page would only get slower to read;
# `forensics diff --json` has them all.
MAX_VALUE_ROWS = 2000

# ------------------------------------------------------------------ markup that cannot forget to escape

class Html(str):
    """Markup that is already safe: made by `el` or `raw`, never from checkpoint data."""

    __slots__ = ()


# C0/C1 controls, line/paragraph separators, bidi overrides (a filename can reorder what a reader sees),
# BOM and lone surrogates: shown as escapes instead of being interpreted.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def _visible(text: str) -> str:
    text = text.replace("\t", "\\t").replace("\n", "\\n")
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                          else f"\\u{ord(m.group()):04x}", text)


def esc(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape(_visible(str(value)), quote=True))


def raw(markup: str) -> Html:
    """Trusted markup written in this module (never pass checkpoint data)."""
    return Html(markup)


def _children(items: Iterable[Any]) -> Iterator[Html]:
    for c in items:
        if c is None or c is False:
            continue
        if isinstance(c, (list, tuple)) or (not isinstance(c, str) and isinstance(c, Iterable)):
            yield from _children(c)
        else:
            yield esc(c)


VOID = {"meta", "input", "br", "col", "img", "link"}


def el(tag: str, *children: Any, **attrs: Any) -> Html:
    """<tag attrs>children</tag>; `class_` for class, `data_x` for data-x; None/False attributes left out."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        parts.append(name if value is True else f'{name}="{esc(value)}"')
    open_tag = "<" + " ".join(parts) + ">"
    if tag in VOID:
        return Html(open_tag)
    return Html(open_tag + "".join(_children(children)) + f"</{tag}>")


def frag(*children: Any) -> Html:
    return Html("".join(_children(children)))


def a(target: str, *children: Any, **attrs: Any) -> Html:
    return el("a", *children, href="#" + target, **attrs)


# ------------------------------------------------------------------ small formatting helpers

def human_size(n: int | None) -> str:
    return "?" if n is None else _human_size(n)


def hexa(n: int | None) -> str:
    return "?" if n is None else f"0x{n:x}"


def fmt_time(t: float | None) -> str:
    from forensics.locate.engines import from_timestamp  # None for NaN, inf, 1e20...

    when = None if t is None else from_timestamp(t)
    return "?" if when is None else when.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_value(v: object, kind: str) -> str:
    if kind == "str":
        return '"' + str(v) + '"' if isinstance(v, str) else str(v)
    if kind == "ptr" and isinstance(v, int):
        return hexa(v)
    if kind in ("bytes", "page") and isinstance(v, str) and len(v) > 96:
        return v[:96] + "…"
    return str(v)


def shorten(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class Ids:
    """Anchors of one checkpoint's things; the prefix keeps checkpoints apart in one page."""

    def __init__(self, prefix: str = "") -> None:
        self.p = prefix

    def __call__(self, name: str) -> str:
        return self.p + name

    def pid(self, pid: int) -> str:
        return f"{self.p}pid-{pid}"

    def fd(self, pid: int, fd: int) -> str:
        return f"{self.p}pid-{pid}-fd-{fd}"

    def socket(self, pid: int, fd: int) -> str:
        return f"{self.p}pid-{pid}-socket-{fd}"

    def tid(self, pid: int, tid: int) -> str:
        return f"{self.p}pid-{pid}-tid-{tid}"

    def vma(self, pid: int, start: int) -> str:
        return f"{self.p}pid-{pid}-vma-{start:x}"

    def env(self, pid: int, index: int) -> str:
        return f"{self.p}pid-{pid}-env-{index}"

    def mount(self, mnt_id: int) -> str:
        return f"{self.p}mount-{mnt_id}"


# A report is one file a browser must open: each table holds at most MAX_ROWS rows and each checkpoint
# gets at most MAX_PROCESS_SECTIONS per-process sections (a hostile or huge checkpoint has a million
# mappings or 100,000 processes); a note says what was left out. The environment variables raise them.
MAX_ROWS = int(os.environ.get("FORENSICS_HTML_MAX_ROWS", "20000") or 20000)
MAX_PROCESS_SECTIONS = int(os.environ.get("FORENSICS_HTML_MAX_PROCESSES", "1000") or 1000)
SVG_MAX_ROWS = 2000     # mappings drawn per picture


def table(tid: str, headers: list[str], rows: Iterable[tuple[str | None, list[Any]]], *, filter_: bool = True,
          num: Iterable[int] = (), mono: Iterable[int] = (), wrap: Iterable[int] = (), label: str = "rows") -> Html:
    """A table with a filter box above it that narrows the rows as one types. `rows` are (row id, cells)."""
    num, mono, wrap = set(num), set(mono), set(wrap)
    body = []
    rows = iter(rows)
    for rid, cells in islice(rows, MAX_ROWS):
        tds = []
        for i, c in enumerate(cells):
            cls = " ".join(x for x, on in (("num", i in num), ("mono", i in mono), ("wrap", i in wrap)) if on)
            tds.append(el("td", c, class_=cls or None))
        body.append(el("tr", tds, id=rid))
    left_out = sum(1 for _ in rows)
    head = el("thead", el("tr", [el("th", h) for h in headers]))
    bar = None
    if filter_ and len(body) > 1:
        bar = el("div", el("input", type="search", class_="filter", data_table=tid, placeholder=f"Filter {label}…",
                           aria_label=f"Filter {label}", autocomplete="off"),
                 el("span", f"{len(body)} rows", class_="count", id=f"{tid}-count"), class_="filterbar")
    note = el("p", f"{left_out} more {label} not shown (at most {MAX_ROWS} per table: FORENSICS_HTML_MAX_ROWS=N "
                   "raises it; inspect --json lists them all)", class_="note") if left_out else None
    return frag(bar, el("div", el("table", head, el("tbody", body), id=tid, class_="grid"), class_="tablewrap"), note)


NUM_KINDS = {Kind.INT, Kind.PID, Kind.SIZE}
MONO_KINDS = {Kind.ADDRESS, Kind.HEX, Kind.BYTES, Kind.EVIDENCE}
WRAP_KINDS = {Kind.EVIDENCE, Kind.BYTES, Kind.WORDS}


def records_table(tid: str, data: Table, row_id: Callable[[dict[str, Any]], str | None] | None = None,
                  links: dict[str, Callable[[dict[str, Any]], str | None]] | None = None, *,
                  skip: Iterable[str] = (), label: str = "rows",
                  masked: Callable[[dict[str, Any]], bool] | None = None) -> Html:
    """Any declared table (forensics.records), every column, each cell formatted by its column's kind like
    on a terminal; `links` makes a column's cells links, `masked` marks rows whose value was masked."""
    cols = [c for c in data.type.columns if c.key not in set(skip)]
    rows = []
    for r in data.dicts():
        cells: list[Any] = []
        for c in cols:
            shown: Any = cell_text(r[c.key], c.kind, human=False)
            target = links[c.key](r) if links and c.key in links else None
            if target:
                shown = a(target, shown)
            elif masked is not None and c.key == "value" and masked(r):
                shown = el("span", shown, class_="masked", title="masked: run with --reveal to show it")
            cells.append(shown)
        rows.append((row_id(r) if row_id else None, cells))
    return table(tid, [c.header or c.key.upper() for c in cols], rows, label=label,
                 num=[i for i, c in enumerate(cols) if c.kind in NUM_KINDS],
                 mono=[i for i, c in enumerate(cols) if c.kind in MONO_KINDS],
                 wrap=[i for i, c in enumerate(cols) if c.kind in WRAP_KINDS])


def kv(rows: Iterable[tuple[str, Any]]) -> Html:
    return el("table", el("tbody", [el("tr", el("th", k), el("td", v)) for k, v in rows if v is not None]),
              class_="kv")


# ------------------------------------------------------------------ pictures (inline SVG)

def _svg(width: int, height: int, *children: Any, label: str) -> Html:
    return el("svg", el("title", label), *children, xmlns="http://www.w3.org/2000/svg", width=width, height=height,
              viewBox=f"0 0 {width} {height}", role="img", aria_label=label)


def _rect(x: float, y: float, w: float, h: float, cls: str, opacity: float | None = None) -> Html:
    return el("rect", x=f"{x:.1f}", y=f"{y:.1f}", width=f"{max(w, 0.6):.1f}", height=f"{h:.1f}", class_=cls,
              fill_opacity=f"{opacity:.2f}" if opacity is not None and opacity < 0.995 else None)


def _runs(cells: list[tuple[str, float]]) -> list[tuple[int, int, str, float]]:
    """Consecutive equal cells merged: (first, count, class, opacity)."""
    out: list[tuple[int, int, str, float]] = []
    for i, (cls, op) in enumerate(cells):
        if out and out[-1][2] == cls and abs(out[-1][3] - op) < 0.05:
            out[-1] = (out[-1][0], out[-1][1] + 1, cls, op)
        else:
            out.append((i, 1, cls, op))
    return out


BAR_X, BAR_W, ROW_H = 360, 480, 16


def _bar_width(pages: int, most: int) -> float:
    # Log scale: a 1-page vDSO and a 1 GiB heap are both visible.
    return max(10.0, BAR_W * (math.log2(pages) + 1) / (math.log2(max(most, 2)) + 1))


def memory_map_svg(src: ReportedCheckpoint, proc: Process, ids: Ids) -> Html:
    """One row per mapping in address order, its pages as cells: dumped, in a parent checkpoint, on a
    lazy-pages server, or not in the checkpoint at all; unmapped gaps drawn between rows."""
    vmas = sorted(proc.vmas, key=lambda v: v.start)
    if not vmas:
        return el("p", "No memory mappings.", class_="note")
    left_out = len(vmas) - SVG_MAX_ROWS
    vmas = vmas[:SVG_MAX_ROWS]
    PAGE = proc.page_size  # noqa: N806 - this process's page size, from its saved auxv
    most = max(v.size // PAGE for v in vmas)
    rows: list[Html] = []
    y = 4
    prev_end = None
    for v in vmas:
        if prev_end is not None and v.start > prev_end:
            rows.append(el("line", x1=BAR_X, x2=BAR_X + 60, y1=y + 4, y2=y + 4, class_="gap"))
            rows.append(el("text", f"unmapped {human_size(v.start - prev_end)}", x=BAR_X + 66, y=y + 8,
                           class_="muted"))
            y += 12
        prev_end = max(prev_end or 0, v.end)
        pages = max(v.size // PAGE, 1)
        width = _bar_width(pages, most)
        nbins = max(1, min(pages, int(width // 3)))
        cells = []
        for d, p, z, n in (src.page_bins(proc.pid, v, nbins) if src.page_bins else [(0, 0, 0, pages)]):
            have = d + p + z
            if have == 0:
                cells.append(("pg-none", 1.0))
            else:
                cls = "pg-dumped" if d >= max(p, z) else "pg-parent" if p >= z else "pg-lazy"
                cells.append((cls, 0.3 + 0.7 * have / n))
        cw = width / len(cells)
        shapes = [_rect(BAR_X, y, width, ROW_H - 4, "bar-bg")]
        for first, count, cls, op in _runs(cells):
            shapes.append(_rect(BAR_X + first * cw, y, count * cw, ROW_H - 4, cls, op))
        text = f"{v.start:012x} {v.prot_str}{'s' if v.shared else 'p'} {shorten(v.label or v.kind, 34)}"
        tip = (f"{v.start:x}-{v.end:x} {v.prot_str} {v.kind} {v.label}: {v.dumped_pages} of {pages} pages dumped"
               + (f", {v.parent_pages} in parent" if v.parent_pages else "")
               + (f", {v.lazy_pages} lazy" if v.lazy_pages else ""))
        rows.append(el("a", el("title", tip), el("text", text, x=4, y=y + 10), shapes,
                       el("text", f"{v.dumped_pages}/{pages}", x=BAR_X + width + 6, y=y + 10, class_="muted"),
                       href="#" + ids.vma(proc.pid, v.start)))
        y += ROW_H
    legend = el("div", el("span", "dumped", class_="sw-dumped"), el("span", "in parent checkpoint", class_="sw-parent"),
                el("span", "lazy (not in image)", class_="sw-lazy"),
                el("span", "not in checkpoint (never touched, zero, or clean file page)", class_="sw-none"),
                el("span", "bar length: log scale of the mapping's size", class_=None), class_="legend")
    note = el("p", f"{left_out} more mappings not drawn (at most {SVG_MAX_ROWS}; the table below lists up to "
                   f"{MAX_ROWS})", class_="note") if left_out > 0 else None
    return frag(legend, _svg(BAR_X + BAR_W + 70, y + 4, rows, label=f"memory map of pid {proc.pid}"), note)


def changed_pages_svg(changes: list[VmaMemoryChange], pid_link: Callable[[int, int], str],
                      page_size_of: Callable[[int], int]) -> Html:
    """One row per mapping with changed pages: where in the mapping they are."""
    if not changes:
        return Html("")
    changes = changes[:SVG_MAX_ROWS]
    PAGE = page_size_of(changes[0].pid)  # noqa: N806 - one container runs with one page size
    most = max(m.vma.size // PAGE for m in changes)
    rows: list[Html] = []
    y = 4
    for m in changes:
        v = m.vma
        pages = max(v.size // PAGE, 1)
        width = _bar_width(pages, most)
        nbins = max(1, min(pages, int(width // 3)))
        hits = [0] * nbins
        for addr in m.changed_pages:
            i = (addr - v.start) // PAGE * nbins // pages
            if 0 <= i < nbins:
                hits[i] += 1
        cells = []
        for i, h in enumerate(hits):
            span = pages * (i + 1) // nbins - pages * i // nbins or 1
            cells.append(("pg-changed", 0.35 + 0.65 * min(h / span, 1)) if h else ("pg-same", 1.0))
        cw = width / nbins
        shapes = [_rect(BAR_X, y, width, ROW_H - 4, "bar-bg")]
        for first, count, cls, op in _runs(cells):
            shapes.append(_rect(BAR_X + first * cw, y, count * cw, ROW_H - 4, cls, op))
        text = f"pid {m.pid} {v.start:012x} {shorten(v.label or v.kind, 30)}"
        tip = f"{v.start:x}-{v.end:x} {v.label or v.kind}: {m.changed} changed, {m.appeared} appeared, " \
              f"{m.vanished} vanished of {pages} pages"
        rows.append(el("a", el("title", tip), el("text", text, x=4, y=y + 10), shapes,
                       el("text", f"{m.changed}/{pages}", x=BAR_X + width + 6, y=y + 10, class_="muted"),
                       href="#" + pid_link(m.pid, v.start)))
        y += ROW_H
    legend = el("div", el("span", "changed pages", class_="sw-changed"), el("span", "unchanged or not dumped",
                class_="sw-none"), class_="legend")
    return frag(legend, _svg(BAR_X + BAR_W + 70, y + 4, rows, label="changed pages per mapping"))


def line_plot_svg(track: Track, labels: list[str]) -> Html:
    """The value in every checkpoint as a line; hollow red dots where it could not be read."""
    w, h, left, right, top, bottom = 380, 150, 70, 14, 12, 34
    nums = [p.value if isinstance(p.value, (int, float)) else None for p in track.points]
    real = [n for n in nums if n is not None]
    lo, hi = (min(real), max(real)) if real else (0, 1)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    n = len(nums)

    def x(i: int) -> float:
        return left + (w - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(value: float) -> float:
        return top + (h - top - bottom) * (1 - (value - lo) / (hi - lo))

    parts: list[Html] = [el("line", x1=left, x2=w - right, y1=h - bottom, y2=h - bottom, class_="axis"),
                         el("line", x1=left, x2=left, y1=top, y2=h - bottom, class_="axis")]
    for value in (lo, hi):
        parts.append(el("line", x1=left, x2=w - right, y1=f"{y(value):.1f}", y2=f"{y(value):.1f}", class_="grid"))
        parts.append(el("text", shorten(str(value), 10), x=left - 6, y=f"{y(value) + 4:.1f}", text_anchor="end",
                        class_="muted"))
    segment: list[str] = []
    for i, v in enumerate(nums):
        if v is None:
            if len(segment) > 1:
                parts.append(el("polyline", points=" ".join(segment), class_="line"))
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if len(segment) > 1:
        parts.append(el("polyline", points=" ".join(segment), class_="line"))
    for i, (p, v) in enumerate(zip(track.points, nums)):
        cy = y(v) if v is not None else h - bottom
        tip = f"{labels[i]}: {v}" if v is not None else f"{labels[i]}: not readable ({p.missing or p.value})"
        parts.append(el("circle", el("title", tip), cx=f"{x(i):.1f}", cy=f"{cy:.1f}", r=4,
                        class_="dot" if v is not None else "dot missing"))
        parts.append(el("text", str(i + 1), x=f"{x(i):.1f}", y=h - bottom + 16, text_anchor="middle",
                        class_="muted"))
    parts.append(el("text", "checkpoint", x=(left + w - right) / 2, y=h - 4, text_anchor="middle", class_="muted"))
    return _svg(w, h, parts, label=f"{track.name} at {hexa(track.address)} across checkpoints")


# ------------------------------------------------------------------ sections

def ck_title(src: ReportedCheckpoint, k: int | None) -> str:
    info = src.ck.info
    name = info.checkpoint_name or Path(info.path).name or src.target
    return f"Checkpoint {k}: {name}" if k is not None else f"Checkpoint {name}"


def _newest_mtime(src: ReportedCheckpoint) -> float | None:
    times = [e.mtime for e in src.manifest if e.mtime is not None]
    return max(times) if times else None


def overview(report: Report) -> Html:
    srcs = report.sources
    multi = len(srcs) > 1

    def row(label: str, fn: Callable[[ReportedCheckpoint], Any]) -> Html:
        return el("tr", el("th", label), [el("td", fn(s)) for s in srcs])

    def container(s: ReportedCheckpoint) -> Any:
        i = s.ck.info
        if not (i.container_name or i.container_id):
            return el("span", "not recorded in this layout", class_="note")
        return frag(i.container_name or "", " ", el("code", (i.container_id or "")[:12]) if i.container_id else None)

    def taken(s: ReportedCheckpoint) -> Any:
        t = s.ck.info.checkpoint_time
        if t is not None:
            # The time and, always beside it, where it comes from and how far it can be trusted.
            return frag(cell_text(t, Kind.TIME), el("span", f" — {t.trust}", class_="note" if t.reliable else
                                                     "note warn"))
        return frag("not recorded; ", el("span", f"image files last written {fmt_time(_newest_mtime(s))} "
                                                 "(file mtimes: a copy resets them)", class_="note"))

    def state(s: ReportedCheckpoint) -> Any:
        if s.ck.partial:
            return el("span", f"PARTIAL: {len(s.ck.errors)} errors", class_="tag bad")
        return el("span", "complete", class_="tag good")

    def images(s: ReportedCheckpoint) -> str:
        kinds: dict[str, int] = {}
        for img in s.ck.info.images:
            kinds[img.kind] = kinds.get(img.kind, 0) + 1
        return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))

    rows = [
        row("input", lambda s: el("code", s.target)),
        *([row("read from", lambda s: el("code", s.ck.info.path))]
          if any(s.ck.info.path != s.target for s in srcs) else []),
        row("state", state),
        row("container", container),
        row("image", lambda s: s.ck.info.image or "-"),
        row("engine / layout", lambda s: f"{s.ck.info.engine or 'unknown engine'} / {s.ck.info.layout}"),
        row("time", taken),
        row("CRIU", lambda s: f"{s.ck.info.criu_version or '?'} ({s.ck.info.criu_version_source or 'unknown'})"
            + (f", image format v{s.ck.info.img_version}" if s.ck.info.img_version else "")),
        row("hostname", lambda s: s.ck.hostname or "-"),
        row("size", lambda s: f"{human_size(s.ck.info.total_size)} in {len(s.ck.info.images)} files, "
            f"{human_size(s.ck.info.pages_size)} of memory pages"),
        row("images", images),
        row("processes", lambda s: f"{len(s.ck.processes)} ({sum(len(p.threads) for p in s.ck.processes)} threads)"),
        row("findings", lambda s: str(len(s.findings))),
        row("parent", lambda s: s.ck.info.parent or "-"),
    ]
    head = el("thead", el("tr", el("th", ""), [el("th", a(f"ck{k}" if multi else "findings", ck_title(s, k if multi else None)))
                                               for k, s in enumerate(srcs, 1)]))
    return el("section", el("h2", "Overview"),
              el("div", el("table", head, el("tbody", rows), class_="grid overview"), class_="tablewrap"),
              kv([("report made by", f"forensics {report.version}"), ("command", el("code", report.command)),
                  ("made at", report.created),
                  ("secrets", "shown (--reveal)" if report.reveal else "masked (run with --reveal to show them)"),
                  ("evidence", a("manifest", "SHA-256 of every file read"))]),
              id="overview")


def problems_banner(report: Report) -> Html:
    broken = [(k, s) for k, s in enumerate(report.sources, 1) if s.ck.partial]
    if not broken:
        return Html("")
    multi = len(report.sources) > 1
    items = []
    for k, s in broken:
        for e in s.ck.errors[:50]:
            items.append(el("li", (f"checkpoint {k}: " if multi else ""), el("code", e)))
        if len(s.ck.errors) > 50:
            items.append(el("li", f"… and {len(s.ck.errors) - 50} more"))
    return el("div", el("strong", "Partial result: "),
              "parts of the evidence could not be read; what is shown was decoded before the damage, "
              "and anything missing below may be missing because of these errors.", el("ul", items),
              class_="banner", id="errors", role="alert")


def evidence_link(ev: Evidence, ck: Checkpoint, ids: Ids) -> Html:
    if ev.pid is None:
        return esc(ev.note or "")
    proc = ck.process(ev.pid)
    if ev.fd is not None:
        return a(ids.fd(ev.pid, ev.fd), f"pid {ev.pid} fd {ev.fd}")
    if ev.address is not None and proc is not None:
        vma = next((v for v in proc.vmas if v.kind != "guard" and v.start <= ev.address < v.end), None)
        if vma is not None:
            return a(ids.vma(ev.pid, vma.start), f"pid {ev.pid} {hexa(ev.address)}")
    if ev.note is not None and proc is not None and proc.env and ev.note in proc.env:
        return a(ids.env(ev.pid, list(proc.env).index(ev.note)), f"pid {ev.pid} ${ev.note}")
    return a(ids.pid(ev.pid), f"pid {ev.pid}")


def findings_section(src: ReportedCheckpoint, ids: Ids) -> Html:
    if not src.findings:
        items: Html = el("p", "No finding.", class_="note")
    else:
        lis = []
        for x in src.findings:
            level = "s-high" if x.score >= 70 else "s-mid" if x.score >= 45 else "s-low"
            links = [evidence_link(ev, src.ck, ids) for ev in x.evidence]
            lis.append(el("li", el("span", str(x.score), class_=f"score {level}", title=f"score {x.score}"),
                          el("div", el("div", el("span", x.title, class_="title"), " ", el("span", x.rule, class_="tag")),
                             el("div", x.detail, class_="detail"),
                             el("div", "evidence: ", [frag(link, " ") for link in links], class_="ev") if links else None)))
        fid = ids("findings-list")
        bar = el("div", el("input", type="search", class_="filter", data_table=fid, placeholder="Filter findings…",
                            aria_label="Filter findings", autocomplete="off"),
                 el("span", f"{len(lis)} rows", class_="count", id=f"{fid}-count"), class_="filterbar") \
            if len(lis) > 10 else None
        items = frag(bar, el("ol", lis, class_="findings", id=fid))
    return el("section", el("h3", "Findings"), el("p", "What to look at first, highest score first.", class_="note"),
              items, id=ids("findings"))


# Deeper than this the tree is drawn flat: a hostile pstree can be a 100,000-deep ppid chain, and nested
# lists that deep cost quadratic bytes here and break browsers. Deeper processes are listed under their
# ancestor at this depth, each marked with its real parent.
TREE_DEPTH = 64


def process_tree(ck: Checkpoint, ids: Ids) -> Html:
    """The process tree as nested lists, built with an explicit stack (no recursion over the evidence's
    depth) in time linear in the number of processes."""
    by_pid = {p.pid: p for p in ck.processes}
    roots = [p for p in ck.processes if p.ppid not in by_pid or p.ppid == p.pid]
    placed: set[int] = set()
    # Pre-order: (process, the pid it is drawn under or None, drawn flat under an ancestor?)
    order: list[tuple[Process, int | None, bool]] = []
    for start in (roots, ck.processes):
        stack: list[tuple[Process, int, int | None, bool]] = [(p, 0, None, False) for p in reversed(start)]
        while stack:
            p, depth, drawn_under, flat = stack.pop()
            if p.pid in placed:
                continue
            placed.add(p.pid)
            order.append((p, drawn_under, flat))
            kids = [by_pid[c] for c in p.children if c in by_pid and c not in placed]
            if depth + 1 < TREE_DEPTH:
                stack.extend((k, depth + 1, p.pid, False) for k in reversed(kids))
            else:
                stack.extend((k, depth, drawn_under, True) for k in reversed(kids))
    below: dict[int, int] = {}
    items: dict[int | None, list[Html]] = {}
    for p, drawn_under, flat in reversed(order):
        parts = [a(ids.pid(p.pid), str(p.pid)), el("span", p.comm, class_="comm"),
                 el("span", p.state, class_="tag bad") if p.state != "alive" else None,
                 el("span", f"{len(p.threads)} threads", class_="tag") if len(p.threads) > 1 else None,
                 el("span", f"child of {p.ppid}", class_="tag") if flat else None,
                 el("span", shorten(" ".join(p.argv), 120) if p.argv else f"[{p.comm}]", class_="argv")]
        label = frag([frag(x, " ") for x in parts if x is not None])
        kids_html = items.pop(p.pid, [])
        if not kids_html:
            node = el("li", el("div", label, class_="leaf"))
        else:
            kids_html.reverse()
            node = el("li", el("details", el("summary", label, " ",
                                             el("span", f"{below.get(p.pid, 0)} below", class_="tag")),
                               el("ul", kids_html), class_="node"))
        items.setdefault(drawn_under, []).append(node)
        if drawn_under is not None:
            below[drawn_under] = below.get(drawn_under, 0) + 1 + below.get(p.pid, 0)
    top = items.get(None, [])
    top.reverse()
    tid = ids("tree")
    return el("section", el("h3", "Process tree"),
              el("div", el("button", "Expand all", type="button", data_tree=tid, data_action="expand"), " ",
                 el("button", "Collapse all", type="button", data_tree=tid, data_action="collapse"),
                 class_="tree-tools"),
              el("ul", top, class_="tree", id=tid), id=ids("process-tree"))


def process_index(ck: Checkpoint, ids: Ids) -> Html:
    rows = []
    for p in ck.processes:
        c = p.creds
        rows.append((None, [a(ids.pid(p.pid), str(p.pid)),
                            a(ids.pid(p.ppid), str(p.ppid)) if ck.process(p.ppid) else str(p.ppid),
                            p.comm, p.state, str(c.uids[1]) if c else "?", str(len(p.threads)), str(len(p.fds)),
                            str(len(p.vmas)), shorten(" ".join(p.argv or []), 160)]))
    return el("section", el("h3", "Processes"),
              table(ids("processes-table"), ["PID", "PPID", "COMM", "STATE", "EUID", "THREADS", "FDS", "VMAS", "ARGV"],
                    rows, num=(0, 1, 5, 6, 7), wrap=(8,), mono=(8,), label="processes"),
              id=ids("processes"))


def _creds_rows(p: Process) -> list[tuple[str, Any]]:
    c = p.creds
    if c is None:
        return [("credentials", "not saved")]
    eff = capability_names(c.cap_eff)
    return [("uid (real, eff, saved, fs)", " ".join(map(str, c.uids))),
            ("gid (real, eff, saved, fs)", " ".join(map(str, c.gids))),
            ("groups", " ".join(map(str, c.groups)) or "-"),
            ("effective capabilities", ", ".join(eff) or "none"),
            ("bounding capabilities", ", ".join(capability_names(c.cap_bnd)) or "none"),
            ("no_new_privs", {True: "yes", False: "no", None: "not saved"}[c.no_new_privs]), ("LSM profile", c.lsm_profile or "-")]


def _socket_anchors(ck: Checkpoint, ids: Ids) -> dict[int, str]:
    """Socket inode -> the first place it is open, so a unix socket's peer can be a link."""
    out: dict[int, str] = {}
    for p in ck.processes:
        for fd in p.fds:
            if isinstance(fd.file, (f.UnixSocket, f.InetSocket)):
                out.setdefault(fd.file.ino, ids.socket(p.pid, fd.fd))
    return out


def python_stacks_html(py: Any, ids: Ids, masker: Masker) -> list[Html]:
    """A CPython process's stacks (forensics.symbols.python.PyProcess): one table per thread, innermost
    frame first, locals in the last column (secret-looking ones masked unless --reveal)."""
    version = "CPython " + ".".join(map(str, py.version)) if py.version else "CPython"
    parts: list[Html] = [el("h4", f"Python stacks ({version}, {py.binary})")]
    if py.note:
        parts.append(el("p", py.note, class_="note"))
    if py.gil is not None:
        holder = f"thread {py.gil.holder_tid}" if py.gil.holder_tid is not None else "no listed thread"
        parts.append(el("p", f"GIL held by {holder} (running Python code)" if py.gil.locked
                        else f"GIL free, last held by {holder}"))
    for t in py.threads:
        rows = []
        for i, fr in enumerate(t.frames):
            shown = []
            for v in fr.locals:
                value: Any = masker.text(v.value)
                if v.secret and not masker.reveal:
                    value = el("span", masker.value(v.name, v.value), class_="masked",
                               title="masked: run with --reveal to show it")
                shown.append(el("li", el("code", f"{v.name} = "), value))
            rows.append((None, [str(i), fr.function, f"{fr.file}:{fr.line if fr.line is not None else '?'}",
                                el("ul", shown) if shown else (fr.note or "")]))
        parts += [el("p", f"thread {t.tid}" + (f": {t.note}" if t.note else "")),
                  table(ids(f"pid-{py.pid}-python-{t.tid}"), ["#", "FUNCTION", "FILE:LINE", "LOCALS"], rows,
                        num=(0,), mono=(1, 2, 3), wrap=(2, 3), label="frames")]
    return parts


def process_section(src: ReportedCheckpoint, p: Process, ids: Ids, masker: Masker,
                    sockets_at: dict[int, str]) -> Html:
    ck = src.ck
    parent = ck.process(p.ppid)
    facts = kv([
        ("parent", a(ids.pid(p.ppid), f"{p.ppid} {parent.comm}") if parent else str(p.ppid)),
        ("children", frag([frag(a(ids.pid(c), str(c)), " ") for c in p.children]) if p.children else "-"),
        ("state", p.state + (f", exit code {p.exit_code}" if p.exit_code is not None else "")),
        ("pgid / sid", f"{p.pgid} / {p.sid}"),
        ("executable", el("code", p.exe) if p.exe else "-"),
        ("cwd", el("code", p.cwd) if p.cwd else "-"), ("root", el("code", p.root) if p.root else "-"),
        ("umask", f"{p.umask:04o}" if p.umask is not None else "-"),
        ("seccomp", p.seccomp_mode),
        *_creds_rows(p),
        ("namespaces", ", ".join(f"{k}:{v}" for k, v in sorted(p.namespaces.items())) or "-"),
        ("cgroup set", a(ids("cgroups"), str(p.cgroup_set)) if p.cgroup_set is not None else "-"),
    ])
    argv = el("ol", [el("li", x) for x in p.argv], class_="argv", start=0) if p.argv else \
        el("p", "argv not readable (see warnings)", class_="note")
    parts: list[Any] = [el("h3", f"pid {p.pid} — {p.comm}"), facts, el("h4", "argv"), argv]

    # threads
    rows = []
    for t in p.threads:
        ip = t.registers.ip if t.registers else None
        sp = t.registers.sp if t.registers else None
        where = src.symbolize(p.pid, ip) if (src.symbolize and ip is not None) else None
        regs = None
        if t.registers is not None:
            regs = el("details", el("summary", f"registers ({t.registers.arch})"),
                      el("code", "  ".join(f"{k}={v:#x}" for k, v in t.registers.named())), class_="regs")
        rows.append((ids.tid(p.pid, t.tid), [str(t.tid), t.comm or "", syscall_text(t) or "-", hexa(ip),
                                             where or el("span", "-", class_="note"), hexa(sp),
                                             ", ".join(signal_names(t.blocked_signals)) or "-", regs]))
    parts += [el("h4", "Threads"),
              table(ids(f"pid-{p.pid}-threads"), ["TID", "COMM", "SYSCALL", "IP", "SYMBOL", "SP", "BLOCKED", ""],
                    rows, num=(0,), mono=(3, 4, 5), label="threads")]

    if p.pid in src.python:
        parts += python_stacks_html(src.python[p.pid], ids, masker)

    # file descriptors
    tables = src.tables.get(p.pid, {})
    fd_of = {fd.fd: fd for fd in p.fds}

    def socket_link(row: dict[str, Any]) -> str | None:
        fd = fd_of.get(row["fd"])
        return ids.socket(p.pid, row["fd"]) if fd is not None and isinstance(fd.file, (f.UnixSocket, f.InetSocket)) \
            else None

    def peer_link(row: dict[str, Any]) -> str | None:
        fd = fd_of.get(row["fd"])
        s = fd.file if fd is not None else None
        return sockets_at.get(s.peer_ino) if isinstance(s, f.UnixSocket) and s.peer_ino else None

    if "fds" in tables:
        parts += [el("h4", "File descriptors"),
                  records_table(ids(f"pid-{p.pid}-fds"), tables["fds"], lambda r: ids.fd(p.pid, r["fd"]),
                                {"target": socket_link}, skip=("pid",), label="file descriptors")]
    if tables.get("sockets") is not None and tables["sockets"].rows:
        parts += [el("h4", "Sockets"),
                  records_table(ids(f"pid-{p.pid}-sockets"), tables["sockets"], lambda r: ids.socket(p.pid, r["fd"]),
                                {"fd": lambda r: ids.fd(p.pid, r["fd"]), "peer": peer_link}, skip=("pid",),
                                label="sockets")]
    parts += [el("h4", "Memory map"), memory_map_svg(src, p, ids)]
    if "mappings" in tables:
        parts.append(records_table(ids(f"pid-{p.pid}-vmas"), tables["mappings"], lambda r: ids.vma(p.pid, r["start"]),
                                   skip=("pid",), label="mappings"))
    env_names = {k: i for i, k in enumerate(p.env or {})}
    if p.env is not None and "environment" in tables:
        parts += [el("h4", "Environment"),
                  records_table(ids(f"pid-{p.pid}-env"), tables["environment"],
                                lambda r: ids.env(p.pid, env_names.get(r["name"], 0)), skip=("pid",),
                                label="variables", masked=lambda r: p.env is not None and
                                r["value"] != p.env.get(r["name"]))]
    else:
        parts += [el("h4", "Environment"), el("p", "not readable (see warnings)", class_="note")]

    handlers = [s for s in p.sigactions if s.handler != 0]
    if handlers or p.rlimits:
        more = []
        if handlers:
            more.append(table(ids(f"pid-{p.pid}-signals"), ["SIGNAL", "DISPOSITION", "HANDLER", "FLAGS"],
                              [(None, [str(s.signo), s.disposition, hexa(s.handler), hexa(s.flags)]) for s in handlers],
                              mono=(2, 3)))
        if p.rlimits:
            more.append(table(ids(f"pid-{p.pid}-rlimits"), ["LIMIT", "SOFT", "HARD"],
                              [(None, [k, str(s), str(h)]) for k, (s, h) in p.rlimits.items()],
                              num=(1, 2)))
        parts.append(el("details", el("summary", "signal handlers and resource limits"), more, class_="more"))
    return el("section", parts, class_="process", id=ids.pid(p.pid))


def mounts_section(ck: Checkpoint, ids: Ids) -> Html:
    known = {m.mnt_id for m in ck.mounts}
    rows = [(ids.mount(m.mnt_id), [str(m.mnt_id), a(ids.mount(m.parent_mnt_id), str(m.parent_mnt_id))
                                   if m.parent_mnt_id in known else str(m.parent_mnt_id),
                                   m.mountpoint, m.fstype, m.source, m.root, m.options, m.propagation,
                                   str(m.external) if m.external else ""]) for m in ck.mounts]
    return el("section", el("h3", "Mounts"),
              table(ids("mounts-table"), ["ID", "PARENT", "MOUNTPOINT", "FSTYPE", "SOURCE", "ROOT", "OPTIONS",
                                          "PROPAGATION", "EXTERNAL"], rows, num=(0, 1), mono=(2, 4, 5),
                    wrap=(2, 4, 5, 6), label="mounts"), id=ids("mounts"))


def namespaces_section(ck: Checkpoint, ids: Ids) -> Html:
    rows = [(None, [n.kind, str(n.ns_id), frag([frag(a(ids.pid(p), str(p)), " ") for p in n.pids])])
            for n in ck.namespaces]
    facts = kv([("hostname", ck.hostname or "-"), ("domainname", ck.domainname or "-")])
    return el("section", el("h3", "Namespaces"), facts,
              table(ids("namespaces-table"), ["KIND", "ID", "PROCESSES"], rows, num=(1,), label="namespaces"),
              id=ids("namespaces"))


def cgroups_section(ck: Checkpoint, ids: Ids) -> Html:
    rows = []
    for cg in ck.cgroups:
        users = [p.pid for p in ck.processes if p.cgroup_set == cg.id]
        for ctl, path in sorted(cg.controllers.items()):
            rows.append((None, [str(cg.id), ctl or "(v2 unified)", path,
                                frag([frag(a(ids.pid(u), str(u)), " ") for u in users])]))
    return el("section", el("h3", "Cgroups"),
              table(ids("cgroups-table"), ["SET", "CONTROLLER", "PATH", "PROCESSES"], rows, num=(0,), mono=(2,),
                    wrap=(2,), label="cgroups"), id=ids("cgroups"))


def files_section(ck: Checkpoint, ids: Ids) -> Html:
    parts: list[Any] = []
    if ck.tmpfs:
        rows = [(None, [t.image, t.mountpoint or "?", m.name, m.type, str(m.size), fmt_time(m.mtime)])
                for t in ck.tmpfs for m in t.members]
        parts += [el("h4", "tmpfs contents CRIU archived"),
                  table(ids("tmpfs-table"), ["ARCHIVE", "MOUNTED AT", "MEMBER", "TYPE", "SIZE", "MTIME"], rows,
                        mono=(2,), num=(4,), wrap=(2,), label="files")]
    if ck.stdio:
        parts += [el("h4", "Standard streams (descriptors.json)"),
                  el("ol", [el("li", el("code", s)) for s in ck.stdio], start=0)]
    if not parts:
        return Html("")
    return el("section", el("h3", "Saved files"), parts, id=ids("files"))


def warnings_section(ck: Checkpoint, ids: Ids) -> Html:
    if not ck.warnings and not ck.errors:
        return Html("")
    parts: list[Any] = [el("h3", "Problems with the evidence")]
    if ck.errors:
        parts.append(el("div", el("strong", f"{len(ck.errors)} errors (decoding stopped there):"),
                        el("ul", [el("li", el("code", e)) for e in ck.errors]), class_="banner"))
    if ck.warnings:
        parts.append(el("div", el("strong", f"{len(ck.warnings)} warnings:"),
                        el("ul", [el("li", el("code", w)) for w in ck.warnings]), class_="warnbox"))
    return el("section", parts, id=ids("problems"))


def checkpoint_block(src: ReportedCheckpoint, ids: Ids, masker: Masker) -> list[Html]:
    ck = src.ck
    sockets_at = _socket_anchors(ck, ids)
    shown_procs = ck.processes[:MAX_PROCESS_SECTIONS]
    left_out = len(ck.processes) - len(shown_procs)
    note = el("p", f"{left_out} more processes have no section of their own (at most {MAX_PROCESS_SECTIONS}: "
                   "FORENSICS_HTML_MAX_PROCESSES=N raises it; inspect --json has them all)",
              class_="note") if left_out > 0 else Html("")
    return [warnings_section(ck, ids), findings_section(src, ids), process_tree(ck, ids), process_index(ck, ids),
            *[process_section(src, p, ids, masker, sockets_at) for p in shown_procs], note,
            mounts_section(ck, ids), namespaces_section(ck, ids), cgroups_section(ck, ids), files_section(ck, ids)]


# ------------------------------------------------------------------ changes and timeline

def _change_value(value: Any, masker: Masker) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={masker.value(str(k), str(v))}" for k, v in value.items())
    if isinstance(value, list):
        return masker.text(" ".join(map(str, value)))
    return masker.text(str(value))


def _env_change(old: dict | None, new: dict | None, masker: Masker) -> tuple[str, str]:
    """Only the variables that differ, with secret-looking values masked."""
    old, new = old or {}, new or {}
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))

    def show(env: dict, k: str) -> str:
        if k not in env:
            return f"{k} (unset)"
        v = env[k]
        return f"{k}={masker.value(k, v)}"

    return "; ".join(show(old, k) for k in keys), "; ".join(show(new, k) for k in keys)


def diff_section(report: Report, k: int, d: Diff) -> Html:
    """Changes from checkpoint k to k+1: values that moved, model changes, changed pages."""
    multi = len(report.sources) > 1
    ids_b = Ids(f"ck{k + 1}-" if multi else "")
    did = f"diff-{k}"
    shown = [v for v in d.values if v.noise is None]
    noise = [v for v in d.values if v.noise is not None]

    def capped(values: list[ValueChange]) -> Html:
        if len(values) <= MAX_VALUE_ROWS:
            return Html("")
        return el("p", f"{len(values) - MAX_VALUE_ROWS} more not shown here; `forensics diff --json` lists them all.",
                  class_="note")

    def value_rows(values: list[ValueChange], prefix: str) -> list[tuple[str | None, list[Any]]]:
        rows: list[tuple[str | None, list[Any]]] = []
        for v in values:
            change: Any = ""
            if v.grew is True:
                change = el("span", f"grew by {v.new - v.old}", class_="grew")  # type: ignore[operator]
            elif v.grew is False:
                change = el("span", f"shrank by {v.old - v.new}", class_="shrank")  # type: ignore[operator]
            if v.noise:
                change = frag(change, " ", el("span", f"noise: {v.noise}", class_="tag"))
            rows.append((f"{prefix}-{v.pid}-{v.address:x}",
                         [a(ids_b.pid(v.pid), str(v.pid)), hexa(v.address), v.symbol or v.where, v.type,
                          fmt_value(v.old, v.type), fmt_value(v.new, v.type), change]))
        return rows

    headers = ["PID", "ADDRESS", "NAME / WHERE", "TYPE", "OLD", "NEW", "CHANGE"]
    parts: list[Any] = [
        el("h2", f"Changes: checkpoint {k} → {k + 1}"),
        kv([("from", ck_title(report.sources[k - 1], k)), ("to", ck_title(report.sources[k], k + 1)),
            ("processes matched", f"{len(d.pairs)} (by {', '.join(sorted({p.rule for p in d.pairs})) or 'nothing'})")]),
        el("h3", "Values that moved", id=f"{did}-values"),
        table(f"{did}-values-table", headers, value_rows(shown[:MAX_VALUE_ROWS], f"{did}-value"), mono=(1, 4, 5),
              wrap=(2, 4, 5), num=(0,), label="values") if shown
        else el("p", "No value moved outside stacks and vDSO data.", class_="note"),
        capped(shown),
    ]
    if noise:
        parts.append(el("details", el("summary", f"{len(noise)} changes in thread stacks and vDSO data "
                                                  "(expected in every checkpoint)"),
                        table(f"{did}-noise-table", headers, value_rows(noise[:MAX_VALUE_ROWS], f"{did}-noise"),
                              mono=(1, 4, 5), wrap=(2, 4, 5), num=(0,), label="values"), capped(noise), class_="more"))
    rows = []
    for c in d.changes:
        sign = {"added": "+ added", "removed": "− removed", "changed": "~ changed"}.get(c.what, c.what)
        if c.field == "env":
            old, new = _env_change(c.old, c.new, report.masker)
        else:
            old, new = _change_value(c.old, report.masker), _change_value(c.new, report.masker)
        pid: Any = a(ids_b.pid(c.pid), str(c.pid)) if c.pid is not None and report.sources[k].ck.process(c.pid) \
            else (str(c.pid) if c.pid is not None else "")
        rows.append((None, [c.section, pid, sign, c.subject + (f" ({c.note})" if c.note else ""), c.field or "",
                            old, new]))
    parts += [el("h3", "Processes, file descriptors, sockets, mounts, mappings", id=f"{did}-model"),
              table(f"{did}-model-table", ["SECTION", "PID", "WHAT", "SUBJECT", "FIELD", "OLD", "NEW"], rows,
                    wrap=(3, 5, 6), mono=(5, 6), label="changes") if rows
              else el("p", "No change in processes, fds, sockets, mounts or mappings.", class_="note")]
    parts.append(el("h3", "Changed pages", id=f"{did}-pages"))
    if d.memory:
        parts.append(changed_pages_svg(d.memory, ids_b.vma, d.b.page_size_of))
        parts.append(table(f"{did}-pages-table", ["PID", "MAPPING", "CHANGED", "APPEARED", "VANISHED", "PAGES"],
                           [(None, [a(ids_b.pid(m.pid), str(m.pid)),
                                    a(ids_b.vma(m.pid, m.vma.start),
                                      f"{m.vma.start:x}-{m.vma.end:x} {m.vma.label or m.vma.kind}"),
                                    str(m.changed), str(m.appeared), str(m.vanished),
                                    " ".join(hexa(x) for x in m.changed_pages[:64])
                                    + (" …" if len(m.changed_pages) > 64 else "")])
                            for m in d.memory], num=(0, 2, 3, 4), mono=(1, 5), wrap=(5,), label="mappings"))
    else:
        parts.append(el("p", "No page changed.", class_="note"))
    return el("section", parts, id=did)


def timeline_section(report: Report) -> Html:
    labels = [ck_title(s, k) for k, s in enumerate(report.sources, 1)]
    parts: list[Any] = [el("h2", "Timeline"),
                        el("p", "Every value that moved between two consecutive checkpoints (outside stacks and vDSO "
                                "data), read in every checkpoint.", class_="note")]
    if not report.tracks:
        parts.append(el("p", "No value moved.", class_="note"))
        return el("section", parts, id="timeline")
    cards = []
    for t in report.tracks:
        values = []
        for i, p in enumerate(t.points):
            shown = fmt_value(p.value, t.shown_as) if p.missing is None \
                else el("span", f"not readable: {p.missing}", class_="note")
            values.append(el("tr", el("th", str(i + 1)), el("td", shown, class_="mono wrap")))
        numeric = any(isinstance(p.value, (int, float)) for p in t.points)
        cards.append(el("div", el("h4", a(ids_pid(report, len(report.sources), t.pid), f"pid {t.pid}"), " ",
                                  t.name, " ", el("code", hexa(t.address)), " ", el("span", t.shown_as, class_="tag"),
                                  " ", el("span", t.trend, class_="tag good") if t.trend else None),
                        line_plot_svg(t, labels) if numeric else None,
                        el("table", el("tbody", values), class_="kv"), class_="card",
                        id=f"track-{t.pid}-{t.address:x}"))
    parts.append(el("div", cards, class_="cards"))
    return el("section", parts, id="timeline")


def ids_pid(report: Report, k: int, pid: int) -> str:
    return Ids(f"ck{k}-" if len(report.sources) > 1 else "").pid(pid)


def manifest_section(report: Report) -> Html:
    rows = []
    multi = len(report.sources) > 1
    for k, s in enumerate(report.sources, 1):
        kinds = {i.name: i.kind + (f": {i.error}" if i.error else "") for i in s.ck.info.images}
        for e in s.manifest:
            rows.append((None, [str(k) if multi else None, e.name, str(e.size) if e.size is not None else "",
                                e.sha256 or "", fmt_time(e.mtime) if e.mtime else "",
                                e.note or kinds.get(e.name, "")]))
    headers = ["FILE", "BYTES", "SHA-256", "MODIFIED", "NOTE"]
    if multi:
        headers = ["CK", *headers]
    else:
        rows = [(r, cells[1:]) for r, cells in rows]
    off = 1 if multi else 0
    return el("section", el("h2", "Evidence manifest"),
              el("p", "SHA-256 of every file the report was made from, hashed as it was read. The tool never "
                      "writes into the evidence.", class_="note"),
              table("manifest-table", headers, rows, mono=(off, off + 2), num=(off + 1,), wrap=(off,), label="files"),
              id="manifest")


# ------------------------------------------------------------------ the page

def toc(report: Report) -> Html:
    multi = len(report.sources) > 1
    items: list[Html] = [el("li", a("overview", "Overview"))]
    if any(s.ck.partial for s in report.sources):
        items.append(el("li", a("errors", "Errors (partial result)")))
    for k, d in enumerate(report.diffs, 1):
        items.append(el("li", a(f"diff-{k}", f"Changes {k} → {k + 1}"),
                        el("ul", el("li", a(f"diff-{k}-values", "values that moved")),
                           el("li", a(f"diff-{k}-model", "processes, fds, sockets")),
                           el("li", a(f"diff-{k}-pages", "changed pages")))))
    if report.diffs:
        items.append(el("li", a("timeline", "Timeline")))
    for k, s in enumerate(report.sources, 1):
        ids = Ids(f"ck{k}-" if multi else "")
        sub = [el("li", a(ids("findings"), f"Findings ({len(s.findings)})")),
               el("li", a(ids("process-tree"), "Process tree")),
               el("li", a(ids("processes"), f"Processes ({len(s.ck.processes)})"), pid_list(s.ck, ids)),
               el("li", a(ids("mounts"), "Mounts")), el("li", a(ids("namespaces"), "Namespaces")),
               el("li", a(ids("cgroups"), "Cgroups"))]
        if s.ck.warnings or s.ck.errors:
            sub.insert(0, el("li", a(ids("problems"), "Problems with the evidence")))
        if multi:
            items.append(el("li", a(f"ck{k}", ck_title(s, k)), el("ul", sub)))
        else:
            items.extend(sub)
    items.append(el("li", a("manifest", "Evidence manifest")))
    return el("nav", el("h2", "Contents"), el("ul", items), class_="toc", aria_label="Contents")


def pid_list(ck: Checkpoint, ids: Ids) -> Html:
    links = el("div", [a(ids.pid(p.pid), f"{p.pid} {shorten(p.comm, 16)}") for p in ck.processes], class_="pidlist")
    if len(ck.processes) <= 12:
        return links
    return el("details", el("summary", "every pid"), links)


def _asset(name: str) -> str:
    return (resources.files("forensics.render") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def render(report: Report) -> str:
    """The page, as one string of HTML."""
    css, js = _asset("report.css"), _asset("report.js")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; img-src 'none'; "
           "connect-src 'none'; font-src 'none'; object-src 'none'; frame-src 'none'; base-uri 'none'; "
           "form-action 'none'")
    multi = len(report.sources) > 1
    names = sorted({s.ck.info.container_name for s in report.sources if s.ck.info.container_name})
    first = report.sources[0].ck
    subject = "container " + ", ".join(names) if names else \
        Path(first.info.path).name + (f" (host {first.hostname})" if first.hostname else "")
    title = f"Checkpoint report: {subject}"
    body: list[Any] = [
        el("header", el("h1", title),
           el("p", f"{len(report.sources)} checkpoint{'s' if multi else ''} · made {report.created} by forensics "
                   f"{report.version}", class_="sub"), class_="top"),
        problems_banner(report), overview(report)]
    for k, d in enumerate(report.diffs, 1):
        body.append(diff_section(report, k, d))
    if report.diffs:
        body.append(timeline_section(report))
    for k, s in enumerate(report.sources, 1):
        if multi:
            ids = Ids(f"ck{k}-")
            body.append(el("section", el("h2", ck_title(s, k)), checkpoint_block(s, ids, report.masker),
                           class_="checkpoint", id=f"ck{k}"))
        else:
            body.append(el("section", el("h2", "Checkpoint"), checkpoint_block(s, Ids(), report.masker),
                           class_="checkpoint", id="checkpoint"))
    body.append(manifest_section(report))
    body.append(el("footer", f"forensics {report.version} · {report.command}"))
    head = frag(el("meta", charset="utf-8"), el("meta", http_equiv="Content-Security-Policy", content=csp),
                el("meta", name="viewport", content="width=device-width, initial-scale=1"),
                el("meta", name="referrer", content="no-referrer"),
                el("title", title), raw(f"<style>{css}</style>"))
    page = el("div", toc(report), el("main", body), class_="layout")
    return "<!DOCTYPE html>\n" + el("html", el("head", head), el("body", page, raw(f"<script>{js}</script>")),
                                    lang="en") + "\n"


def write(report: Report, path: Path) -> None:
    """Write the page next to nothing else: one file, UTF-8."""
    path.write_text(render(report), encoding="utf-8")
