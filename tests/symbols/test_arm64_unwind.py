"""The aarch64 walk's own rules, on hand-built stacks (the bundled arm64 samples check it on real
threads): the frame-record chain (x29), x30 as the return address of a leaf, the vDSO's rt_sigreturn
frame, and return addresses signed by pointer authentication."""

from __future__ import annotations

from forensics.symbols.cfi import A64_LR, A64_PC, A64_SP, CfaRule, RegRule, RuleKind, UnwindRow
from forensics.symbols.mapping import Symbolizer
from forensics.symbols.unwind import AARCH64, FrameMethod, WalkEnd, _apply, unwind
from tests.symbols.test_stack import MAPS, memory, no_code

SVC_SIGRETURN = bytes.fromhex("681180d2010000d4")  # mov x8, #139; svc #0


def records(*frames: tuple[int, int, int]) -> dict[int, int]:
    """Stack words for aarch64 frame records given as (x29, saved x29, saved x30)."""
    words = {}
    for fp, saved, lr in frames:
        words[fp], words[fp + 8] = saved, lr
    return words


def test_frame_records_are_walked_through_x29() -> None:
    words = records((0x7000, 0x7100, 0x401010), (0x7100, 0x7200, 0x402020), (0x7200, 0, 0x403030))
    walk = unwind({"pc": 0x400500, "sp": 0x6f00, "x29": 0x7000, "x30": 0x401010}, memory(words),
                  Symbolizer(MAPS, lambda _p: None), no_code, arch="aarch64")
    assert [f.ip for f in walk.frames] == [0x400500, 0x401010, 0x402020, 0x403030]
    assert [f.method for f in walk.frames] == [FrameMethod.REGISTERS] + [FrameMethod.FP] * 3
    assert [f.ra_slot for f in walk.frames] == [0x7008, 0x7108, 0x7208, None]
    assert walk.end is WalkEnd.NO_UNWIND_INFO and "frame pointer 0" in walk.detail
    # x86_64 names mean nothing on aarch64: the same registers under x86 names give no chain.
    wrong = unwind({"ip": 0x400500, "sp": 0x6f00, "bp": 0x7000}, memory(words),
                   Symbolizer(MAPS, lambda _p: None), no_code, arch="aarch64")
    assert wrong.frames == [] and wrong.end is WalkEnd.UNREADABLE


def test_pointer_authentication_bits_are_cleared_from_return_addresses() -> None:
    signed = 0x3A5F_0000_0040_1010  # a PAC signature in bits 48-63 of a saved x30
    words = records((0x7000, 0, signed))
    walk = unwind({"pc": 0x400500, "sp": 0x6f00, "x29": 0x7000}, memory(words),
                  Symbolizer(MAPS, lambda _p: None), no_code, arch="aarch64")
    assert [f.ip for f in walk.frames] == [0x400500, 0x401010]


def test_a_leaf_returns_through_x30_and_an_undefined_x30_is_the_outermost_frame() -> None:
    regs = {A64_PC: 0x400500, A64_SP: 0x6f00, A64_LR: 0x401010, 29: 0x7000}
    leaf = UnwindRow(CfaRule(A64_SP, 0), {}, A64_LR, 0x400400, 0x400600, ".eh_frame")
    step = _apply(leaf, regs, memory({}), AARCH64)
    assert not isinstance(step, type(unwind({}, memory({}), Symbolizer([], lambda _p: None), no_code)))
    new, method, slot = step  # type: ignore[misc]
    assert (new[A64_PC], new[A64_SP], method, slot) == (0x401010, 0x6f00, FrameMethod.CFI, None)
    # A function that saved x30 at CFA-8 (stp x29, x30, [sp, #-16]!): read from the stack.
    saved = UnwindRow(CfaRule(A64_SP, 16), {29: RegRule(RuleKind.OFFSET, -16), A64_LR: RegRule(RuleKind.OFFSET, -8)},
                      A64_LR, 0x400400, 0x400600, ".eh_frame")
    new, method, slot = _apply(saved, regs, memory({0x6f00: 0x7100, 0x6f08: 0x402020}), AARCH64)  # type: ignore[misc]
    assert (new[A64_PC], new[A64_SP], new[29], slot) == (0x402020, 0x6f10, 0x7100, 0x6f08)
    # glibc's _start marks x30 undefined: the chain is complete there.
    start = UnwindRow(CfaRule(A64_SP, 0), {A64_LR: RegRule(RuleKind.UNDEFINED)}, A64_LR, 0, 0x10, ".eh_frame")
    end = _apply(start, regs, memory({}), AARCH64)
    assert getattr(end, "end", None) is WalkEnd.OUTERMOST


def test_signal_frame_restores_the_interrupted_registers() -> None:
    """A handler returned into the vDSO's __kernel_rt_sigreturn: sp points at struct rt_sigframe, whose
    sigcontext (after 128 bytes of siginfo, 176 into the ucontext, 8 bytes of fault_address) holds
    x0-x30, sp and pc; the interrupted pc is exact."""
    trampoline, sp = 0x400800, 0x8000
    saved = [0] * 33
    saved[29], saved[30], saved[31], saved[32] = 0x9000, 0x402000, 0x8800, 0x401234  # x29, x30, sp, pc
    words = {sp + 128 + 176 + 8 + 8 * i: v for i, v in enumerate(saved)}
    words.update(records((0x9000, 0, 0x403000)))

    def code(address: int, _length: int) -> bytes | None:
        return SVC_SIGRETURN if address == trampoline else None

    walk = unwind({"pc": trampoline, "sp": sp, "x29": 0}, memory(words), Symbolizer(MAPS, lambda _p: None), code,
                  arch="aarch64")
    assert [(f.ip, f.method, f.is_return_address) for f in walk.frames][:2] == [
        (trampoline, FrameMethod.REGISTERS, False), (0x401234, FrameMethod.SIGNAL, False)]
    assert walk.frames[1].sp == 0x8800
    assert walk.frames[2].ip == 0x403000
