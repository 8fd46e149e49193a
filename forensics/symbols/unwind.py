"""A frozen thread's call chain, unwound from its saved registers (x86_64).

Each step finds the caller's registers from the callee's, in order of trust:

1. a signal trampoline (`__restore_rt`: `mov $15, %rax; syscall`) at the pc: the interrupted registers
   are in the `ucontext` the kernel pushed (`struct rt_sigframe`: after the handler returned, rsp points at
   `uc`, whose `uc_mcontext` (struct sigcontext) starts 40 bytes in);
2. the call-frame information of the object the pc is in (`cfi.py`): exact, with or without frame pointers;
3. the frame-pointer chain, where no CFI covers the pc (a binary that is not available, JIT code): [rbp]
   holds the caller's rbp and [rbp+8] the return address. It is right only for code that keeps rbp as a
   frame pointer, so every frame found so is marked `fp`.

The walk ends at the outermost frame (CFI marks the return address undefined, as glibc does in `_start`
and in the child of `clone3`; or a zero frame pointer or return address) or says why it stopped early:
memory not in the checkpoint, no binary, a frame that does not move up the stack. A caller's pc is a
return address: it is looked up at pc-1 (the call instruction), except after a signal frame, where it is
the exact interrupted pc.

A stack scan is not a walk: `stack.scan_stack` lists code addresses found on the stack separately, and
they are never numbered as frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from forensics.symbols.cfi import (
    RBP,
    RIP,
    RSP,
    X86_64_DWARF_REGS,
    ExpressionError,
    RuleKind,
    UnwindRow,
    evaluate,
    frame_table,
)
from forensics.symbols.mapping import Symbolizer
from forensics.symbols.stack import StackHit

ReadU64 = Callable[[int], int]
ReadCode = Callable[[int, int], bytes | None]

MAX_FRAMES = 256
# x86_64 rt_sigreturn trampolines: glibc's __restore_rt (mov $15,%rax; syscall) and musl's (mov $15,%eax).
SIGRETURN_CODE = (bytes.fromhex("48c7c00f0000000f05"), bytes.fromhex("b80f0000000f05"))
UC_MCONTEXT = 40  # offsetof(struct ucontext, uc_mcontext): uc_flags, uc_link, uc_stack (24 bytes)
# struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h) in order, as DWARF register numbers.
SIGCONTEXT_REGS = (8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, 16)


class FrameMethod(StrEnum):
    """How a frame was found."""

    REGISTERS = "registers"  # frame 0: the registers CRIU saved
    CFI = "cfi"              # the callee's call-frame information (.eh_frame / .debug_frame)
    FP = "fp"                # the callee's frame pointer (no CFI for its pc)
    SIGNAL = "signal"        # the registers a signal interrupted, from the rt_sigframe on the stack


class WalkEnd(StrEnum):
    """Why the walk ended."""

    OUTERMOST = "outermost"            # the first frame of the thread: the chain is complete
    NO_BINARY = "binary-not-found"     # the pc is in an object whose file is not available
    NO_UNWIND_INFO = "no-unwind-info"  # no CFI for the pc, and no usable frame pointer
    UNREADABLE = "unreadable"          # a saved register is in memory the checkpoint does not hold
    BAD_FRAME = "bad-frame"            # the caller found is not code, or does not move up the stack
    LIMIT = "limit"                    # too many frames


@dataclass(frozen=True, slots=True)
class NativeFrame:
    """One proven frame: `ip` (exact for frame 0 and after a signal frame, else a return address: see
    `is_return_address`), `sp` (the stack pointer in that frame), `method`, and `ra_slot`, the stack
    address the NEXT frame's return address was read from (None where it came from a register)."""

    index: int
    ip: int
    sp: int
    method: FrameMethod
    is_return_address: bool
    ra_slot: int | None = None


