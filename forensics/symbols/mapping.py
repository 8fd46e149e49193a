"""Runtime addresses of a process -> symbols of the files it had mapped.

A file mapping (VMA) maps file bytes starting at `pgoff` to `start`. The PT_LOAD segment holding that
file offset says which file vaddr those bytes have (p_vaddr - p_offset + pgoff), so

    bias = vma.start - (p_vaddr - p_offset + pgoff)        runtime address = file vaddr + bias

A static EXEC is linked at its run addresses: bias 0. A PIE or shared object is loaded at a random base:
the bias is that base (when its first PT_LOAD has p_vaddr 0). One object has one bias however many VMAs it
spans (text, rodata, relro, data), so every VMA of an object votes and the bias most of them agree on
wins: with segments that share a file page (old linkers), one VMA alone can fit two segments.

The .bss beyond the last file page is an anonymous mapping right after the object's last file VMA; an
address there still belongs to the object.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from forensics.errors import ForensicsError
from forensics.model.checkpoint import DEFAULT_PAGE_SIZE
from forensics.symbols.elf import ElfImage, InlinedCall, SourceLine

DELETED = " (deleted)"
# Paths in /proc/PID/maps that name no ELF file worth looking up.
NOT_FILES = ("/dev/", "/memfd:", "/SYSV", "/anon_hugepage", "/[aio]", "/dmabuf:")


@dataclass(frozen=True, slots=True)
class Mapping:
    """One VMA: [start, end) maps the file at `path` from byte offset `pgoff` (in BYTES, as /proc maps
    shows it). `perms` (r-xp) when known; anonymous mappings have path None, "" or a [label]."""

    start: int
    end: int
    pgoff: int
    path: str | None
    perms: str | None = None

    @property
    def is_file(self) -> bool:
        return self.path is not None and self.path.startswith("/") and not self.path.startswith(NOT_FILES)

    @property
    def executable(self) -> bool | None:
        return None if self.perms is None else "x" in self.perms


def as_mapping(m: Any) -> Mapping:
    """A Mapping from a (start, end, pgoff, path[, perms]) tuple, or from an object with those attributes
    (forensics.model.Vma: its prot_str supplies perms)."""
    if isinstance(m, Mapping):
        return m
    if isinstance(m, tuple | list):
        return Mapping(int(m[0]), int(m[1]), int(m[2]), m[3] or None, m[4] if len(m) > 4 else None)
    perms = getattr(m, "perms", None) or getattr(m, "prot_str", None)
    path = getattr(m, "path", None) or getattr(m, "label", None) or None  # Vma.label: [heap], [stack], ...
    return Mapping(m.start, m.end, m.pgoff, path, perms)


def bias_candidates(elf: ElfImage, vma: Mapping, page_size: int = DEFAULT_PAGE_SIZE) -> list[tuple[int, bool]]:
    """(bias, exact) for each PT_LOAD whose file range (from its page-rounded start) holds vma.pgoff;
    `exact` when the segment's first page is exactly pgoff."""
    out = []
    for seg in elf.segments:
        first_page = seg.offset - seg.offset % page_size
        if first_page <= vma.pgoff < seg.offset + max(seg.filesz, 1):
            out.append((vma.start - (seg.vaddr - seg.offset + vma.pgoff), first_page == vma.pgoff))
    return out


def load_bias(elf: ElfImage, vmas: Iterable[Mapping], page_size: int = DEFAULT_PAGE_SIZE) -> int | None:
    """The one bias of an object mapped by these VMAs: the candidate most VMAs agree on (exact segment
    starts break ties). None if no VMA falls inside any PT_LOAD."""
    votes: Counter[int] = Counter()
    exact: Counter[int] = Counter()
    for vma in vmas:
        for bias, is_exact in bias_candidates(elf, vma, page_size):
            votes[bias] += 1
            exact[bias] += is_exact
    if not votes:
        return None
    return max(votes, key=lambda b: (votes[b], exact[b], -abs(b)))


def check_build_id(elf: ElfImage, expected_hex: str | None) -> str | None:
    """A warning when the file on disk is not provably the binary that ran: its build-id differs from the
    one expected, or it has none. None when they match or nothing is expected."""
    if not expected_hex:
        return None
    expected = expected_hex.strip().lower().removeprefix("0x")
    actual = elf.build_id
    if actual is None:
        return f"{elf.path} has no build-id; cannot confirm it is the binary that ran ({expected})"
    if actual != expected:
        return f"{elf.path} has build-id {actual}, the process ran {expected}: symbols may be wrong"
    return None


