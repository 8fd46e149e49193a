"""Call-frame information of one ELF file: for a code address, how to find the caller's registers.

Every function a modern compiler or assembler emits comes with a row of CFI (DWARF 5, section 6.4; the
`.eh_frame` variant is in the LSB): the canonical frame address (CFA, the caller's stack pointer) as a
register plus an offset or as a DWARF expression, and for each saved register where the caller's value
is (at CFA+N, in another register, computed by an expression, or undefined: the outermost frame). This
is what gdb and libunwind unwind with; unlike a frame-pointer walk it is exact for code built without
frame pointers (libc's system-call wrappers, leaf functions).

pyelftools parses the sections; `FrameTable` indexes the FDEs by address once per file (cached by inode,
size and mtime, so 200 processes of one binary parse its CFI once) and decodes an FDE's rows only when an
address inside it is asked for. Addresses are file vaddrs, as in `elf.py`.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from elftools.dwarf.callframe import CIE, FDE, CFARule, RegisterRule
from elftools.dwarf.dwarf_expr import DWARFExprParser

from forensics.symbols.elf import PARSE_ERRORS, ElfImage

# DWARF register numbers of x86_64 (System V psABI, figure 3.36) and CRIU's names for them.
X86_64_DWARF_REGS = ("ax", "dx", "cx", "bx", "si", "di", "bp", "sp",
                     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "ip")
RSP, RBP, RIP = 7, 6, 16
# DWARF register numbers of aarch64 (Arm's AADWARF64): x0-x30 are 0-30, sp is 31. The pc has no column
# of its own (the return address is x30's): the walk keeps it under 32, which no CFI rule names.
AARCH64_DWARF_REGS = tuple(f"x{i}" for i in range(31)) + ("sp", "pc")
A64_FP, A64_LR, A64_SP, A64_PC = 29, 30, 31, 32


class RuleKind(StrEnum):
    """Where a caller's register value is (DWARF 5, 6.4.1 "register rules")."""

    UNDEFINED = "undefined"          # no value: for the return address, this is the outermost frame
    SAME = "same"                    # unchanged from this frame
    OFFSET = "offset"                # saved at CFA + offset
    VAL_OFFSET = "val-offset"        # the value is CFA + offset
    REGISTER = "register"            # held in another register
    EXPRESSION = "expression"        # saved at the address an expression computes
    VAL_EXPRESSION = "val-expression"  # the value is what an expression computes


_KINDS = {RegisterRule.UNDEFINED: RuleKind.UNDEFINED, RegisterRule.SAME_VALUE: RuleKind.SAME,
          RegisterRule.OFFSET: RuleKind.OFFSET, RegisterRule.VAL_OFFSET: RuleKind.VAL_OFFSET,
          RegisterRule.REGISTER: RuleKind.REGISTER, RegisterRule.EXPRESSION: RuleKind.EXPRESSION,
          RegisterRule.VAL_EXPRESSION: RuleKind.VAL_EXPRESSION}


@dataclass(frozen=True, slots=True)
class ExprOp:
    """One DWARF expression operation, as pyelftools names it (DW_OP_breg7) with its operands."""

    name: str
    args: tuple[int, ...]


Expression = tuple[ExprOp, ...]


@dataclass(frozen=True, slots=True)
class RegRule:
    """A register rule: `kind`, with `offset` (OFFSET, VAL_OFFSET), `reg` (REGISTER) or `expr`."""

    kind: RuleKind
    offset: int = 0
    reg: int | None = None
    expr: Expression = ()


@dataclass(frozen=True, slots=True)
class CfaRule:
    """The CFA: register `reg` plus `offset`, or the value of `expr` when reg is None."""

    reg: int | None
    offset: int
    expr: Expression = ()


@dataclass(frozen=True, slots=True)
class UnwindRow:
    """The CFI in force at one address: the CFA rule, the rules of the registers it mentions, the
    return-address column, the FDE's range [start, end) and the section it came from."""

    cfa: CfaRule
    rules: dict[int, RegRule]
    ra_column: int
    start: int
    end: int
    section: str
    signal_frame: bool = False