@dataclass(slots=True)
class Unwind:
    """A thread's chain: `frames` (only proven ones, innermost first), `end` and `detail` (why it ended),
    and `stack_hits`: other code addresses on the stack, which are NOT frames (stale return addresses,
    pointers held in locals); function pointers (a symbol's start) are left out of them."""

    frames: list[NativeFrame]
    end: WalkEnd
    detail: str
    stack_hits: list[StackHit] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.end is WalkEnd.OUTERMOST


def registers_from(gp: dict[str, int]) -> dict[int, int]:
    """CRIU's x86_64 register names -> DWARF register numbers."""
    return {n: gp[name] for n, name in enumerate(X86_64_DWARF_REGS) if name in gp}


def unwind(gp: dict[str, int], read_u64: ReadU64, sym: Symbolizer, read_code: ReadCode,
           limit: int = MAX_FRAMES) -> Unwind:
    """Unwind from saved x86_64 registers (CRIU names: ip, sp, bp, ...)."""
    regs = registers_from(gp)
    if RIP not in regs or RSP not in regs:
        return Unwind([], WalkEnd.UNREADABLE, "no ip or sp in the saved registers")
    frames = [NativeFrame(0, regs[RIP], regs[RSP], FrameMethod.REGISTERS, False)]
    exact = True
    while True:
        if len(frames) >= limit:
            return Unwind(frames, WalkEnd.LIMIT, f"frame limit {limit} reached")
        step = _step(regs, exact, read_u64, sym, read_code)
        if isinstance(step, Unwind):
            step.frames = frames
            return step
        new_regs, method, ra_slot = step
        pc, sp = new_regs.get(RIP), new_regs.get(RSP)
        if pc is None or pc == 0:
            return Unwind(frames, WalkEnd.OUTERMOST, "return address 0 (outermost frame)")
        if sp is None:
            return Unwind(frames, WalkEnd.BAD_FRAME, "the caller's stack pointer is unknown")
        if not sym.is_code(pc):
            return Unwind(frames, WalkEnd.BAD_FRAME, f"caller 0x{pc:x} ({method} of frame "
                          f"#{len(frames) - 1}) is not in executable memory")
        if method is not FrameMethod.SIGNAL and sp <= regs[RSP]:
            return Unwind(frames, WalkEnd.BAD_FRAME, f"the caller's stack pointer 0x{sp:x} does not move up "
                          f"the stack from 0x{regs[RSP]:x}")
        last = frames[-1]
        frames[-1] = NativeFrame(last.index, last.ip, last.sp, last.method, last.is_return_address, ra_slot)
        exact = method is FrameMethod.SIGNAL
        frames.append(NativeFrame(len(frames), pc, sp, method, not exact))
        regs = new_regs


Step = tuple[dict[int, int], FrameMethod, int | None]


def _step(regs: dict[int, int], exact: bool, read_u64: ReadU64, sym: Symbolizer,
          read_code: ReadCode) -> Step | Unwind:
    pc = regs[RIP]
    code = read_code(pc, 9)
    if code is not None and code.startswith(SIGRETURN_CODE):
        return _signal_frame(regs, read_u64)
    probe = pc if exact else pc - 1
    mod = sym.module_at(probe)
    row: UnwindRow | None = None
    why: tuple[WalkEnd, str]
    if mod is None:
        mapping = sym.mapping_at(probe)
        what = mapping.path if mapping is not None and mapping.path else "anonymous memory"
        why = (WalkEnd.NO_UNWIND_INFO, f"0x{pc:x} is in {what}: no call-frame information")
    elif mod.elf is None or mod.bias is None:
        why = (WalkEnd.NO_BINARY, f"{mod.path}: binary not found, give --rootfs")
    else:
        row = frame_table(mod.elf).row_for(probe - mod.bias)
        why = (WalkEnd.NO_UNWIND_INFO, f"no call-frame information for 0x{pc:x} in {mod.path}")
    if row is not None:
        return _apply(row, regs, read_u64)
    return _frame_pointer(regs, read_u64, why)