@dataclass(slots=True)
class Module:
    """One mapped object of the process: its VMAs, the file found for it, and its load bias. `note` says
    why it has no symbols (file missing, not ELF, mapping fits no segment) or warns (build-id)."""

    path: str
    mappings: list[Mapping]
    file: Path | None = None
    elf: ElfImage | None = None
    bias: int | None = None
    build_id: str | None = None
    note: str | None = None
    resolved: bool = False

    @property
    def end(self) -> int:
        """Where the object ends in memory: its last VMA, or the end of its zero-filled .bss."""
        end = max(m.end for m in self.mappings)
        if self.elf is not None and self.bias is not None and self.elf.segments:
            end = max(end, max(s.vaddr + s.memsz for s in self.elf.segments) + self.bias)
        return end


@dataclass(frozen=True, slots=True)
class Location:
    """What a runtime address is: `module` (the mapped path), `symbol` and `offset` into it, the source
    `line` (file, line), the module's `build_id`, `file_vaddr` (the address in the file's terms) and a
    `note` when something is missing or doubtful."""

    address: int
    module: str | None = None
    symbol: str | None = None
    offset: int | None = None
    line: SourceLine | None = None
    build_id: str | None = None
    note: str | None = None
    file_vaddr: int | None = None
    inlined: tuple[InlinedCall, ...] = ()

    def __str__(self) -> str:
        """`function+0x1f (file.c:123)`; code inlined there first, as gdb shows it:
        `child_main (service.c:254) in main+0x40e (service.c:720)`; without a symbol, the raw address,
        the mapping it is in and, for an object with a known bias, the file vaddr:
        `0x4c7008 in /usr/lib/x.so+0x7008`."""
        if self.symbol is not None:
            line = self.line
            parts = []
            for call in self.inlined:  # innermost first: each one's call site is the next one's line
                parts.append(f"{call.function}" + (f" ({line})" if line is not None else ""))
                line = call.call
            text = f"{self.symbol}+0x{self.offset or 0:x}"
            if line is not None:
                text += f" ({line})"
            return " in ".join([*parts, text])
        text = f"0x{self.address:x}"
        if self.module:
            text += f" in {self.module}"
            if self.file_vaddr is not None:
                text += f"+0x{self.file_vaddr:x}"
        return text


