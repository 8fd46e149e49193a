"""Processes and threads as CRIU saved them (pstree + core + ids + fs images)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

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


class Arch(StrEnum):
    """The machine a checkpoint was taken on (CoreEntry.mtype / which thread_info CRIU filled). The value
    is the word every output prints."""

    X86_64 = "x86_64"
    AARCH64 = "aarch64"
    ARM = "arm"
    PPC64 = "ppc64"
    S390 = "s390"
    RISCV64 = "riscv64"
    MIPS = "mips"
    LOONGARCH64 = "loongarch64"


# The names each architecture's general registers go by, in the order CRIU saves them (and its tools and
# the kernel's user_regs_struct print them). x86_64: CRIU's user_x86_regs_entry (the kernel's pt_regs
# names without the leading "r" for the legacy eight). aarch64: x0-x30, sp, pc, pstate (user_pt_regs),
# then tpidr_el0, the TLS register CRIU keeps in thread_info_aarch64.tls.
X86_64_GP = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
             "orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")
AARCH64_GP = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate", "tpidr_el0")

# Which named register holds the instruction pointer, the stack pointer and the frame pointer.
_PC = {Arch.X86_64: "ip", Arch.AARCH64: "pc"}
_FP = {Arch.X86_64: "bp", Arch.AARCH64: "x29"}


@dataclass(slots=True)
class Registers:
    """A thread's registers under its architecture's own names (`X86_64_GP`, `AARCH64_GP`; for other
    machines whatever CRIU's message calls them), and the FP/SIMD state where CRIU saved it: for x86_64
    the FXSAVE/XSAVE fields (mxcsr, xmm, st, ymmh...), for aarch64 `v` (v0-v31 as 128-bit hex), fpsr, fpcr.
    """

    arch: Arch
    gp: dict[str, int]
    fpu: dict[str, object] | None = None

    @property
    def ip(self) -> int | None:
        """The instruction pointer: rip on x86_64, pc on aarch64."""
        return self.gp.get(_PC.get(self.arch, "pc"))

    @property
    def sp(self) -> int | None:
        return self.gp.get("sp")

    @property
    def fp(self) -> int | None:
        """The frame pointer: rbp on x86_64, x29 on aarch64."""
        name = _FP.get(self.arch)
        return self.gp.get(name) if name else None

    def named(self) -> list[tuple[str, int]]:
        """Every general register as (name, value), in the architecture's order; for the outputs."""
        return list(self.gp.items())


@dataclass(slots=True)
class Thread:
    """One thread. `syscall` is the number of the system call it was inside when frozen, where that can
    be proven: on x86_64 orig_ax >= 0 (CRIU rewinds an interrupted call so that ip points at the `syscall`
    instruction); on aarch64 x8 when the instruction at pc is `svc #0` (the kernel rewound a restartable
    call there before the ptrace stop) or the one before pc is and x0 holds an error return (an
    interrupted call that is not restarted, like epoll_pwait's -EINTR). aarch64 has no orig_x0 in the
    checkpoint (CRIU does not save it): a rewound call's x0 is its first argument again, by the kernel's
    own restart logic. `syscall_evidence` says which of these proved it."""

    tid: int
    comm: str | None
    blocked_signals: int
    registers: Registers | None
    creds: Creds | None
    seccomp_mode: str
    syscall: int | None
    syscall_evidence: str | None = None


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
