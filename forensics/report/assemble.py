"""Gather what a report shows: `assemble` runs the analyses over the checkpoints and returns a `Report`.

Everything that reads evidence happens here (findings, diffs, series, the manifest's hashes, page counts
for the pictures); the renderer only formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics.memory.space import space_of
from forensics.diff.compare import Diff, diff_checkpoints
from forensics.diff.memory import Namer, ValueChange
from forensics.diff.timeline import Point, monotonic, series
from forensics.errors import ForensicsError
from forensics.findings.rules import Finding, findings
from forensics.locate.manifest import ManifestEntry, manifest
from forensics.model.checkpoint import Checkpoint
from forensics.model.secrets import Masker
from forensics.model.vma import Vma
from forensics.records import Table
from forensics.tables import inspect as process_tables
from forensics.tables.findings import masked
from forensics.tables.secrets import masker_for

# Past this many moved values (a process that rewrote its heap) the page would only get slower to read;
# `forensics diff --json` has them all.
MAX_TRACKS = 200
# A process's thread stop as `function+0xoff (file.c:12)`, or None when no symbol covers the address.
Symbolize = Callable[[int, int], "str | None"]
PageBins = Callable[[int, Vma, int], "list[tuple[int, int, int, int]]"]


@dataclass(slots=True)
class ReportedCheckpoint:
    """One checkpoint of the report: the input as given, the decoded model, its ranked findings, the files
    it was read from, and a thread-stop symbolizer when the binaries were found."""

    target: str
    ck: Checkpoint
    findings: list[Finding]
    manifest: list[ManifestEntry]
    symbolize: Symbolize | None = None
    # (pid, mapping, number of slices) -> (dumped, parent, lazy, pages) per slice, for the memory pictures.
    page_bins: PageBins | None = None
    # pid -> record name -> its declared table (fds, sockets, mappings, environment), masked.
    tables: dict[int, dict[str, Table]] = field(default_factory=dict)
    # pid -> Python stacks with locals (forensics.symbols.python.PyProcess) of each CPython process.
    python: dict[int, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Track:
    """One value that moved between some consecutive checkpoints, read in every checkpoint."""

    pid: int
    address: int
    kind: str
    shown_as: str
    name: str
    points: list[Point]
    trend: str | None


@dataclass(slots=True)
class Report:
    sources: list[ReportedCheckpoint]
    diffs: list[Diff] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    command: str = ""
    version: str = ""
    created: str = ""
    reveal: bool = False
    masker: Masker = field(default_factory=Masker)


class BinarySymbols:
    """Symbols of the container's binaries for one checkpoint, found through `resolver` (a path as the
    container saw it -> a local file, e.g. forensics.symbols.resolve.BinaryResolver): `name(pid, address)`
    labels a thread stop `function+0xoff (file.c:12)`, `namer` names the variable a changed value sits in
    (a forensics.diff.memory.Namer). Without the symbols package every answer is None."""

    def __init__(self, ck: Checkpoint, resolver: Callable[[str], Path | None]) -> None:
        self.ck = ck
        self.resolver = resolver
        self._by_pid: dict[int, Any] = {}
        self.namer: Namer | None = None
        try:
            from forensics.symbols.stops import make_namer, prove_syscalls
            self.namer = make_namer(ck, resolver)
            prove_syscalls(ck, resolver)   # aarch64: the syscall column needs the code at pc
        except ImportError:
            pass

    def _symbolizer(self, pid: int) -> Any:
        if pid not in self._by_pid:
            proc = self.ck.process(pid)
            try:
                from forensics.symbols.stops import symbolizer
                self._by_pid[pid] = symbolizer(proc, self.resolver) if proc is not None else None
            except ImportError:
                self._by_pid[pid] = None
        return self._by_pid[pid]

    def name(self, pid: int, address: int) -> str | None:
        s = self._symbolizer(pid)
        if s is None:
            return None
        try:
            loc = s.symbolize(address)
        except (ForensicsError, OSError, ValueError):
            return None
        return str(loc) if loc.symbol else None

    def python(self) -> dict[int, Any]:
        """pid -> Python stacks with locals (forensics.symbols.python.PyProcess) of every CPython process;
        without the interpreter's binary each says "binary not found, give --rootfs"."""
        try:
            from forensics.symbols.python import python_stacks
        except ImportError:
            return {}
        return {p.pid: p for p in python_stacks(self.ck, self.resolver, with_locals=True)}

    def close(self) -> None:
        for s in self._by_pid.values():
            if s is not None:
                s.close()


