"""The model on a terminal with rich: a summary, the process tree, then the sections asked for.

Tables use the terminal's width and fold long cells, so they fit 80 columns and use more when there is
more. Nothing here decodes; it only lays out what the model holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.flags import capability_names, syscall_name
from forensics.model.process import Process
from forensics.model.vma import Vma


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
    t.add_row("checkpoint", i.path)
    t.add_row("layout", i.layout + (f" ({i.engine})" if i.engine else ""))
    if i.container_name or i.container_id:
        t.add_row("container", f"{i.container_name or ''} {(i.container_id or '')[:12]}".strip())
    if i.image:
        t.add_row("image", i.image)
    if i.checkpoint_time:
        t.add_row("taken", i.checkpoint_time)
    if i.criu_version:
        t.add_row("CRIU", f"{i.criu_version} ({i.criu_version_source})")
    if ck.hostname:
        t.add_row("hostname", ck.hostname)
    t.add_row("size", f"{size(i.total_size)} in {len(i.images)} files, {size(i.pages_size)} of memory pages")
    nthreads = sum(len(p.threads) for p in ck.processes)
    t.add_row("processes", f"{len(ck.processes)} ({nthreads} threads)")
    if i.pre_dump:
        t.add_row("kind", "pre-dump: memory pages only (pids from the pagemap files; no process tree, "
                          "registers, files or mappings)")
    if i.parent:
        t.add_row("parent", i.parent)
    w = ck.wrapper
    if w.get("files"):
        t.add_row("also holds", ", ".join(sorted(w["files"])))
    if "rootfs_diff" in w:
        execs = [e["path"] for e in w["rootfs_diff"] if e.get("type") == "file" and (e.get("mode") or 0) & 0o111]
        t.add_row("container wrote", f"{len(w['rootfs_diff'])} paths (rootfs-diff.tar), {len(execs)} executable; "
                                     f"{len(w.get('deleted_files') or [])} deleted")
    for name, lines in (w.get("logs") or {}).items():
        if lines:
            t.add_row(name, "\n".join(lines[-3:]))
    return t


def _argv(p: Process) -> str:
    if p.argv:
        return " ".join(p.argv)
    return f"[{p.comm}]"


def process_tree(ck: Checkpoint) -> Tree:
    by_pid = {p.pid: p for p in ck.processes}
    root = Tree(Text("process tree", style="bold"))
    nodes = {}

    def label(p: Process) -> Text:
        t = Text()
        t.append(f"{p.pid}", style="cyan")
        t.append(f" {p.comm}", style="bold")
        if p.state != "alive":
            t.append(f" ({p.state})", style="red")
        t.append("  " + _argv(p), style="dim")
        if len(p.threads) > 1:
            t.append(f"  [{len(p.threads)} threads]", style="magenta")
        return t

    for p in ck.processes:
        parent = nodes.get(p.ppid) if p.ppid in by_pid else None
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
    for p in procs:
        c = p.creds
        caps = capability_names(c.cap_eff) if c else []
        t.add_row(str(p.pid), str(p.ppid), str(p.pgid), str(p.sid), p.comm, p.state,
                  str(c.uids[1]) if c else "?", f"{len(caps)} caps" if caps else "none", p.seccomp_mode,
                  str(len(p.threads)))
    return t


def threads_table(procs: list[Process], stops: dict | None = None) -> Table:
    t = _table("threads", "PID", "TID", "COMM", "IP", "SP", "SYSCALL", "STOPPED IN")
    for p in procs:
        for th in p.threads:
            ip = th.registers.ip if th.registers else None
            sp = th.registers.sp if th.registers else None
            stop = (stops or {}).get((p.pid, th.tid))
            t.add_row(str(p.pid), str(th.tid), th.comm or "", f"0x{ip:x}" if ip is not None else "?",
                      f"0x{sp:x}" if sp is not None else "?", syscall_name(th.syscall) or "-",
                      str(stop.location) if stop else "")
    return t


def thread_stops(procs: list[Process], stops: dict) -> Group:
    """Per thread: the instructions around the stop and the stack, callers marked heuristic where the
    frame chain could not prove them."""
    parts: list = []
    for p in procs:
        for th in p.threads:
            stop = stops.get((p.pid, th.tid))
            if stop is None:
                continue
            head = Text(f"pid {p.pid} tid {th.tid} {th.comm or ''}: ", style="bold")
            head.append(str(stop.location), style="cyan")
            if stop.location.note:
                head.append(f"  ({stop.location.note})", style="yellow")
            parts.append(head)
            for ins in stop.instructions:
                parts.append(Text(("  => " if ins.current else "     ") + f"{ins.address:x}  {ins.mnemonic} {ins.op_str}",
                                  style="bold" if ins.current else "dim"))
            for fr, loc in stop.frames[:12]:
                parts.append(Text(f"     #{fr.index:<2} {fr.ip:x}  {loc}" + ("  (heuristic)" if fr.heuristic else "")))
    return Group(*parts)


def fds_table(procs: list[Process]) -> Table:
    t = _table("file descriptors", "PID", "FD", "TYPE", "TARGET", "DETAIL")
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
            t.add_row(str(p.pid), str(fd.fd), fd.type, target, detail)
    return t


def sockets_table(procs: list[Process]) -> Table:
    t = _table("sockets", "PID", "FD", "FAMILY", "TYPE", "STATE", "LOCAL", "PEER", "QUEUED")
    for p in procs:
        for fd in p.fds:
            s = fd.file
            if isinstance(s, f.InetSocket):
                t.add_row(str(p.pid), str(fd.fd), s.family, f"{s.proto}", s.state, s.local,
                          s.peer if s.state != "LISTEN" else "", str(s.queued_bytes))
            elif isinstance(s, f.UnixSocket):
                t.add_row(str(p.pid), str(fd.fd), "unix", s.sock_type, s.state, s.name or "",
                          s.peer_name or (str(s.peer_ino) if s.peer_ino else ""), str(s.queued_bytes))
            elif isinstance(s, (f.NetlinkSocket, f.PacketSocket)):
                t.add_row(str(p.pid), str(fd.fd), s.type, "", "", "", "", "")
    return t


def dumped_cell(v: Vma, parent_known: bool) -> str:
    """Pages held of a mapping: those in this checkpoint and, in an incremental chain, those CRIU left
    in a parent (`+N parent`), out of the mapping's size; pages in a parent that is missing are not held."""
    total = v.size // 4096
    if not v.parent_pages:
        return f"{v.dumped_pages}/{total}"
    if not parent_known:
        return f"{v.dumped_pages}/{total} ({v.parent_pages} in missing parent)"
    return f"{v.held_pages}/{total} ({v.parent_pages} in parent)"


