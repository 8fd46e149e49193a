"""The model on a terminal with rich: a summary, the process tree, then the sections asked for.

Tables use the terminal's width and fold long cells, so they fit 80 columns and use more when there is
more. Nothing here decodes; it only lays out what the model holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.flags import capability_names, syscall_name
from forensics.model.process import Process
from forensics.render.escape import shown


@dataclass(frozen=True, slots=True)
class Sections:
    ps: bool = False
    threads: bool = False
    fds: bool = False
    sockets: bool = False
    mounts: bool = False
    maps: bool = False
    env: bool = False
    pid: int | None = None

    @classmethod
    def everything(cls, pid: int | None = None) -> Sections:
        return cls(True, True, True, True, True, True, True, pid)


# A terminal table is for reading: rich lays out ~1,000 rows a second, so a hostile (or huge) checkpoint
# with a million mappings would take most of an hour. Each table and the tree show at most MAX_ROWS rows
# and say how many more there are; --json always has everything. FORENSICS_MAX_ROWS raises it.
MAX_ROWS = int(os.environ.get("FORENSICS_MAX_ROWS", "5000") or 5000)
# The tree is drawn at most this deep; deeper processes are listed flat under their ancestor at this depth.
TREE_DEPTH = 12


def _fill(t: Table, rows: Iterable[tuple[str, ...]], total: int) -> Table:
    """Add at most MAX_ROWS of `rows` to `t`; a caption says how many of `total` were left out."""
    for cells in islice(rows, MAX_ROWS):
        t.add_row(*cells)
    if total > MAX_ROWS:
        t.caption = (f"{total - MAX_ROWS} more rows not shown (at most {MAX_ROWS} per table: "
                     "FORENSICS_MAX_ROWS=N raises it; --json has them all)")
        t.caption_justify = "left"
    return t


def make_console(stderr: bool = False) -> Console:
    """The console every command prints with: decoded strings such as "[heap]" or a process's argv are
    data, so rich markup and auto-highlighting are off."""
    return Console(markup=False, highlight=False, stderr=stderr)


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def summary(ck: Checkpoint) -> Table:
    i = ck.info
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    t.add_row("checkpoint", shown(i.path))
    t.add_row("layout", shown(i.layout + (f" ({i.engine})" if i.engine else "")))
    if i.container_name or i.container_id:
        t.add_row("container", shown(f"{i.container_name or ''} {(i.container_id or '')[:12]}".strip()))
    if i.image:
        t.add_row("image", shown(i.image))
    if i.checkpoint_time:
        t.add_row("taken", shown(i.checkpoint_time))
    if i.criu_version:
        t.add_row("CRIU", shown(f"{i.criu_version} ({i.criu_version_source})"))
    if ck.hostname:
        t.add_row("hostname", shown(ck.hostname))
    t.add_row("size", f"{size(i.total_size)} in {len(i.images)} files, {size(i.pages_size)} of memory pages")
    nthreads = sum(len(p.threads) for p in ck.processes)
    t.add_row("processes", f"{len(ck.processes)} ({nthreads} threads)")
    if i.parent:
        t.add_row("parent", shown(i.parent))
    w = ck.wrapper
    if w.get("files"):
        t.add_row("also holds", shown(", ".join(sorted(w["files"]))))
    if "rootfs_diff" in w:
        execs = [e["path"] for e in w["rootfs_diff"] if e.get("type") == "file" and (e.get("mode") or 0) & 0o111]
        t.add_row("container wrote", f"{len(w['rootfs_diff'])} paths (rootfs-diff.tar), {len(execs)} executable; "
                                     f"{len(w.get('deleted_files') or [])} deleted")
    for name, lines in (w.get("logs") or {}).items():
        if lines:
            t.add_row(shown(name), "\n".join(shown(line) for line in lines[-3:]))
    return t


def _argv(p: Process) -> str:
    if p.argv:
        return shown(" ".join(p.argv))
    return shown(f"[{p.comm}]")


def process_tree(ck: Checkpoint) -> Tree:
    by_pid = {p.pid: p for p in ck.processes}
    root = Tree(Text("process tree", style="bold"))
    nodes = {}

    def label(p: Process) -> Text:
        t = Text()
        t.append(f"{p.pid}", style="cyan")
        t.append(f" {shown(p.comm)}", style="bold")
        if p.state != "alive":
            t.append(f" ({p.state})", style="red")
        t.append("  " + _argv(p), style="dim")
        if len(p.threads) > 1:
            t.append(f"  [{len(p.threads)} threads]", style="magenta")
        return t

    depth: dict[int, int] = {}
    for n, p in enumerate(ck.processes):   # parents come before children (model.load's tree order)
        if n == MAX_ROWS:
            root.add(Text(f"... {len(ck.processes) - MAX_ROWS} more processes not shown (FORENSICS_MAX_ROWS=N "
                          "raises it; --ps and --json list them all)", style="yellow"))
            break
        parent = nodes.get(p.ppid) if p.ppid in by_pid and p.ppid != p.pid else None
        d = depth.get(p.ppid, -1) + 1 if parent is not None else 0
        if d >= TREE_DEPTH:
            # Drawn flat under the ancestor at the depth limit: a 100,000-deep chain stays readable.
            nodes[p.pid] = nodes[p.ppid]
            depth[p.pid] = depth[p.ppid]
            nodes[p.pid].add(Text(f"(child of {p.ppid}) ", style="dim") + label(p))
            continue
        depth[p.pid] = d
        nodes[p.pid] = (parent or root).add(label(p))
    return root


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", expand=False, show_edge=False,
              header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    return t


def ps_table(procs: list[Process]) -> Table:
    t = _table("processes", "PID", "PPID", "PGID", "SID", "COMM", "STATE", "UID", "CAPS", "SECCOMP", "THR")

    def rows() -> Iterator[tuple[str, ...]]:
        for p in procs:
            c = p.creds
            caps = capability_names(c.cap_eff) if c else []
            yield (str(p.pid), str(p.ppid), str(p.pgid), str(p.sid), shown(p.comm), p.state,
                   str(c.uids[1]) if c else "?", f"{len(caps)} caps" if caps else "none", p.seccomp_mode,
                   str(len(p.threads)))
    return _fill(t, rows(), len(procs))


def threads_table(procs: list[Process], stops: dict | None = None) -> Table:
    t = _table("threads", "PID", "TID", "COMM", "IP", "SP", "SYSCALL", "STOPPED IN")

    def rows() -> Iterator[tuple[str, ...]]:
        for p in procs:
            for th in p.threads:
                ip = th.registers.ip if th.registers else None
                sp = th.registers.sp if th.registers else None
                stop = (stops or {}).get((p.pid, th.tid))
                yield (str(p.pid), str(th.tid), shown(th.comm or ""), f"0x{ip:x}" if ip is not None else "?",
                       f"0x{sp:x}" if sp is not None else "?", syscall_name(th.syscall) or "-",
                       shown(stop.location) if stop else "")
    return _fill(t, rows(), sum(len(p.threads) for p in procs))


def thread_stops(procs: list[Process], stops: dict) -> Group:
    """Per thread: the instructions around the stop and the stack, callers marked heuristic where the
    frame chain could not prove them."""
    parts: list = []
    for p in procs:
        for th in p.threads:
            stop = stops.get((p.pid, th.tid))
            if stop is None:
                continue
            head = Text(f"pid {p.pid} tid {th.tid} {shown(th.comm or '')}: ", style="bold")
            head.append(shown(stop.location), style="cyan")
            if stop.location.note:
                head.append(f"  ({shown(stop.location.note)})", style="yellow")
            parts.append(head)
            for ins in stop.instructions:
                parts.append(Text(("  => " if ins.current else "     ") + f"{ins.address:x}  {ins.mnemonic} {ins.op_str}",
                                  style="bold" if ins.current else "dim"))
            for fr, loc in stop.frames[:12]:
                parts.append(Text(f"     #{fr.index:<2} {fr.ip:x}  {shown(loc)}" + ("  (heuristic)" if fr.heuristic else "")))
    return Group(*parts)


def fds_table(procs: list[Process]) -> Table:
    t = _table("file descriptors", "PID", "FD", "TYPE", "TARGET", "DETAIL")

    def rows() -> Iterator[tuple[str, ...]]:
        for p in procs:
            for fd in p.fds:
                obj = fd.file
                detail = ""
                if isinstance(obj, f.RegularFile):
                    detail = f"pos {obj.pos}" + (f" size {obj.size}" if obj.size is not None else "")
                elif isinstance(obj, (f.Pipe, f.Fifo, f.UnixSocket, f.InetSocket)) and obj.queued_bytes:
                    detail = f"{obj.queued_bytes} bytes queued"
                elif isinstance(obj, f.EventFd):
                    detail = f"count {obj.count}"
                target = obj.describe() if obj else f"missing file id {fd.missing_file_id}"
                yield (str(p.pid), str(fd.fd), fd.type, shown(target), detail)
    return _fill(t, rows(), sum(len(p.fds) for p in procs))


def sockets_table(procs: list[Process]) -> Table:
    t = _table("sockets", "PID", "FD", "FAMILY", "TYPE", "STATE", "LOCAL", "PEER", "QUEUED")
    kinds = (f.InetSocket, f.UnixSocket, f.NetlinkSocket, f.PacketSocket)

    def rows() -> Iterator[tuple[str, ...]]:
        for p in procs:
            for fd in p.fds:
                s = fd.file
                if isinstance(s, f.InetSocket):
                    yield (str(p.pid), str(fd.fd), s.family, f"{s.proto}", s.state, shown(s.local),
                           shown(s.peer) if s.state != "LISTEN" else "", str(s.queued_bytes))
                elif isinstance(s, f.UnixSocket):
                    yield (str(p.pid), str(fd.fd), "unix", s.sock_type, s.state, shown(s.name or ""),
                           shown(s.peer_name or (str(s.peer_ino) if s.peer_ino else "")), str(s.queued_bytes))
                elif isinstance(s, (f.NetlinkSocket, f.PacketSocket)):
                    yield (str(p.pid), str(fd.fd), s.type, "", "", "", "", "")
    return _fill(t, rows(), sum(isinstance(fd.file, kinds) for p in procs for fd in p.fds))


def maps_table(procs: list[Process]) -> Table:
    t = _table("memory maps", "PID", "START", "END", "PROT", "KIND", "DUMPED", "PATH")
    rows = ((str(p.pid), f"{v.start:x}", f"{v.end:x}", v.prot_str + ("s" if v.shared else "p"), v.kind,
             f"{v.dumped_pages}/{v.size // 4096}", shown(v.label)) for p in procs for v in p.vmas)
    return _fill(t, rows, sum(len(p.vmas) for p in procs))


def mounts_table(ck: Checkpoint) -> Table:
    t = _table("mounts", "ID", "PARENT", "MOUNTPOINT", "FSTYPE", "SOURCE", "EXTERNAL")
    rows = ((str(m.mnt_id), str(m.parent_mnt_id), shown(m.mountpoint), shown(m.fstype), shown(m.source),
             shown(m.external) if m.external else "") for m in ck.mounts)
    return _fill(t, rows, len(ck.mounts))


def env_table(procs: list[Process]) -> Table:
    t = _table("environment", "PID", "NAME", "VALUE")
    rows = ((str(p.pid), shown(k), shown(v)) for p in procs for k, v in (p.env or {}).items())
    return _fill(t, rows, sum(len(p.env or {}) for p in procs))


def render(ck: Checkpoint, sections: Sections, console: Console, stops: dict | None = None) -> None:
    procs = [p for p in ck.processes if sections.pid is None or p.pid == sections.pid]
    parts: list = [summary(ck), process_tree(ck)]
    if sections.ps:
        parts.append(ps_table(procs))
    if sections.threads:
        parts.append(threads_table(procs, stops))
        if stops:
            parts.append(thread_stops(procs, stops))
    if sections.fds:
        parts.append(fds_table(procs))
    if sections.sockets:
        parts.append(sockets_table(procs))
    if sections.maps:
        parts.append(maps_table(procs))
    if sections.mounts:
        parts.append(mounts_table(ck))
    if sections.env:
        parts.append(env_table(procs))
    console.print(Group(*parts))
    for kind, lines, style in (("warning", ck.warnings, "yellow"), ("error", ck.errors, "bold red")):
        for line in lines[:MAX_ROWS]:
            console.print(Text(f"{kind}: " + shown(line), style=style))
        if len(lines) > MAX_ROWS:
            console.print(Text(f"... {len(lines) - MAX_ROWS} more {kind}s not shown (FORENSICS_MAX_ROWS=N raises "
                               "it; --json has them all)", style=style))


def _value(v: object, kind: str) -> str:
    if kind == "str":
        return shown(repr(v).replace("'", '"') if isinstance(v, str) else str(v))
    if kind == "ptr" and isinstance(v, int):
        return f"0x{v:x}"
    return shown(v)


def render_diff(d, console: Console, show_all: bool = False) -> None:  # noqa: ANN001 - forensics.diff.compare.Diff
    """Model changes by section, changed pages per mapping, then the values that moved (noise folded)."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("A", shown(d.a.info.path))
    head.add_row("B", shown(d.b.info.path))
    rules = sorted({p.rule for p in d.pairs})
    head.add_row("matched", f"{len(d.pairs)} processes (by {', '.join(rules) or 'nothing'})")
    parts: list = [head]
    for section in ("processes", "fds", "sockets", "mounts", "vmas"):
        rows = d.section(section)
        if not rows:
            continue
        t = _table(section, "PID", "", "WHAT", "FIELD", "OLD", "NEW")
        signs = {"added": "+", "removed": "-", "changed": "~"}
        parts.append(_fill(t, ((str(c.pid or ""), signs[c.what], shown(c.subject + (f" ({c.note})" if c.note else "")),
                                shown(c.field or ""), "" if c.old is None else shown(c.old),
                                "" if c.new is None else shown(c.new)) for c in rows), len(rows)))
    if d.memory:
        t = _table("memory", "PID", "MAPPING", "CHANGED", "APPEARED", "VANISHED")
        parts.append(_fill(t, ((str(m.pid), shown(f"{m.vma.start:x}-{m.vma.end:x} {m.vma.label or m.vma.kind}"),
                                str(m.changed), str(m.appeared), str(m.vanished)) for m in d.memory), len(d.memory)))
    moved = [v for v in d.values if show_all or v.noise is None]
    if moved:
        t = _table("values that moved", "PID", "ADDRESS", "NAME", "TYPE", "OLD", "NEW", "")
        def mark(v: object) -> str:
            if v.noise:  # type: ignore[attr-defined]
                return f"noise: {v.noise}"  # type: ignore[attr-defined]
            return "grew" if v.grew else ("shrank" if v.grew is False else "")  # type: ignore[attr-defined]
        parts.append(_fill(t, ((str(v.pid), f"0x{v.address:x}", shown(v.symbol or v.where), v.type,
                                _value(v.old, v.type), _value(v.new, v.type), mark(v)) for v in moved), len(moved)))
    folded = sum(1 for v in d.values if v.noise is not None)
    console.print(Group(*parts))
    if folded and not show_all:
        console.print(Text(f"{folded} changes in thread stacks and vDSO data folded away (--all shows them)",
                           style="dim"))


def render_findings(found, console: Console) -> None:  # noqa: ANN001 - list of forensics.findings.rules.Finding
    t = _table("findings", "SCORE", "RULE", "FINDING", "DETAIL")
    _fill(t, ((str(x.score), x.rule, shown(x.title), shown(x.detail)) for x in found), len(found))
    console.print(t if found else Text("findings: none", style="dim"))
