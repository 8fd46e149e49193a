"""What an investigator should look at first, as readable rules over the model.

Each rule states its criterion in its docstring, yields Findings with a score (higher first) and the
evidence it rests on (pid, fd, address) so every report can link to it. Values that look like secrets
are masked unless the caller reveals them: a report is often attached to a ticket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from forensics.memory.space import space_of
from forensics.errors import ForensicsError
from forensics.locate.views import open_evidence
from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.model.process import Process
from forensics.model.vma import KERNEL_KINDS
from forensics.model.flags import DOCKER_DEFAULT_CAPS, capability_names
from forensics.model.secrets import SECRET_NAME, SECRET_VALUE, mask


@dataclass(frozen=True, slots=True)
class Evidence:
    pid: int | None = None
    fd: int | None = None
    address: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    score: int
    title: str
    detail: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)


Rule = Callable[[Checkpoint, bool], Iterator[Finding]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


@rule
def writable_executable_memory(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Memory that is writable and executable at once (RWX), or executable without a file behind it
    (anonymous executable memory): how injected code lives. The vDSO and vsyscall pages are the kernel's."""
    for p in ck.processes:
        for v in p.vmas:
            if not v.prot & 4 or v.kind in KERNEL_KINDS:
                continue
            if v.prot & 2:
                yield Finding("rwx-memory", 90, f"pid {p.pid} {p.comm}: writable and executable memory",
                              f"{v.start:x}-{v.end:x} {v.prot_str} {v.label or v.kind}, {v.held_pages} pages dumped",
                              (Evidence(p.pid, address=v.start),))
            elif v.kind in ("anon", "heap", "stack"):
                yield Finding("anon-exec-memory", 80, f"pid {p.pid} {p.comm}: executable memory without a file",
                              f"{v.start:x}-{v.end:x} {v.prot_str} {v.kind}, {v.held_pages} pages dumped",
                              (Evidence(p.pid, address=v.start),))


