"""The sections of `inspect` as declared tables: processes, threads, fds, sockets, mappings, mounts,
environment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.flags import DOCKER_DEFAULT_CAPS, capability_names, signal_names
from forensics.model.words import fd_detail, fd_flags, syscall_text
from forensics.model.process import Process
from forensics.model.secrets import Masker
from forensics.records import Fact, Kind, Table, TreeLine
from forensics.records.format import human_size
from forensics.records.kinds import ENV, FD, MAPPING, MOUNT, PROCESS, SOCKET, THREAD


def argv_text(p: Process, masker: Masker) -> str:
    return masker.text(" ".join(p.argv)) if p.argv else f"[{p.comm}]"


def processes(procs: Iterable[Process], masker: Masker) -> Table:
    t = Table(PROCESS)
    for p in procs:
        c = p.creds
        caps = capability_names(c.cap_eff) if c else None
        extra = [x for x in caps if x not in DOCKER_DEFAULT_CAPS] if caps is not None else None
        t.add(p.pid, p.ppid, p.pgid, p.sid, p.comm, p.state, c.uids[1] if c else None, extra, caps,
              p.seccomp_mode, len(p.threads), argv_text(p, masker))
    return t


def threads(procs: Iterable[Process], stops: Mapping[tuple[int, int], Any] | None = None) -> Table:
    t = Table(THREAD)
    for p in procs:
        for th in p.threads:
            stop = (stops or {}).get((p.pid, th.tid))
            regs = th.registers
            t.add(p.pid, th.tid, th.comm, regs.ip if regs else None, regs.sp if regs else None, syscall_text(th),
                  str(stop.location) if stop is not None else None, signal_names(th.blocked_signals),
                  str(regs.arch) if regs else None,
                  [f"{name}={value:#x}" for name, value in regs.named()] if regs else None)
    return t


def fds(procs: Iterable[Process]) -> Table:
    t = Table(FD)
    for p in procs:
        for fd in p.fds:
            obj = fd.file
            target = obj.describe() if obj is not None else f"missing file id {fd.missing_file_id}"
            t.add(p.pid, fd.fd, fd.type, target, fd_detail(obj), fd_flags(fd))
    return t


def sockets(procs: Iterable[Process]) -> Table:
    t = Table(SOCKET)
    for p in procs:
        for fd in p.fds:
            s = fd.file
            if isinstance(s, f.InetSocket):
                t.add(p.pid, fd.fd, s.family, s.proto, s.state, s.local, s.peer if s.state != "LISTEN" else None,
                      s.queued_bytes, s.backlog if s.state == "LISTEN" else None, s.ino, None)
            elif isinstance(s, f.UnixSocket):
                # CRIU's backlog field of a connected unix socket is its queue length, not an accept backlog.
                t.add(p.pid, fd.fd, "unix", s.sock_type, s.state, s.name or "(unnamed)",
                      s.peer_name or (str(s.peer_ino) if s.peer_ino else None), s.queued_bytes,
                      s.backlog if s.state == "LISTEN" else None, s.ino, s.data or None)
            elif isinstance(s, (f.NetlinkSocket, f.PacketSocket)):
                t.add(p.pid, fd.fd, s.type, getattr(s, "sock_type", None), None, None, None, None, None, s.ino, None)
    return t


def mappings(procs: Iterable[Process], guards: bool = False) -> Table:
    """Every mapping; the kernel's guard gaps below stacks only when asked (they are not mappings a
    process made)."""
    t = Table(MAPPING)
    for p in procs:
        for v in p.vmas:
            if v.is_guard and not guards:
                continue
            pages = v.size // p.page_size
            t.add(p.pid, v.start, v.end, v.prot_str + ("s" if v.shared else "p"), v.pgoff, v.kind, pages,
                  v.dumped_pages, v.parent_pages, max(pages - v.dumped_pages - v.parent_pages - v.lazy_pages, 0),
                  v.label or None)
    return t


def mounts(ck: Checkpoint) -> Table:
    t = Table(MOUNT)
    for m in ck.mounts:
        external = m.external if isinstance(m.external, str) else ("yes" if m.external else None)
        t.add(m.mnt_id, m.parent_mnt_id, m.mountpoint, m.fstype, m.source, external, m.options, m.propagation)
    return t


def environment(procs: Iterable[Process], masker: Masker) -> Table:
    t = Table(ENV)
    for p in procs:
        for k, v in (p.env or {}).items():
            t.add(p.pid, k, masker.value(k, v))
    return t


def summary(ck: Checkpoint, masker: Masker) -> list[Fact]:
    """What the checkpoint is: where, what made it, when (with where that time comes from), how big."""
    i = ck.info
    facts = [
        Fact("path", "checkpoint", i.path),
        Fact("layout", "layout", i.layout + (f" ({i.engine})" if i.engine else ""), Kind.WORD),
        Fact("kind", "kind", "pre-dump (memory only; processes are known from its pagemaps)" if i.pre_dump
             else None, Kind.WORD),
        Fact("pod", "pod", f"{i.namespace}/{i.pod}" if i.pod and i.namespace else i.pod),
        Fact("container", "container",
             f"{i.container_name or ''} {(i.container_id or '')[:12]}".strip() or None),
        Fact("image", "image", i.image),
        Fact("runtime", "runtime", i.runtime),
        Fact("time", "time", i.checkpoint_time, Kind.TIME),
        Fact("created", "created", i.container_created, Kind.TIME),
        Fact("dump_uptime", "dump uptime",
             f"{i.dump_uptime / 1e6:.3f} s after the host booted" if i.dump_uptime else None, Kind.WORD),
        Fact("criu", "CRIU", f"{i.criu_version} ({i.criu_version_source})" if i.criu_version else None),
        Fact("hostname", "hostname", ck.hostname),
        Fact("size", "size", f"{human_size(i.total_size)} in {len(i.images)} files, "
                             f"{human_size(i.pages_size)} of memory pages", Kind.WORD),
        Fact("processes", "processes",
             f"{len(ck.processes)} ({sum(len(p.threads) for p in ck.processes)} threads)", Kind.WORD),
        Fact("parent", "parent", i.parent),
    ]
    w = ck.wrapper
    if w.files:
        facts.append(Fact("also_holds", "also holds", ", ".join(sorted(w.files))))
    if w.rootfs_diff is not None:
        n = len(w.rootfs_diff)
        execs = sum(1 for e in w.rootfs_diff if e.executable)
        facts.append(Fact("container_wrote", "container wrote",
                          f"{n} {'path' if n == 1 else 'paths'} (rootfs-diff.tar), {execs} executable; "
                          f"{len(w.deleted_files)} deleted", Kind.WORD))
    for name, lines in w.logs.items():
        for k, line in enumerate(lines[-3:]):
            facts.append(Fact(f"log:{name}", name if k == 0 else "", masker.text(line)))
    return facts


def tree(ck: Checkpoint, masker: Masker, only: int | None = None) -> list[TreeLine]:
    """The process tree, parents before children, without recursion (a forged tree can be 100,000 deep);
    with `only`, that process and its ancestors and descendants."""
    by_pid = {p.pid: p for p in ck.processes}
    depth: dict[int, int] = {}
    keep: set[int] | None = None
    if only is not None and only in by_pid:
        keep = {only}
        up = by_pid[only]
        seen = {only}
        while up.ppid in by_pid and up.ppid not in seen:
            seen.add(up.ppid)
            keep.add(up.ppid)
            up = by_pid[up.ppid]
        stack = [only]
        while stack:
            for c in by_pid[stack.pop()].children:
                if c in by_pid and c not in keep:
                    keep.add(c)
                    stack.append(c)
    out = []
    for p in ck.processes:   # already in tree order (forensics.loader)
        d = depth[p.ppid] + 1 if p.ppid in depth and p.ppid != p.pid else 0
        depth[p.pid] = d
        if keep is not None and p.pid not in keep:
            continue
        note = []
        if p.state != "alive":
            note.append(f"({p.state})")
        if len(p.threads) > 1:
            note.append(f"[{len(p.threads)} threads]")
        out.append(TreeLine(d, f"{p.pid} {p.comm}  {argv_text(p, masker)}", " ".join(note)))
    return out
