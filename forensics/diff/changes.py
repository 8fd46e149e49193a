"""What changed in the decoded model between two checkpoints: processes, fds, sockets, mounts, VMAs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from forensics.diff.match import Pair
from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.flags import capability_names
from forensics.model.process import Process


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `section` is processes, fds, sockets, mounts or vmas; `what` is added, removed or
    changed; `subject` names the thing ("pid 7", "fd 18", "127.0.0.1:8080", "/proc"); for `changed`,
    `field` with `old` and `new`."""

    section: str
    what: str
    subject: str
    pid: int | None = None
    field: str | None = None
    old: Any = None
    new: Any = None
    note: str | None = None


def _proc_label(p: Process) -> str:
    return f"pid {p.pid} {p.comm}" + (f" ({' '.join(p.argv)})" if p.argv else "")


def process_changes(pairs: list[Pair], removed: list[Process], added: list[Process]) -> Iterator[Change]:
    for p in removed:
        yield Change("processes", "removed", _proc_label(p), p.pid)
    for p in added:
        yield Change("processes", "added", _proc_label(p), p.pid)
    for pair in pairs:
        a, b = pair.a, pair.b
        subject = f"pid {b.pid} {b.comm}"
        if pair.rule != "pid":
            yield Change("processes", "changed", subject, b.pid, "pid", a.pid, b.pid,
                         f"replaced: pid {a.pid} is gone and pid {b.pid} runs the same command "
                         f"(matched by {pair.rule})")
            continue
        for field in ("ppid", "state", "argv", "exe", "cwd", "root", "personality"):
            old, new = getattr(a, field), getattr(b, field)
            if old != new:
                yield Change("processes", "changed", subject, b.pid, field, old, new)
        if a.creds and b.creds and a.creds != b.creds:
            for field in ("uids", "gids", "cap_eff", "cap_prm", "cap_bnd", "cap_amb"):
                old, new = getattr(a.creds, field), getattr(b.creds, field)
                if old != new:
                    if field.startswith("cap"):
                        old, new = capability_names(old), capability_names(new)
                    yield Change("processes", "changed", subject, b.pid, field, old, new)
        if (a.env or {}) != (b.env or {}):
            yield Change("processes", "changed", subject, b.pid, "env", a.env, b.env)
        ta, tb = {t.tid: t for t in a.threads}, {t.tid: t for t in b.threads}
        for tid in sorted(set(ta) - set(tb)):
            yield Change("processes", "changed", subject, b.pid, "threads", f"tid {tid}", None, "thread gone")
        for tid in sorted(set(tb) - set(ta)):
            yield Change("processes", "changed", subject, b.pid, "threads", None, f"tid {tid}", "new thread")
        for tid in sorted(set(ta) & set(tb)):
            x, y = ta[tid], tb[tid]
            if x.syscall != y.syscall:
                yield Change("processes", "changed", subject, b.pid, f"tid {tid} syscall", x.syscall, y.syscall)
            if x.registers and y.registers:
                # The instruction pointer by its architecture's name (ip on x86_64, pc on aarch64).
                pc = "pc" if y.registers.arch == "aarch64" else "ip"
                for reg, old, new in ((pc, x.registers.ip, y.registers.ip), ("sp", x.registers.sp, y.registers.sp)):
                    if old != new:
                        yield Change("processes", "changed", subject, b.pid, f"tid {tid} {reg}", old, new)


def _fd_target(fd: f.Fd) -> str:
    return fd.file.describe() if fd.file else "?"


