"""A frozen thread's call chain, unwound from its saved registers (x86_64 and aarch64).

Each step finds the caller's registers from the callee's, in order of trust:

1. a signal trampoline (`__restore_rt`: `mov $15, %rax; syscall`) at the pc: the interrupted registers
   are in the `ucontext` the kernel pushed (`struct rt_sigframe`: after the handler returned, rsp points at
   `uc`, whose `uc_mcontext` (struct sigcontext) starts 40 bytes in);
2. the call-frame information of the object the pc is in (`cfi.py`): exact, with or without frame pointers;
3. the frame-pointer chain, where no CFI covers the pc (a binary that is not available, JIT code): [rbp]
   holds the caller's rbp and [rbp+8] the return address (aarch64: the frame record [x29] = caller's
   x29, [x29+8] = saved x30). It is right only for code that keeps a frame pointer, so every frame found
   so is marked `fp`.

aarch64 differs in three facts, kept in `ArchSpec`: the return address is register x30 (a leaf function
that saved nothing has it there: CFI with no rule for x30 means "still in x30"); its signal trampoline is
the vDSO's `mov x8, #139; svc #0` with the interrupted registers in the sigcontext of `struct
rt_sigframe` (siginfo 128 bytes, then the ucontext, whose uc_mcontext is 176 bytes in: regs[31], sp, pc
after its 8-byte fault_address); and with pointer authentication (Debian builds arm64 code with
-mbranch-protection=standard) return addresses saved on the stack carry a signature in their top bits,
which is cleared (user addresses are below 2**48) before they are used.

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
    A64_FP,
    A64_LR,
    A64_PC,
    A64_SP,
    AARCH64_DWARF_REGS,
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


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """The facts of one architecture the walk needs: DWARF numbering, which columns are pc/sp/fp/return
    address, the frame-record layout, the signal trampoline and where its saved registers are."""

    name: str
    regs: tuple[str, ...]          # register names by DWARF number (CRIU's / the model's names)
    pc: int
    sp: int
    fp: int
    lr: int | None                 # the return-address register (aarch64 x30); None: on the stack
    sigreturn: tuple[bytes, ...]   # trampoline code at pc that proves a signal frame
    sigregs_offset: int            # from sp at the trampoline to the first saved register
    sigregs: tuple[int, ...]       # the saved registers there, in order, as DWARF numbers
    address_mask: int              # bits a code address can have (pointer-authentication bits cleared)


X86_64 = ArchSpec("x86_64", X86_64_DWARF_REGS, RIP, RSP, RBP, None, SIGRETURN_CODE, UC_MCONTEXT,
                  SIGCONTEXT_REGS, (1 << 64) - 1)
# arm64: `mov x8, #139 (rt_sigreturn); svc #0`; rt_sigframe = siginfo (128) + ucontext, uc_mcontext at
# 176 in it, regs[0] 8 bytes into the sigcontext: x0-x30, sp, pc.
AARCH64 = ArchSpec("aarch64", AARCH64_DWARF_REGS, A64_PC, A64_SP, A64_FP, A64_LR,
                   (bytes.fromhex("681180d2010000d4"),), 128 + 176 + 8, tuple(range(31)) + (A64_SP, A64_PC),
                   (1 << 48) - 1)
SPECS = {"x86_64": X86_64, "aarch64": AARCH64}


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


def registers_from(gp: dict[str, int], spec: ArchSpec = X86_64) -> dict[int, int]:
    """The model's register names -> DWARF register numbers."""
    return {n: gp[name] for n, name in enumerate(spec.regs) if name in gp}


def unwind(gp: dict[str, int], read_u64: ReadU64, sym: Symbolizer, read_code: ReadCode,
           limit: int = MAX_FRAMES, arch: str = "x86_64") -> Unwind:
    """Unwind from saved registers by the model's names (x86_64: ip, sp, bp...; aarch64: pc, sp, x29...)."""
    spec = SPECS.get(str(arch))
    if spec is None:
        return Unwind([], WalkEnd.NO_UNWIND_INFO, f"no unwinder for architecture {arch}")
    regs = registers_from(gp, spec)
    PC, SP = spec.pc, spec.sp  # noqa: N806 - DWARF columns
    if PC not in regs or SP not in regs:
        return Unwind([], WalkEnd.UNREADABLE, "no ip or sp in the saved registers")
    frames = [NativeFrame(0, regs[PC], regs[SP], FrameMethod.REGISTERS, False)]
    exact = True
    while True:
        if len(frames) >= limit:
            return Unwind(frames, WalkEnd.LIMIT, f"frame limit {limit} reached")
        step = _step(regs, exact, read_u64, sym, read_code, spec)
        if isinstance(step, Unwind):
            step.frames = frames
            return step
        new_regs, method, ra_slot = step
        if PC in new_regs:
            new_regs[PC] &= spec.address_mask
        pc, sp = new_regs.get(PC), new_regs.get(SP)
        if pc is None or pc == 0:
            return Unwind(frames, WalkEnd.OUTERMOST, "return address 0 (outermost frame)")
        if sp is None:
            return Unwind(frames, WalkEnd.BAD_FRAME, "the caller's stack pointer is unknown")
        if not sym.is_code(pc):
            return Unwind(frames, WalkEnd.BAD_FRAME, f"caller 0x{pc:x} ({method} of frame "
                          f"#{len(frames) - 1}) is not in executable memory")
        # aarch64: a leaf (frame 0, or the frame a signal interrupted) returns through x30 and may not
        # have moved sp at all: its caller then shares its sp, once.
        leaf = exact and spec.lr is not None and ra_slot is None and sp == regs[SP] and pc != regs[PC]
        if method is not FrameMethod.SIGNAL and sp <= regs[SP] and not leaf:
            return Unwind(frames, WalkEnd.BAD_FRAME, f"the caller's stack pointer 0x{sp:x} does not move up "
                          f"the stack from 0x{regs[SP]:x}")
        last = frames[-1]
        frames[-1] = NativeFrame(last.index, last.ip, last.sp, last.method, last.is_return_address, ra_slot)
        exact = method is FrameMethod.SIGNAL
        frames.append(NativeFrame(len(frames), pc, sp, method, not exact))
        regs = new_regs


