"""Processes and threads as CRIU saved them (pstree + core + ids + fs images)."""

from __future__ import annotations

from dataclasses import dataclass, field

from forensics.model.files import Fd
from forensics.model.vma import Vma


@dataclass(slots=True)
class Creds:
    """Credentials of a thread: uids/gids as (real, effective, saved, fs); capability sets as 64-bit masks."""

    uids: tuple[int, int, int, int]
    gids: tuple[int, int, int, int]
    groups: list[int]
    cap_inh: int
    cap_prm: int
    cap_eff: int
    cap_bnd: int
    cap_amb: int
    secbits: int
    no_new_privs: bool | None = None
    lsm_profile: str | None = None


@dataclass(slots=True)
class Registers:
    """x86_64 general registers by name (ip, sp, ax, orig_ax, fs_base, ...), and the FPU/SSE/AVX state
    where CRIU saved it."""

    arch: str
    gp: dict[str, int]
    fpu: dict[str, object] | None = None

    @property
    def ip(self) -> int | None:
        return self.gp.get("ip")

    @property
    def sp(self) -> int | None:
        return self.gp.get("sp")


@dataclass(slots=True)
class Thread:
    """One thread. `syscall` is the number of the system call it was inside when frozen (orig_ax >= 0:
    CRIU rewinds an interrupted call so that ip points at the `syscall` instruction)."""

    tid: int
    comm: str | None
    blocked_signals: int
    registers: Registers | None
    creds: Creds | None
    seccomp_mode: str
    syscall: int | None


@dataclass(slots=True)
class SigAction:
    signo: int
    handler: int
    flags: int
    mask: int

    @property
    def disposition(self) -> str:
        return {0: "default", 1: "ignore"}.get(self.handler, "handler")


@dataclass(slots=True)
class Process:
    """One process of the container, with everything CRIU saved about it. Pids are as seen inside the
    container's pid namespace."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    comm: str
    state: str
    exit_code: int | None
    threads: list[Thread] = field(default_factory=list)
    personality: int = 0
    rlimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    sigactions: list[SigAction] = field(default_factory=list)
    fds: list[Fd] = field(default_factory=list)
    vmas: list[Vma] = field(default_factory=list)
    cwd: str | None = None
    root: str | None = None
    umask: int | None = None
    exe: str | None = None
    argv: list[str] | None = None
    env: dict[str, str] | None = None
    namespaces: dict[str, int] = field(default_factory=dict)
    cgroup_set: int | None = None
    children: list[int] = field(default_factory=list)
    # Guard ranges CRIU lists beside the mappings (VmaKind.GUARD): kept apart, they are not memory.
    guards: list[Vma] = field(default_factory=list)
    page_size: int = 4096      # from the saved auxv (AT_PAGESZ); 4096 only when CRIU saved none
    auxv: list[int] = field(default_factory=list)  # mm.img's saved auxiliary vector: (type, value) words
    # A pre-dump's process: its pid and pages are known, nothing else (the memory floor's predump module).
    memory_only: bool = False

    @property
    def creds(self) -> Creds | None:
        return self.threads[0].creds if self.threads else None

    @property
    def seccomp_mode(self) -> str:
        return self.threads[0].seccomp_mode if self.threads else "unknown"