def fd_changes(pairs: list[Pair]) -> Iterator[Change]:
    for pair in pairs:
        a = {fd.fd: fd for fd in pair.a.fds}
        b = {fd.fd: fd for fd in pair.b.fds}
        pid = pair.b.pid
        for n in sorted(set(a) - set(b)):
            yield Change("fds", "removed", f"fd {n}", pid, old=_fd_target(a[n]), note=a[n].type)
        for n in sorted(set(b) - set(a)):
            yield Change("fds", "added", f"fd {n}", pid, new=_fd_target(b[n]), note=b[n].type)
        for n in sorted(set(a) & set(b)):
            x, y = a[n], b[n]
            if _fd_target(x) != _fd_target(y) or x.type != y.type:
                yield Change("fds", "changed", f"fd {n}", pid, "target", _fd_target(x), _fd_target(y))
                continue
            if x.cloexec != y.cloexec:
                yield Change("fds", "changed", f"fd {n}", pid, "cloexec", x.cloexec, y.cloexec)
            for field in ("pos", "flags", "size", "count", "queued_bytes", "deleted"):
                old, new = getattr(x.file, field, None), getattr(y.file, field, None)
                if old != new:
                    yield Change("fds", "changed", f"fd {n} {_fd_target(y)}", pid, field, old, new)


def _sockets(p: Process) -> dict[int, tuple[int, f.FileObject]]:
    return {fd.file.ino: (fd.fd, fd.file) for fd in p.fds
            if isinstance(fd.file, (f.InetSocket, f.UnixSocket))}


def socket_changes(pairs: list[Pair], removed: list[Process], added: list[Process]) -> Iterator[Change]:
    """Sockets by inode: new connections, closed ones, state and queue changes."""
    for pair in pairs:
        a, b = _sockets(pair.a), _sockets(pair.b)
        pid = pair.b.pid
        for ino in sorted(set(b) - set(a)):
            fd, s = b[ino]
            what = "new connection" if getattr(s, "state", "") == "ESTABLISHED" else "new socket"
            yield Change("sockets", "added", s.describe(), pid, new=f"fd {fd}", note=what)
        for ino in sorted(set(a) - set(b)):
            fd, s = a[ino]
            yield Change("sockets", "removed", s.describe(), pid, old=f"fd {fd}", note="closed")
        for ino in sorted(set(a) & set(b)):
            (_, x), (_, y) = a[ino], b[ino]
            for field in ("state", "queued_bytes", "peer", "in_queue", "out_queue"):
                old, new = getattr(x, field, None), getattr(y, field, None)
                if old != new:
                    yield Change("sockets", "changed", y.describe(), pid, field, old, new)


def mount_changes(a: Checkpoint, b: Checkpoint) -> Iterator[Change]:
    def key(m) -> tuple:  # noqa: ANN001
        return (m.mountpoint, m.fstype, m.source)

    ma = {key(m): m for m in a.mounts}
    mb = {key(m): m for m in b.mounts}
    for k in sorted(set(ma) - set(mb)):
        yield Change("mounts", "removed", k[0], note=f"{k[1]} from {k[2]}")
    for k in sorted(set(mb) - set(ma)):
        yield Change("mounts", "added", k[0], note=f"{k[1]} from {k[2]}")
    for k in sorted(set(ma) & set(mb)):
        if ma[k].options != mb[k].options:
            yield Change("mounts", "changed", k[0], field="options", old=ma[k].options, new=mb[k].options)


def vma_changes(pairs: list[Pair]) -> Iterator[Change]:
    """Mappings of the same process; a replaced process has a new address space, not changed mappings."""
    for pair in pairs:
        if pair.rule != "pid":
            continue
        a = {v.start: v for v in pair.a.vmas if v.kind != "guard"}
        b = {v.start: v for v in pair.b.vmas if v.kind != "guard"}
        pid = pair.b.pid

        def label(v) -> str:  # noqa: ANN001
            return f"{v.start:x}-{v.end:x} {v.label or v.kind}"

        for s in sorted(set(a) - set(b)):
            yield Change("vmas", "removed", label(a[s]), pid)
        for s in sorted(set(b) - set(a)):
            yield Change("vmas", "added", label(b[s]), pid)
        for s in sorted(set(a) & set(b)):
            x, y = a[s], b[s]
            if x.end != y.end:
                yield Change("vmas", "changed", label(y), pid, "size", x.size, y.size, "resized")
            if x.prot != y.prot:
                yield Change("vmas", "changed", label(y), pid, "prot", x.prot_str, y.prot_str, "re-protected")
            if x.path != y.path:
                yield Change("vmas", "changed", label(y), pid, "path", x.path, y.path)
