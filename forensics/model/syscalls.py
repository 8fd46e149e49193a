"""Which system call a frozen thread was in, and its name, per architecture.

x86_64 keeps the call's number in orig_ax for the whole call, and CRIU saves it. aarch64 keeps it in
x8 (the number register, which the kernel does not change), but x8 is an ordinary register whenever the
thread is not at a call, and CRIU saves neither orig_x0 nor the kernel's syscallno. What proves a call on
aarch64 is the code: when a restartable call (-ERESTARTSYS, -ERESTART_RESTARTBLOCK...) is interrupted by
the freezer or a ptrace stop, the kernel's do_signal() puts x0 back to its first argument and pc back on
the `svc #0` before the debugger sees the registers; a call that is not restarted (epoll_pwait's -EINTR)
leaves pc just after the `svc #0` with the error in x0. So x8 names the call when the instruction at pc
is `svc #0`, or the one before pc is and x0 is an error return; otherwise nothing is claimed.
"""

from __future__ import annotations

from collections.abc import Callable

from forensics.model.flags import X86_64_SYSCALLS
from forensics.model.process import Arch, Registers
from forensics.model.unistd_generic import GENERIC_SYSCALLS

SVC0 = 0xD4000001          # aarch64 `svc #0`: the only system call instruction Linux programs use
MAX_ERRNO = 4095           # an error return is -1..-4095 (the kernel's IS_ERR_VALUE)

TABLES: dict[Arch, dict[int, str]] = {Arch.X86_64: X86_64_SYSCALLS, Arch.AARCH64: GENERIC_SYSCALLS,
                                      Arch.RISCV64: GENERIC_SYSCALLS, Arch.LOONGARCH64: GENERIC_SYSCALLS}

# How a thread's system call is known (Thread.syscall_evidence).
ORIG_AX = "orig_ax"
SVC_AT_PC = "x8; svc #0 at pc (a restarted call)"
SVC_BEFORE_PC = "x8; svc #0 just before pc and x0 an error return (an interrupted call)"


def syscall_name(number: int | None, arch: Arch | str = Arch.X86_64) -> str | None:
    """The name of a system call number on an architecture (or "syscall N" when not in its table)."""
    if number is None:
        return None
    try:
        table = TABLES.get(Arch(arch), {})
    except ValueError:
        table = {}
    return table.get(number, f"syscall {number}")


def syscall_of(regs: Registers | None, word_at: Callable[[int], int | None] | None = None) \
        -> tuple[int | None, str | None]:
    """(number, evidence) of the system call a thread was in, or (None, None) where nothing proves one.

    `word_at(addr)` is the 32-bit little-endian instruction word at an address (None where unreadable);
    aarch64 needs it, x86_64 does not."""
    if regs is None:
        return None, None
    if regs.arch is Arch.X86_64:
        orig = regs.gp.get("orig_ax")
        # orig_ax is stored as u64: -1 (no syscall) arrives as 2**64-1.
        if orig is None or orig >= 1 << 63:
            return None, None
        return orig, ORIG_AX
    if regs.arch is Arch.AARCH64 and word_at is not None:
        pc, x8, x0 = regs.gp.get("pc"), regs.gp.get("x8"), regs.gp.get("x0")
        if pc is None or x8 is None or x8 >= 1 << 32:
            return None, None
        if word_at(pc) == SVC0:
            return x8, SVC_AT_PC
        if pc >= 4 and x0 is not None and x0 >= (1 << 64) - MAX_ERRNO and word_at(pc - 4) == SVC0:
            return x8, SVC_BEFORE_PC
    return None, None


def word_reader(read: Callable[[int, int], bytes | None]) -> Callable[[int], int | None]:
    """`word_at` for `syscall_of` from a reader of bytes at an address (None or an exception: unreadable)."""
    def word_at(addr: int) -> int | None:
        try:
            data = read(addr, 4)
        except Exception:  # noqa: BLE001 - any gap or damage just means the word is unknown
            return None
        return int.from_bytes(data, "little") if data is not None and len(data) == 4 else None
    return word_at