class Symbolizer:
    """Symbolizes runtime addresses of one process from its mappings.

    `mappings`: (start, end, pgoff, path[, perms]) tuples or Vma-like objects. `resolver`: maps a path as
    the process saw it to the file on disk (e.g. under an extracted rootfs), or None when it is missing.
    `build_ids`: expected build-id per path, when the caller knows them. `page_size`: the process's (its
    auxv's AT_PAGESZ; the 4096 default is only the fallback). Files are opened on first use and
    kept open until close()."""

    def __init__(self, mappings: Iterable[Any], resolver: Callable[[str], Path | None], *,
                 build_ids: MappingOf[str, str] | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.resolver = resolver
        self.build_ids = dict(build_ids or {})
        self.page_size = page_size
        # CRIU 4.2 lists MADV_GUARD_INSTALL ranges as extra "guard" VMAs overlapping real ones: not mappings.
        self._maps = sorted((as_mapping(m) for m in mappings if getattr(m, "kind", None) != "guard"),
                            key=lambda m: m.start)
        self._starts = [m.start for m in self._maps]
        self._module_of: dict[int, Module] = {}
        self._modules: list[Module] = []
        # One module per object instance: a path's VMAs in address order; a VMA at pgoff 0 after others of
        # the same path starts another instance (the same file mapped twice).
        current: dict[str, Module] = {}
        for m in self._maps:
            if not m.is_file:
                continue
            assert m.path is not None
            mod = current.get(m.path)
            if mod is None or (m.pgoff == 0 and any(x.pgoff == 0 for x in mod.mappings)):
                mod = Module(m.path, [])
                current[m.path] = mod
                self._modules.append(mod)
            mod.mappings.append(m)
            self._module_of[m.start] = mod

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for mod in self._modules:
            if mod.elf is not None:
                mod.elf.close()

    def mapping_at(self, address: int) -> Mapping | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._maps[i].end:
            return self._maps[i]
        return None

    def modules(self) -> list[Module]:
        """Every mapped object, each resolved (file found, bias computed)."""
        return [self._resolve(m) for m in self._modules]

    def module_at(self, address: int) -> Module | None:
        """The object an address belongs to: a file VMA of it, or its zero-filled .bss, the anonymous VMA
        directly after its last file VMA."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0 or address >= self._maps[i].end:
            return None
        m = self._maps[i]
        if m.is_file:
            return self._resolve(self._module_of[m.start])
        if m.path or i == 0 or not self._maps[i - 1].is_file or self._maps[i - 1].end != m.start:
            return None
        mod = self._resolve(self._module_of[self._maps[i - 1].start])
        if mod.elf is not None and mod.bias is not None and address < mod.end:
            return mod
        return None

    def _resolve(self, mod: Module) -> Module:
        if mod.resolved:
            return mod
        mod.resolved = True
        lookup = mod.path.removesuffix(DELETED)
        notes = []
        if lookup != mod.path:
            notes.append(f"{lookup} was deleted while mapped; symbols come from the file now at that path")
        try:
            found = self.resolver(lookup)
        except (OSError, ForensicsError) as e:
            found = None
            notes.append(f"resolving {lookup}: {e}")
        if found is None or not Path(found).is_file():
            mod.note = "; ".join([*notes, f"file not found: {lookup}"])
            return mod
        mod.file = Path(found)
        elf = ElfImage(mod.file)
        try:
            _ = elf.segments
            mod.build_id = elf.build_id
        except ForensicsError as e:
            mod.note = f"{lookup}: {e.message}"
            return mod
        mod.elf = elf
        mod.bias = load_bias(elf, mod.mappings, self.page_size)
        if mod.bias is None:
            notes.append(f"{lookup}: no PT_LOAD of {mod.file} covers its mappings (a different file?)")
        elif elf.elf_type == "EXEC" and mod.bias != 0:
            notes.append(f"{lookup}: fixed-address EXEC mapped with bias 0x{mod.bias:x} (a different file?)")
        warning = check_build_id(elf, self.build_ids.get(mod.path) or self.build_ids.get(lookup))
        if warning:
            notes.append(warning)
        mod.note = "; ".join(notes) or None
        return mod

    def symbolize(self, address: int, *, return_address: bool = False, inlined: bool = False) -> Location:
        """Module, symbol+offset, source line and build-id of a runtime address.

        With `return_address` (a caller frame's saved return address) the symbol and line are looked up
        at address-1: a call to a noreturn function can be the last instruction of a function, and its
        return address is then already the next function."""
        mod = self.module_at(address)
        if mod is None:
            m = self.mapping_at(address)
            if m is None:
                return Location(address, note="not in any mapping")
            what = m.path or "anonymous mapping"
            return Location(address, module=m.path or None, note=f"{what}: no file with symbols")
        if mod.elf is None or mod.bias is None:
            return Location(address, module=mod.path, build_id=mod.build_id, note=mod.note)
        vaddr = address - mod.bias
        probe = vaddr - 1 if return_address else vaddr
        found = mod.elf.lookup(probe)
        line = mod.elf.line_for(probe)
        note = mod.note
        if mod.elf.errors:
            note = "; ".join(filter(None, [note, f"{mod.file}: " + "; ".join(mod.elf.errors)]))
        if found is None:
            return Location(address, mod.path, None, None, line, mod.build_id, note, vaddr)
        sym, _ = found
        calls = tuple(mod.elf.inlined_at(probe)) if inlined and line is not None else ()
        return Location(address, mod.path, sym.name, vaddr - sym.value, line, mod.build_id, note, vaddr, calls)

    def address_of(self, name: str, module: str | None = None) -> int | None:
        """Runtime address of a symbol by name (a variable to read, a function to disassemble), searched
        in `module` (a mapped path) or in every object in address order (the executable usually first).
        Objects are opened as the search reaches them."""
        for mod in self.modules():
            if module is not None and mod.path != module:
                continue
            if mod.elf is None or mod.bias is None:
                continue
            sym = mod.elf.symbol(name)
            if sym is not None:
                return sym.value + mod.bias
        return None

    def is_code(self, address: int) -> bool:
        """Whether an address is in executable memory: the VMA's perms when known, else an executable
        PT_LOAD of the object mapped there."""
        m = self.mapping_at(address)
        if m is None:
            return False
        if m.executable is not None:
            return m.executable
        mod = self.module_at(address)
        if mod is None or mod.elf is None or mod.bias is None:
            return False
        seg = mod.elf.segment_at(address - mod.bias)
        return seg is not None and seg.executable

    def is_function_start(self, address: int) -> bool:
        """Whether an address is the first byte of a known function: a function pointer, never a return
        address (a call returns after itself, not to an entry point). False where there are no symbols."""
        mod = self.module_at(address)
        if mod is None or mod.elf is None or mod.bias is None:
            return False
        found = mod.elf.lookup(address - mod.bias)
        return found is not None and found[1] == 0 and found[0].is_code