def _timeline_kind(v: ValueChange) -> str | None:
    if v.type in ("u8", "u16", "u32", "u64", "str"):
        return v.type
    if v.type == "ptr":
        return "u64"
    return None


def assemble(targets: list[str], checkpoints: list[Checkpoint], *, reveal: bool = False,
             symbols: list[BinarySymbols | None] | None = None, command: str = "", version: str = "",
             progress: Callable[[int], None] | None = None) -> Report:
    """Everything the page shows: findings of each checkpoint, diffs between consecutive ones (values named
    by the binaries' symbols when given), a timeline of every value that moved, and the evidence manifest."""
    symbols = symbols or [None] * len(checkpoints)
    masker = masker_for(checkpoints, reveal)
    sources = [ReportedCheckpoint(t, ck, masked(findings(ck, reveal, resolver=s.resolver if s else None), masker),
                                  manifest(t, ck.info.path), s.name if s else None, _bins_of(ck))
               for t, ck, s in zip(targets, checkpoints, symbols)]
    for src, s in zip(sources, symbols):
        src.python = (s or BinarySymbols(src.ck, lambda _path: None)).python()
    for src in sources:
        for proc in src.ck.processes:
            src.tables[proc.pid] = {
                "fds": process_tables.fds([proc]), "sockets": process_tables.sockets([proc]),
                "mappings": process_tables.mappings([proc]),
                "environment": process_tables.environment([proc], masker)}
    report = Report(sources, command=command, version=version, reveal=reveal,
                    created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), masker=masker)
    for i in range(len(checkpoints) - 1):
        later = symbols[i + 1]
        namer = later.namer if later is not None else None
        report.diffs.append(diff_checkpoints(checkpoints[i], checkpoints[i + 1], namer, progress))
    seen: set[tuple[int, int, str]] = set()
    for d in report.diffs:
        for v in d.values:
            kind = _timeline_kind(v)
            if v.noise is not None or kind is None or (v.pid, v.address, kind) in seen:
                continue
            if len(report.tracks) >= MAX_TRACKS:
                break
            seen.add((v.pid, v.address, kind))
            points = series(checkpoints, v.pid, v.address, kind)
            report.tracks.append(Track(v.pid, v.address, kind, v.type, v.symbol or v.where, points,
                                       monotonic(points)))
    return report


def page_bins(ck: Checkpoint, pid: int, vma: Vma, bins: int) -> list[tuple[int, int, int, int]]:
    """(dumped, parent, lazy, pages) for `bins` equal slices of a mapping, from its page store."""
    space = space_of(ck, pid)
    PAGE = ck.page_size_of(pid)  # noqa: N806 - the page size of this process
    pages = max(vma.size // PAGE, 1)
    bins = max(1, min(bins, pages))
    store, base = None, vma.start
    if space is not None:
        store = space.store
        link = space.shared_of.get(vma.start)
        if link is not None:
            store, base = space.shared.get(link[0]), link[1]
    out = []
    for i in range(bins):
        lo, hi = pages * i // bins, pages * (i + 1) // bins
        if store is None:
            out.append((0, 0, 0, hi - lo))
            continue
        d, p, z = store.dumped_pages(base + lo * PAGE, base + hi * PAGE)
        out.append((d, p, z, hi - lo))
    return out


def _bins_of(ck: Checkpoint) -> PageBins:
    return lambda pid, vma, n: page_bins(ck, pid, vma, n)