@rule
def suspicious_executable(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """The process's executable is deleted or a memfd (fileless execution), or argv[0] names another
    program than the one running (a disguised process)."""
    for p in ck.processes:
        exe = p.exe or ""
        if exe.startswith("/memfd:") or "(deleted)" in exe:
            yield Finding("fileless-exe", 95, f"pid {p.pid} {p.comm}: runs a deleted or memfd executable",
                          f"exe is {exe}", (Evidence(p.pid),))
        if p.argv and exe:
            arg0 = p.argv[0].rsplit("/", 1)[-1]
            base = exe.rsplit("/", 1)[-1]
            # busybox applets are links to one binary; a shell's login "-sh" is conventional.
            if arg0.lstrip("-") != base and base not in ("busybox", "busybox.static") and p.comm != base[:15]:
                yield Finding("argv0-mismatch", 60, f"pid {p.pid} {p.comm}: argv[0] is not the executable",
                              f"argv[0] {p.argv[0]!r}, exe {exe}", (Evidence(p.pid),))


def _holders(ck: Checkpoint) -> dict[int, list[tuple[Process, int]]]:
    """Socket inode -> every (process, fd) holding it: a socket inherited over fork is one socket."""
    out: dict[int, list[tuple[Process, int]]] = {}
    for p in ck.processes:
        for fd in p.fds:
            if isinstance(fd.file, (f.InetSocket, f.UnixSocket)):
                out.setdefault(fd.file.ino, []).append((p, fd.fd))
    return out


def _who(holders: list[tuple[Process, int]]) -> str:
    procs = list({p.pid: p for p, _ in holders}.values())
    if len(procs) == 1:
        return f"pid {procs[0].pid} {procs[0].comm}"
    return "pids " + ", ".join(str(p.pid) for p in procs) + f" ({', '.join(dict.fromkeys(p.comm for p in procs))})"


def _fds(holders: list[tuple[Process, int]]) -> str:
    return ", ".join(f"pid {p.pid} fd {fd}" for p, fd in holders) if len({p.pid for p, _ in holders}) > 1 \
        else "fd " + ", ".join(str(fd) for _, fd in holders)


@rule
def network(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Listening sockets (what the container serves) and established connections (who it talks to;
    connections to non-loopback peers first). A socket shared by several processes (inherited over fork)
    is one finding naming all of them."""
    for holders in _holders(ck).values():
        s = next(fd.file for fd in holders[0][0].fds if fd.fd == holders[0][1])
        evidence = tuple(Evidence(p.pid, fd) for p, fd in holders)
        verb = "listen" if len({p.pid for p, _ in holders}) > 1 else "listens"
        if isinstance(s, f.InetSocket):
            if s.state == "LISTEN":
                yield Finding("listening-socket", 50, f"{_who(holders)} {verb} on {s.proto} {s.local}",
                              f"{_fds(holders)}, backlog {s.backlog}", evidence)
            elif s.state == "ESTABLISHED":
                loop = s.peer.startswith(("127.", "[::1]"))
                yield Finding("connection", 45 if loop else 70,
                              f"{_who(holders)} connected {s.local} -> {s.peer}",
                              f"{_fds(holders)}, {s.queued_bytes} bytes queued", evidence)
        elif isinstance(s, f.UnixSocket) and s.state == "LISTEN":
            yield Finding("listening-socket", 30, f"{_who(holders)} {verb} on unix {s.name}",
                          _fds(holders), evidence)


@rule
def privileges(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Processes running as root (uid 0), with capabilities beyond Docker's default set, or with seccomp
    off (Docker's default profile filters syscalls; "disabled" means unconfined)."""
    for p in ck.processes:
        c = p.creds
        if c is None:
            continue
        extra = set(capability_names(c.cap_eff)) - DOCKER_DEFAULT_CAPS
        if extra:
            yield Finding("added-capabilities", 75, f"pid {p.pid} {p.comm}: capabilities beyond Docker's defaults",
                          ", ".join(sorted(extra)), (Evidence(p.pid),))
        if c.uids[1] == 0:
            yield Finding("runs-as-root", 40, f"pid {p.pid} {p.comm} runs as root",
                          f"uid {' '.join(map(str, c.uids))} (real, effective, saved, fs), "
                          f"{len(capability_names(c.cap_eff))} effective capabilities",
                          (Evidence(p.pid),))
        if p.seccomp_mode == "disabled":
            yield Finding("seccomp-off", 35, f"pid {p.pid} {p.comm}: no seccomp filter",
                          "every system call is allowed (started with seccomp=unconfined?)", (Evidence(p.pid),))


@rule
def secrets_in_environment(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Environment variables whose name or value looks like a credential (read from process memory)."""
    for p in ck.processes:
        for k, v in (p.env or {}).items():
            if SECRET_NAME.search(k) or SECRET_VALUE.match(v):
                shown = v if reveal else mask(v)
                yield Finding("env-secret", 65, f"pid {p.pid} {p.comm}: environment holds a secret-like value",
                              f"{k}={shown}", (Evidence(p.pid, note=k),))


@rule
def temporary_files(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Files open from /tmp, /var/tmp or /dev/shm: where droppers and staging files live."""
    for p in ck.processes:
        for fd in p.fds:
            obj = fd.file
            path = getattr(obj, "path", None) or ""
            if isinstance(obj, (f.RegularFile, f.Fifo)) and path.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")):
                yield Finding("temp-file", 45, f"pid {p.pid} {p.comm} has {path} open",
                              f"fd {fd.fd}" + (" (deleted)" if getattr(obj, "deleted", False) else ""),
                              (Evidence(p.pid, fd.fd),))


@rule
def typed_commands(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Commands typed into interactive bash shells, recovered from the shell's heap (its history list,
    as Volatility's linux.bash finds it): what someone ran in the container."""
    from forensics.memory.shellhistory import shell_history

    by_pid: dict[int, list] = {}
    for c in shell_history(ck):
        by_pid.setdefault(c.pid, []).append(c)
    for pid, cmds in by_pid.items():
        proc = ck.process(pid)
        yield Finding("shell-history", 60, f"pid {pid} {proc.comm if proc else ''}: {len(cmds)} commands typed "
                      "into the shell", "; ".join(c.command for c in cmds),
                      tuple(Evidence(pid, address=c.entry, note=c.command) for c in cmds[:20]))


@rule
def executables_written(ck: Checkpoint, reveal: bool) -> Iterator[Finding]:
    """Files the container wrote or changed (rootfs-diff.tar of a Podman/CRI-O export) that are
    executable: dropped tools and implants land here."""
    for e in ck.wrapper.rootfs_diff or []:
        if e.executable:
            yield Finding("written-executable", 70, f"the container wrote an executable: {e.path}",
                          f"{e.size} bytes, mode {e.mode:o}", (Evidence(note=e.path),))


def patched_code(ck: Checkpoint, resolver: Callable[[str], Path | None]) -> Iterator[Finding]:
    """Executable file mappings whose dumped pages differ from the binary on disk: code patched in
    memory (hooks, injected trampolines). A clean code page is never dumped, except the one page CRIU's
    parasite injection touches at the start of the first executable mapping, which equals the file and so
    is no finding. Needs the binaries (--rootfs / --binary); without them nothing is claimed."""
    for p in ck.processes:
        space = space_of(ck, p.pid)
        if space is None:
            continue
        for v in p.vmas:
            if not (v.prot & 4 and v.kind == "file" and v.path and v.held_pages):
                continue
            local = resolver(v.path.removesuffix(" (deleted)"))
            if local is None:
                continue
            changed = []
            try:
                fh = open_evidence(local, follow=True)
            except ForensicsError:
                continue    # a fifo or device where the binary should be: nothing to compare with
            with fh:
                for addr, data in space.vma_segments(v):
                    for off in range(0, len(data), p.page_size):
                        page = data[off:off + p.page_size]
                        fh.seek(v.pgoff + addr + off - v.start)
                        if fh.read(len(page)) != page.tobytes():
                            changed.append(addr + off)
            if changed:
                yield Finding("patched-code", 95, f"pid {p.pid} {p.comm}: code in memory differs from {v.path}",
                              f"{len(changed)} page(s) of {v.start:x}-{v.end:x} {v.prot_str}, first at {changed[0]:x}",
                              tuple(Evidence(p.pid, address=a) for a in changed[:8]))


def findings(ck: Checkpoint, reveal: bool = False, extra: list[Finding] | None = None,
             resolver: Callable[[str], Path | None] | None = None) -> list[Finding]:
    """Every rule over the checkpoint, highest score first; the binary checks when a resolver finds them."""
    out = [x for r in RULES for x in r(ck, reveal)]
    if resolver is not None:
        out.extend(patched_code(ck, resolver))
    out.extend(extra or [])
    return sorted(out, key=lambda x: (-x.score, x.rule, x.title))