Step = tuple[dict[int, int], FrameMethod, int | None]


def _step(regs: dict[int, int], exact: bool, read_u64: ReadU64, sym: Symbolizer,
          read_code: ReadCode, spec: ArchSpec = X86_64) -> Step | Unwind:
    pc = regs[spec.pc]
    code = read_code(pc, 9)
    if code is not None and code.startswith(spec.sigreturn):
        return _signal_frame(regs, read_u64, spec)
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
        return _apply(row, regs, read_u64, spec)
    return _frame_pointer(regs, read_u64, why, spec)


def _apply(row: UnwindRow, regs: dict[int, int], read_u64: ReadU64, spec: ArchSpec = X86_64) -> Step | Unwind:
    try:
        if row.cfa.reg is not None:
            if row.cfa.reg not in regs:
                return Unwind([], WalkEnd.UNREADABLE, f"the CFA needs register {row.cfa.reg}, unknown here")
            cfa = (regs[row.cfa.reg] + row.cfa.offset) & (2**64 - 1)
        else:
            cfa = evaluate(row.cfa.expr, regs, read_u64)
        ra_rule = row.rules.get(row.ra_column)
        # No rule for the return-address column: on aarch64 it is still in x30 (a leaf, or the prologue
        # before x30 is saved); on x86_64 the CFI always places it, so no rule there means none.
        in_register = ra_rule is None and spec.lr is not None and row.ra_column == spec.lr
        if (ra_rule is None and not in_register) or (ra_rule is not None and ra_rule.kind is RuleKind.UNDEFINED):
            return Unwind([], WalkEnd.OUTERMOST, "the return address is undefined in the CFI (outermost frame)")
        if in_register and spec.lr not in regs:
            return Unwind([], WalkEnd.UNREADABLE, "the return address register is unknown in this frame")
        new = dict(regs)
        new[spec.sp] = cfa
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
                new[reg] = regs[rule.reg]
            elif rule.kind is RuleKind.EXPRESSION:
                addr = evaluate(rule.expr, regs, read_u64, cfa)
                new[reg] = read_u64(addr)
                if reg == row.ra_column:
                    ra_slot = addr
            elif rule.kind is RuleKind.VAL_EXPRESSION:
                new[reg] = evaluate(rule.expr, regs, read_u64, cfa)
        if row.ra_column != spec.pc:
            new[spec.pc] = new.get(row.ra_column, 0)
    except ExpressionError as e:
        return Unwind([], WalkEnd.UNREADABLE, f"CFI expression: {e}")
    except Exception as e:  # noqa: BLE001 - the memory reader's own error (a gap in the checkpoint)
        return Unwind([], WalkEnd.UNREADABLE, f"a saved register is not in the checkpoint: {e}")
    return new, FrameMethod.CFI, ra_slot


def _frame_pointer(regs: dict[int, int], read_u64: ReadU64, why: tuple[WalkEnd, str],
                   spec: ArchSpec = X86_64) -> Step | Unwind:
    rbp, rsp = regs.get(spec.fp), regs[spec.sp]
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
    new[spec.pc], new[spec.fp], new[spec.sp] = ret, saved, rbp + 16
    if spec.lr is not None:
        new[spec.lr] = ret
    return new, FrameMethod.FP, rbp + 8


def _signal_frame(regs: dict[int, int], read_u64: ReadU64, spec: ArchSpec = X86_64) -> Step | Unwind:
    base = regs[spec.sp] + spec.sigregs_offset
    new = dict(regs)
    try:
        for i, reg in enumerate(spec.sigregs):
            new[reg] = read_u64(base + 8 * i)
    except Exception as e:  # noqa: BLE001 - the memory reader's own error
        return Unwind([], WalkEnd.UNREADABLE,
                      f"signal frame at 0x{regs[spec.sp]:x} is not in the checkpoint: {e}")
    return new, FrameMethod.SIGNAL, base + 8 * spec.sigregs.index(spec.pc)
