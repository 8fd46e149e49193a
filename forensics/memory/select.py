"""Which memory a command looks at: --pid, --prot, --range, --kind, the same for every memory command."""

from __future__ import annotations

from dataclasses import dataclass

from forensics.errors import ForensicsError

KINDS = {"heap", "stack", "anon", "file", "shared", "vdso", "memfd", "sysv", "vvar", "vsyscall"}


def parse_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text, 16)
        except ValueError:
            raise ForensicsError(f"not an address or number: {text!r}") from None


def parse_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not sep:
        raise ForensicsError(f"a range is START-END (hex), not {text!r}")
    start, end = parse_int(lo), parse_int(hi)
    if end <= start:
        raise ForensicsError(f"empty range {text!r}")
    return start, end


@dataclass(frozen=True, slots=True)
class VmaFilter:
    """`prot` is a set of letters that must all be present (e.g. "rw", "x"); `kinds` as in Vma.kind,
    where "shared" also takes memfd and SysV mappings."""

    pids: frozenset[int] | None = None
    prot: str = ""
    range: tuple[int, int] | None = None
    kinds: frozenset[str] | None = None

    @classmethod
    def parse(cls, pid: list[int] | None, prot: str | None, rng: str | None, kind: list[str] | None) -> VmaFilter:
        kinds = None
        if kind:
            kinds = frozenset(k.strip() for part in kind for k in part.split(",") if k.strip())
            bad = kinds - KINDS
            if bad:
                raise ForensicsError(f"unknown --kind {', '.join(sorted(bad))}; known: {', '.join(sorted(KINDS))}")
        if prot and set(prot) - set("rwx"):
            raise ForensicsError(f"--prot takes letters r, w, x, not {prot!r}")
        return cls(frozenset(pid) if pid else None, prot or "", parse_range(rng) if rng else None, kinds)

    def wants_pid(self, pid: int) -> bool:
        return self.pids is None or pid in self.pids

    def wants_vma(self, vma) -> bool:  # noqa: ANN001 - any object with start/end/prot_str/kind
        if self.kinds is not None:
            kind = "shared" if vma.kind in ("memfd", "sysv") and "shared" in self.kinds else vma.kind
            if kind not in self.kinds:
                return False
        if self.prot and not all(c in vma.prot_str for c in self.prot):
            return False
        if self.range is not None and (vma.end <= self.range[0] or vma.start >= self.range[1]):
            return False
        return vma.kind != "guard"

    def wants_address(self, address: int, length: int = 1) -> bool:
        return self.range is None or (address + length > self.range[0] and address < self.range[1])