class ExpressionError(Exception):
    """An expression this evaluator does not handle, or that reads unreadable memory."""


@dataclass(slots=True)
class _Fde:
    start: int
    end: int
    entry: FDE
    section: str
    rows: list[tuple[int, UnwindRow]] | None = None


@dataclass(slots=True)
class FrameTable:
    """Every FDE of one file, sorted by start address; `errors` says what could not be parsed."""

    fdes: list[_Fde] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)
    _parser: DWARFExprParser | None = None

    def __len__(self) -> int:
        return len(self.fdes)

    def row_for(self, vaddr: int) -> UnwindRow | None:
        """The row in force at a file vaddr, or None when no FDE covers it."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        while i >= 0 and self.fdes[i].start <= vaddr:
            fde = self.fdes[i]
            if vaddr < fde.end:
                rows = self._rows(fde)
                if not rows:
                    return None
                j = bisect.bisect_right([pc for pc, _ in rows], vaddr) - 1
                return rows[max(j, 0)][1]
            if i == 0 or self.fdes[i - 1].end <= vaddr:
                break
            i -= 1  # overlapping FDEs (.eh_frame and .debug_frame both describing a function)
        return None

    def _rows(self, fde: _Fde) -> list[tuple[int, UnwindRow]]:
        if fde.rows is not None:
            return fde.rows
        rows: list[tuple[int, UnwindRow]] = []
        try:
            decoded = fde.entry.get_decoded()
            cie = fde.entry.cie
            ra = int(cie["return_address_register"]) if cie is not None else RIP
            signal = bool(cie is not None and b"S" in (cie["augmentation"] or b""))
            for line in decoded.table:
                cfa = self._cfa(line["cfa"])
                rules = {reg: self._rule(rule) for reg, rule in line.items() if isinstance(reg, int)}
                rows.append((int(line["pc"]), UnwindRow(cfa, rules, ra, fde.start, fde.end, fde.section, signal)))
        except PARSE_ERRORS as e:
            self.errors.append(f"FDE at 0x{fde.start:x}: {e}")
        fde.rows = rows
        return rows

    def _expr(self, raw: Any) -> Expression:
        assert self._parser is not None
        return tuple(ExprOp(op.op_name, tuple(int(a) for a in op.args)) for op in self._parser.parse_expr(raw))

    def _cfa(self, rule: CFARule) -> CfaRule:
        if rule.expr is not None:
            return CfaRule(None, 0, self._expr(rule.expr))
        return CfaRule(rule.reg, int(rule.offset or 0))

    def _rule(self, rule: RegisterRule) -> RegRule:
        kind = _KINDS.get(rule.type, RuleKind.UNDEFINED)
        number = rule.arg if isinstance(rule.arg, int) else 0
        if kind in (RuleKind.OFFSET, RuleKind.VAL_OFFSET):
            return RegRule(kind, offset=number)
        if kind is RuleKind.REGISTER:
            return RegRule(kind, reg=number)
        if kind in (RuleKind.EXPRESSION, RuleKind.VAL_EXPRESSION):
            return RegRule(kind, expr=self._expr(rule.arg))
        return RegRule(kind)


_CACHE: dict[tuple[int, int, int, int], FrameTable] = {}


def frame_table(elf: ElfImage) -> FrameTable:
    """The FDE index of a file, parsed once per (device, inode, size, mtime) for the whole run."""
    try:
        st = os.stat(elf.path)
        key: tuple[int, int, int, int] | None = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    table = _build(elf)
    if key is not None:
        _CACHE[key] = table
    return table


def _build(elf: ElfImage) -> FrameTable:
    table = FrameTable()
    try:
        dwarf = elf.elf.get_dwarf_info(relocate_dwarf_sections=False)
        table._parser = DWARFExprParser(dwarf.structs)
        sources: list[tuple[str, Callable[[], Sequence[Any]]]] = []
        if dwarf.has_EH_CFI():
            sources.append((".eh_frame", dwarf.EH_CFI_entries))
        if dwarf.has_CFI():
            sources.append((".debug_frame", dwarf.CFI_entries))
    except PARSE_ERRORS as e:
        table.errors.append(f"call-frame information: {e}")
        return table
    for name, entries in sources:
        try:
            for entry in entries():
                if isinstance(entry, FDE) and not isinstance(entry, CIE):
                    start = int(entry.header["initial_location"])
                    size = int(entry.header["address_range"])
                    if size > 0:
                        table.fdes.append(_Fde(start, start + size, entry, name))
        except PARSE_ERRORS as e:
            table.errors.append(f"{name}: {e}")
    table.fdes.sort(key=lambda f: (f.start, f.section != ".eh_frame"))
    table._starts = [f.start for f in table.fdes]
    return table


# ------------------------------------------------------------------ DWARF expressions

ReadU64 = Callable[[int], int]
MASK = (1 << 64) - 1


def evaluate(expr: Expression, regs: dict[int, int], read_u64: ReadU64, initial: int | None = None) -> int:
    """The value of a CFI expression (DWARF 5, 2.5): a stack machine over 64-bit words. `initial` is pushed
    first (the CFA, for register rules). Handles what compilers and glibc's hand-written CFI use (PLT
    entries, signal trampolines); anything else raises ExpressionError rather than guess."""
    stack: list[int] = [] if initial is None else [initial]

    def pop() -> int:
        if not stack:
            raise ExpressionError("expression stack underflow")
        return stack.pop()

    for op in expr:
        name, args = op.name, op.args
        if name.startswith("DW_OP_lit"):
            stack.append(int(name[9:]))
        elif name.startswith("DW_OP_breg") and name[10:].isdigit():
            reg = int(name[10:])
            if reg not in regs:
                raise ExpressionError(f"register {reg} is unknown in this frame")
            stack.append((regs[reg] + args[0]) & MASK)
        elif name == "DW_OP_bregx":
            if args[0] not in regs:
                raise ExpressionError(f"register {args[0]} is unknown in this frame")
            stack.append((regs[args[0]] + args[1]) & MASK)
        elif name.startswith("DW_OP_const") or name == "DW_OP_addr":
            stack.append(args[0] & MASK)
        elif name == "DW_OP_plus_uconst":
            stack.append((pop() + args[0]) & MASK)
        elif name == "DW_OP_deref":
            addr = pop()
            try:
                stack.append(read_u64(addr))
            except Exception as e:  # noqa: BLE001 - the reader's own error type
                raise ExpressionError(f"cannot read 0x{addr:x}: {e}") from None
        elif name == "DW_OP_dup":
            stack.append(stack[-1] if stack else pop())
        elif name == "DW_OP_drop":
            pop()
        elif name == "DW_OP_swap":
            a, b = pop(), pop()
            stack += [a, b]
        elif name in _BINARY:
            b, a = pop(), pop()
            stack.append(_BINARY[name](a, b) & MASK)
        else:
            raise ExpressionError(f"unsupported operation {name}")
    if not stack:
        raise ExpressionError("expression left nothing on the stack")
    return stack[-1]


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


_BINARY: dict[str, Callable[[int, int], int]] = {
    "DW_OP_plus": lambda a, b: a + b, "DW_OP_minus": lambda a, b: a - b, "DW_OP_mul": lambda a, b: a * b,
    "DW_OP_and": lambda a, b: a & b, "DW_OP_or": lambda a, b: a | b, "DW_OP_xor": lambda a, b: a ^ b,
    "DW_OP_shl": lambda a, b: a << (b & 63), "DW_OP_shr": lambda a, b: a >> (b & 63),
    "DW_OP_shra": lambda a, b: _signed(a) >> (b & 63),
    "DW_OP_ge": lambda a, b: int(_signed(a) >= _signed(b)), "DW_OP_gt": lambda a, b: int(_signed(a) > _signed(b)),
    "DW_OP_le": lambda a, b: int(_signed(a) <= _signed(b)), "DW_OP_lt": lambda a, b: int(_signed(a) < _signed(b)),
    "DW_OP_eq": lambda a, b: int(a == b), "DW_OP_ne": lambda a, b: int(a != b),
}