def _apply(row: UnwindRow, regs: dict[int, int], read_u64: ReadU64) -> Step | Unwind:
    try:
        if row.cfa.reg is not None:
            if row.cfa.reg not in regs:
                return Unwind([], WalkEnd.UNREADABLE, f"the CFA needs register {row.cfa.reg}, unknown here")
            cfa = (regs[row.cfa.reg] + row.cfa.offset) & (2**64 - 1)
        else:
            cfa = evaluate(row.cfa.expr, regs, read_u64)
        ra_rule = row.rules.get(row.ra_column)
        if ra_rule is None or ra_rule.kind is RuleKind.UNDEFINED:
            return Unwind([], WalkEnd.OUTERMOST, "the return address is undefined in the CFI (outermost frame)")
        new = dict(regs)
        new[RSP] = cfa
        ra_slot = None
        for reg, rule in row.rules.items():
            if rule.kind is RuleKind.UNDEFINED:
                new.pop(reg, None)
            elif rule.kind is RuleKind.OFFSET:
                new[reg] = read_u64(cfa + rule.offset)
                if reg == row.ra_column:
                    ra_slot = cfa + rule.offset
            elif rule.kind is RuleKind.VAL_OFFSET:
                new[reg] = cfa + rule.offset
            elif rule.kind is RuleKind.REGISTER:
                if rule.reg not in regs:
                    return Unwind([], WalkEnd.UNREADABLE, f"register {reg} is saved in unknown register {rule.reg}")
                new[reg] = regs[rule.reg]  # type: ignore[index]
            elif rule.kind is RuleKind.EXPRESSION:
                addr = evaluate(rule.expr, regs, read_u64, cfa)
                new[reg] = read_u64(addr)
                if reg == row.ra_column:
                    ra_slot = addr
            elif rule.kind is RuleKind.VAL_EXPRESSION:
                new[reg] = evaluate(rule.expr, regs, read_u64, cfa)
        if row.ra_column != RIP:
            new[RIP] = new.get(row.ra_column, 0)
    except ExpressionError as e:
        return Unwind([], WalkEnd.UNREADABLE, f"CFI expression: {e}")
    except Exception as e:  # noqa: BLE001 - the memory reader's own error (a gap in the checkpoint)
        return Unwind([], WalkEnd.UNREADABLE, f"a saved register is not in the checkpoint: {e}")
    return new, FrameMethod.CFI, ra_slot


def _frame_pointer(regs: dict[int, int], read_u64: ReadU64, why: tuple[WalkEnd, str]) -> Step | Unwind:
    rbp, rsp = regs.get(RBP), regs[RSP]
    if rbp == 0:
        return Unwind([], why[0], f"{why[1]}; frame pointer 0 (the outermost frame, if this code keeps one)")
    if rbp is None or rbp < rsp or rbp % 8:
        return Unwind([], why[0], f"{why[1]}; no usable frame pointer")
    try:
        ret = read_u64(rbp + 8)
        saved = read_u64(rbp)
    except Exception as e:  # noqa: BLE001 - the memory reader's own error
        return Unwind([], why[0], f"{why[1]}; cannot read the frame at 0x{rbp:x}: {e}")
    new = dict(regs)
    new[RIP], new[RBP], new[RSP] = ret, saved, rbp + 16
    return new, FrameMethod.FP, rbp + 8


def _signal_frame(regs: dict[int, int], read_u64: ReadU64) -> Step | Unwind:
    base = regs[RSP] + UC_MCONTEXT
    new = dict(regs)
    try:
        for i, reg in enumerate(SIGCONTEXT_REGS):
            new[reg] = read_u64(base + 8 * i)
    except Exception as e:  # noqa: BLE001 - the memory reader's own error
        return Unwind([], WalkEnd.UNREADABLE, f"signal frame at 0x{regs[RSP]:x} is not in the checkpoint: {e}")
    return new, FrameMethod.SIGNAL, base + 8 * SIGCONTEXT_REGS.index(RIP)