def maps_table(procs: list[Process], parent_known: bool = False) -> Table:
    t = _table("memory maps", "PID", "START", "END", "PROT", "KIND", "DUMPED", "PATH")
    for p in procs:
        for v in p.vmas:
            t.add_row(str(p.pid), f"{v.start:x}", f"{v.end:x}", v.prot_str + ("s" if v.shared else "p"), v.kind,
                      dumped_cell(v, parent_known), v.label)
    return t


def mounts_table(ck: Checkpoint) -> Table:
    t = _table("mounts", "ID", "PARENT", "MOUNTPOINT", "FSTYPE", "SOURCE", "EXTERNAL")
    for m in ck.mounts:
        t.add_row(str(m.mnt_id), str(m.parent_mnt_id), m.mountpoint, m.fstype, m.source,
                  str(m.external) if m.external else "")
    return t


def env_table(procs: list[Process]) -> Table:
    t = _table("environment", "PID", "NAME", "VALUE")
    for p in procs:
        for k, v in (p.env or {}).items():
            t.add_row(str(p.pid), k, v)
    return t


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
        parts.append(maps_table(procs, ck.info.parent is not None))
    if sections.mounts:
        parts.append(mounts_table(ck))
    if sections.env:
        parts.append(env_table(procs))
    console.print(Group(*parts))
    for w in ck.warnings:
        console.print(Text("warning: " + w, style="yellow"))
    for e in ck.errors:
        console.print(Text("error: " + e, style="bold red"))


def _value(v: object, kind: str) -> str:
    if kind == "str":
        return repr(v).replace("'", '"') if isinstance(v, str) else str(v)
    if kind == "ptr" and isinstance(v, int):
        return f"0x{v:x}"
    return str(v)


def render_diff(d, console: Console, show_all: bool = False) -> None:  # noqa: ANN001 - forensics.diff.compare.Diff
    """Model changes by section, changed pages per mapping, then the values that moved (noise folded)."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("A", d.a.info.path)
    head.add_row("B", d.b.info.path)
    rules = sorted({p.rule for p in d.pairs})
    head.add_row("matched", f"{len(d.pairs)} processes (by {', '.join(rules) or 'nothing'})")
    parts: list = [head]
    for section in ("processes", "fds", "sockets", "mounts", "vmas"):
        rows = d.section(section)
        if not rows:
            continue
        t = _table(section, "PID", "", "WHAT", "FIELD", "OLD", "NEW")
        for c in rows:
            sign = {"added": "+", "removed": "-", "changed": "~"}[c.what]
            t.add_row(str(c.pid or ""), sign, c.subject + (f" ({c.note})" if c.note else ""), c.field or "",
                      "" if c.old is None else str(c.old), "" if c.new is None else str(c.new))
        parts.append(t)
    if d.memory:
        t = _table("memory", "PID", "MAPPING", "CHANGED", "APPEARED", "VANISHED")
        for m in d.memory:
            t.add_row(str(m.pid), f"{m.vma.start:x}-{m.vma.end:x} {m.vma.label or m.vma.kind}", str(m.changed),
                      str(m.appeared), str(m.vanished))
        parts.append(t)
    shown = [v for v in d.values if show_all or v.noise is None]
    if shown:
        t = _table("values that moved", "PID", "ADDRESS", "NAME", "TYPE", "OLD", "NEW", "")
        for v in shown:
            mark = "grew" if v.grew else ("shrank" if v.grew is False else "")
            if v.noise:
                mark = f"noise: {v.noise}"
            t.add_row(str(v.pid), f"0x{v.address:x}", v.symbol or v.where, v.type, _value(v.old, v.type),
                      _value(v.new, v.type), mark)
        parts.append(t)
    folded = sum(1 for v in d.values if v.noise is not None)
    console.print(Group(*parts))
    if folded and not show_all:
        console.print(Text(f"{folded} changes in thread stacks and vDSO data folded away (--all shows them)",
                           style="dim"))


def render_findings(found, console: Console) -> None:  # noqa: ANN001 - list of forensics.findings.rules.Finding
    t = _table("findings", "SCORE", "RULE", "FINDING", "DETAIL")
    for x in found:
        t.add_row(str(x.score), x.rule, x.title, x.detail)
    console.print(t if found else Text("findings: none", style="dim"))
