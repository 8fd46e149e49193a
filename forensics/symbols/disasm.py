"""Instructions around an address, decoded with capstone.

x86 instructions have variable length, so the bytes before an address cannot be decoded backwards: a
guess at where an earlier instruction starts can decode into plausible nonsense that happens to line up.
The only reliable starting point before ip is the start of the function holding it (from the symbol
table); without one, decoding starts at ip and shows nothing before it. If decoding from the function
start does not land on ip (data in code, a wrong symbol, or ip in the middle of an instruction), the rows
before ip are dropped and decoding restarts at ip.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import capstone

# Architecture names as CRIU, uname and pyelftools (e_machine) spell them.
ARCHES: dict[str, tuple[int, int]] = {
    "x86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
    "EM_X86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
    "aarch64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM),
    "EM_AARCH64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM),
}


@dataclass(frozen=True, slots=True)
class Instruction:
    """One decoded instruction: its address, its bytes as hex, mnemonic and operands, and whether it is
    the instruction at ip (`current`)."""

    address: int
    bytes_hex: str
    mnemonic: str
    op_str: str
    current: bool = False

    def __str__(self) -> str:
        return f"{self.mnemonic} {self.op_str}".strip()


def disassemble(code: bytes, base: int, ip: int, *, function_start: int | None = None, before: int = 8,
                after: int = 8, arch: str = "x86_64") -> list[Instruction]:
    """Up to `before` instructions before ip, the one at ip, and up to `after` following it.

    `code` holds the bytes at [base, base+len(code)). Rows before ip come only from decoding forward from
    `function_start` (which must lie in [base, ip]). Decoding stops early at bytes capstone cannot decode."""
    if not base <= ip < base + len(code):
        raise ValueError(f"ip 0x{ip:x} is outside the bytes given [0x{base:x}, 0x{base + len(code):x})")
    if arch not in ARCHES:
        raise ValueError(f"no disassembler for architecture {arch!r}")
    cs = capstone.Cs(*ARCHES[arch])
    if function_start is not None and base <= function_start <= ip:
        rows = _decode(cs, code, base, function_start, ip, before, after)
        if rows is not None:
            return rows
    return _decode(cs, code, base, ip, ip, 0, after) or []


def _decode(cs: capstone.Cs, code: bytes, base: int, start: int, ip: int, before: int,
            after: int) -> list[Instruction] | None:
    """Rows decoded forward from `start`; None if no instruction starts exactly at ip."""
    earlier: deque[Instruction] = deque(maxlen=before or None)
    out: list[Instruction] = []
    view = memoryview(code)
    for address, size, mnemonic, op_str in cs.disasm_lite(bytes(view[start - base:]), start):
        raw = bytes(view[address - base:address - base + size]).hex()
        if address < ip:
            if address + size > ip:
                return None  # an instruction straddles ip: the decoding is out of step
            if before:
                earlier.append(Instruction(address, raw, mnemonic, op_str))
            continue
        if not out and address != ip:
            return None
        out.append(Instruction(address, raw, mnemonic, op_str, current=address == ip))
        if len(out) > after:
            break
    if not out:
        return None
    return [*earlier, *out]
