"""One ELF file as a source of symbols: build-id, PT_LOAD segments, a sorted symbol index and DWARF lines.

Addresses here are *file* virtual addresses (st_value, p_vaddr, DW_AT_low_pc); `mapping.py` turns runtime
addresses into these with the load bias. The file is read through a read-only mmap and parsed by
pyelftools on first use: opening an ElfImage reads nothing, and each view (symbols, lines) is decoded once.

pyelftools has no address-to-symbol lookup, so `SymbolIndex` sorts the function and object symbols once and
answers lookups by bisect. Files may come from a hostile container image: a damaged table ends its view
early and says so in `ElfImage.errors`; it does not raise.
"""

from __future__ import annotations

import bisect
import mmap
import os
import posixpath
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, NamedTuple, Self, cast

from elftools.common.exceptions import DWARFError, ELFError
from elftools.construct.core import ConstructError  # pyelftools' own bundled construct, not construct 2.10
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection, SymbolTableSection
from elftools.elf.segments import NoteSegment

from forensics.errors import ForensicsError

# What pyelftools raises on a damaged table: its own errors, its bundled construct's, and plain Python
# errors from arithmetic on offsets and indexes that a crafted file makes nonsensical.
PARSE_ERRORS = (ELFError, DWARFError, ConstructError, struct.error, ValueError, IndexError, KeyError,
                OverflowError, UnicodeDecodeError, AttributeError, TypeError)

# st_info.type names as pyelftools spells them; STT_GNU_IFUNC (10) shares its number with STT_LOOS.
SYMBOL_KINDS = {"STT_FUNC": "func", "STT_OBJECT": "object", "STT_GNU_IFUNC": "ifunc", "STT_LOOS": "ifunc"}
CODE_KINDS = frozenset({"func", "ifunc"})
BINDING_RANK = {"global": 0, "weak": 1, "unique": 1, "local": 2}

PF_X, PF_W, PF_R = 1, 2, 4


class ElfError(ForensicsError):
    """A file that cannot be read as an ELF image, or a read outside its loaded bytes."""


@dataclass(frozen=True, slots=True)
class Symbol:
    """A function or data object: `value` is its file vaddr, `kind` one of func/object/ifunc, `binding`
    global/weak/local, `table` the section it came from (.symtab or .dynsym)."""

    name: str
    value: int
    size: int
    kind: str
    binding: str
    table: str

    @property
    def end(self) -> int:
        return self.value + self.size

    @property
    def is_code(self) -> bool:
        return self.kind in CODE_KINDS


@dataclass(frozen=True, slots=True)
class LoadSegment:
    """A PT_LOAD program header: file bytes [offset, offset+filesz) appear at [vaddr, vaddr+filesz), and
    the rest up to memsz is zero-filled (.bss)."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int
    align: int

    @property
    def perms(self) -> str:
        return ("r" if self.flags & PF_R else "-") + ("w" if self.flags & PF_W else "-") + \
            ("x" if self.flags & PF_X else "-")

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)

    def contains_vaddr(self, vaddr: int) -> bool:
        return self.vaddr <= vaddr < self.vaddr + self.memsz


class SourceLine(NamedTuple):
    """A DWARF line-table answer: the source file as the compile unit names it, and the line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{posixpath.basename(self.file)}:{self.line}"


class InlinedCall(NamedTuple):
    """A function inlined at an address, and where its caller called it (the call site's line)."""

    function: str
    call: SourceLine | None


class SymbolIndex:
    """Function and object symbols sorted by address, built once per binary.

    Aliases (one address and size under several names: read, __read, __libc_read) are folded into one
    entry named by the name a reader knows best (fewest leading underscores, then global before weak
    before local); every name still resolves through `by_name`, which prefers a global definition."""

    def __init__(self, symbols: list[Symbol], section_ends: dict[int, int] | None = None,
                 symbol_sections: dict[Symbol, int] | None = None) -> None:
        self.by_name: dict[str, Symbol] = {}
        for s in sorted(symbols, key=_definition_rank):
            self.by_name.setdefault(s.name, s)
        canonical: dict[tuple[int, int], Symbol] = {}
        for s in sorted(symbols, key=_display_rank):
            canonical.setdefault((s.value, s.size), s)
        # Equal starts: larger first, so walking right to left meets the innermost (smallest) one first.
        self.symbols = sorted(canonical.values(), key=lambda s: (s.value, -s.size))
        self._starts = [s.value for s in self.symbols]
        # _max_end[i]: the furthest end of symbols[0..i]; once it is <= an address, no earlier symbol
        # can contain that address, which bounds the backwards walk in `lookup`.
        self._max_end: list[int] = []
        furthest = 0
        for s in self.symbols:
            furthest = max(furthest, s.end)
            self._max_end.append(furthest)
        # A size-0 function (hand-written assembly without .size) may claim addresses after it, but only
        # up to the end of its section.
        sections = symbol_sections or {}
        ends = section_ends or {}
        self._limit = {s: ends[sections[s]] for s in self.symbols if s.size == 0 and sections.get(s) in ends}

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[Symbol]:
        return iter(self.symbols)

    def lookup(self, vaddr: int) -> tuple[Symbol, int] | None:
        """(symbol, vaddr - symbol.value): the innermost symbol whose [value, value+size) holds vaddr;
        else the nearest preceding size-0 function, if vaddr is still inside its section; else None."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        j = i
        while j >= 0 and self._max_end[j] > vaddr:
            s = self.symbols[j]
            if s.size and vaddr < s.end:
                return s, vaddr - s.value
            j -= 1
        if i >= 0:
            s = self.symbols[i]
            if s.size == 0 and s.is_code and vaddr < self._limit.get(s, s.value + 1):
                return s, vaddr - s.value
        return None


def _definition_rank(s: Symbol) -> tuple[int, int]:
    return BINDING_RANK.get(s.binding, 3), 0 if s.table == ".symtab" else 1


def _display_rank(s: Symbol) -> tuple[int, int, int, str]:
    return len(s.name) - len(s.name.lstrip("_")), BINDING_RANK.get(s.binding, 3), len(s.name), s.name


_INDEXES: dict[tuple[int, int, int, int], tuple[SymbolIndex, list[str]]] = {}


class ElfImage:
    """An ELF file on disk, opened lazily and read-only through mmap.

    Views, each decoded on first use: `build_id` (hex or None), `elf_type` (EXEC, DYN, ...), `machine`,
    `segments` (PT_LOAD), `symbol_index`, and the DWARF line table behind `line_for`. `errors` lists what
    could not be decoded (a partial view is still returned)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.errors: list[str] = []
        self._file: IO[bytes] | None = None
        self._map: mmap.mmap | None = None
        self._elf: ELFFile | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ElfImage({str(self.path)!r})"

    def close(self) -> None:
        self._elf = None
        if self._map is not None:
            self._map.close()  # safe: read() hands out copies, never views into the map
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def elf(self) -> ELFFile:
        """The pyelftools view; opening it reads the ELF header only."""
        if self._elf is None:
            try:
                self._file = open(self.path, "rb")  # noqa: SIM115 - held until close()
                self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
                self._elf = ELFFile(cast(IO[bytes], self._map))  # mmap reads and seeks like a file
            except ValueError as e:  # mmap of an empty file
                self.close()
                raise ElfError(f"not an ELF file ({e})", self.path) from None
            except OSError as e:
                self.close()
                raise ElfError(f"cannot open: {e.strerror or e}", self.path) from None
            except PARSE_ERRORS as e:
                self.close()
                raise ElfError(f"not an ELF file ({e})", self.path, 0) from None
        return self._elf

    @cached_property
    def elf_type(self) -> str:
        """EXEC (fixed addresses), DYN (PIE or shared object: loaded with a bias), REL, CORE."""
        e_type = str(self.elf.header["e_type"])
        return e_type.removeprefix("ET_")

    @cached_property
    def machine(self) -> str:
        """e_machine as pyelftools names it: EM_X86_64, EM_AARCH64, ..."""
        return str(self.elf.header["e_machine"])

    @cached_property
    def build_id(self) -> str | None:
        """NT_GNU_BUILD_ID as lowercase hex, from the PT_NOTE segments (present even when section headers
        are stripped), else from the note sections."""
        try:
            holders: list[NoteSegment | NoteSection] = [
                *(s for s in self.elf.iter_segments("PT_NOTE") if isinstance(s, NoteSegment)),
                *(s for s in self.elf.iter_sections("SHT_NOTE") if isinstance(s, NoteSection))]
            for holder in holders:
                for note in holder.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return str(note["n_desc"]).lower()
        except PARSE_ERRORS as e:
            self.errors.append(f"notes: {e}")
        return None

    @cached_property
    def segments(self) -> list[LoadSegment]:
        """PT_LOAD segments in file order."""
        out: list[LoadSegment] = []
        try:
            for seg in self.elf.iter_segments("PT_LOAD"):
                h = seg.header
                out.append(LoadSegment(h.p_vaddr, h.p_memsz, h.p_offset, h.p_filesz, h.p_flags, h.p_align))
        except PARSE_ERRORS as e:
            self.errors.append(f"program headers: {e}")
        return out

    def segment_at(self, vaddr: int) -> LoadSegment | None:
        """The PT_LOAD whose memory image holds vaddr."""
        return next((s for s in self.segments if s.contains_vaddr(vaddr)), None)

    @cached_property
    def file_key(self) -> tuple[int, int, int, int] | None:
        """(device, inode, size, mtime): one file, however many processes mapped it."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    @cached_property
    def symbol_index(self) -> SymbolIndex:
        """Defined STT_FUNC, STT_OBJECT and STT_GNU_IFUNC symbols of .symtab and .dynsym, sorted once per
        file for the whole run (a checkpoint of 200 processes of one binary indexes it once)."""
        key = self.file_key
        if key is not None and key in _INDEXES:
            index, errors = _INDEXES[key]
            self.errors.extend(errors)
            return index
        before = len(self.errors)
        index = self._build_symbol_index()
        if key is not None:
            _INDEXES[key] = (index, self.errors[before:])
        return index

    def _build_symbol_index(self) -> SymbolIndex:
        symbols: list[Symbol] = []
        sections: dict[Symbol, int] = {}
        seen: set[tuple[str, int, int]] = set()
        section_ends: dict[int, int] = {}
        try:
            for n, section in enumerate(self.elf.iter_sections()):
                if section["sh_flags"] & 0x2:  # SHF_ALLOC: only sections that exist in memory bound a symbol
                    section_ends[n] = section["sh_addr"] + section["sh_size"]
        except PARSE_ERRORS as e:
            self.errors.append(f"section headers: {e}")
        for table in (".symtab", ".dynsym"):
            try:
                symtab = self.elf.get_section_by_name(table)
                if not isinstance(symtab, SymbolTableSection):
                    continue
                for sym in symtab.iter_symbols():
                    kind = SYMBOL_KINDS.get(sym["st_info"]["type"])
                    shndx = sym["st_shndx"]
                    if kind is None or not isinstance(shndx, int) or shndx == 0 or not sym.name:
                        continue  # undefined, absolute or common: not an address in this image
                    key = (sym.name, sym["st_value"], sym["st_size"])
                    if key in seen:
                        continue  # .dynsym repeats what .symtab already said
                    seen.add(key)
                    binding = str(sym["st_info"]["bind"]).removeprefix("STB_").lower()
                    s = Symbol(sym.name, sym["st_value"], sym["st_size"], kind, binding, table)
                    symbols.append(s)
                    sections[s] = shndx
            except PARSE_ERRORS as e:
                self.errors.append(f"{table}: {e}")
        return SymbolIndex(symbols, section_ends, sections)

    def lookup(self, vaddr: int) -> tuple[Symbol, int] | None:
        """(symbol, offset into it) for a file vaddr; see SymbolIndex.lookup."""
        return self.symbol_index.lookup(vaddr)

    def symbol(self, name: str) -> Symbol | None:
        """The symbol of that name (a global one when a local of the same name also exists)."""
        return self.symbol_index.by_name.get(name)

    def read(self, vaddr: int, size: int) -> bytes:
        """Up to `size` bytes of the file as loaded at vaddr, stopping at the end of the segment's file
        bytes. Raises ElfError when vaddr is not backed by file bytes (unmapped, or .bss)."""
        _ = self.elf  # opens the mapping
        assert self._map is not None
        for seg in self.segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                start = seg.offset + (vaddr - seg.vaddr)
                stop = min(start + size, seg.offset + seg.filesz, len(self._map))
                if start < stop:
                    return self._map[start:stop]
        raise ElfError(f"0x{vaddr:x} is not in the file bytes of any PT_LOAD", self.path)

    # ------------------------------------------------------------------ DWARF lines

    @cached_property
    def _line_table(self) -> tuple[list[int], list[tuple[str, int, bool]]]:
        """Every row of every line program, sorted by address: (addresses, [(file, line, end_sequence)])."""
        rows: list[tuple[int, int, str, int, bool]] = []
        try:
            if not self.elf.has_dwarf_info():
                return [], []
            dwarf = self.elf.get_dwarf_info(relocate_dwarf_sections=False)
            for cu in dwarf.iter_CUs():
                program = dwarf.line_program_for_CU(cu)
                if program is None:
                    continue
                names = _file_names(program, cu)
                first = 0 if program.header["version"] >= 5 else 1
                for entry in program.get_entries():
                    st = entry.state
                    if st is None:
                        continue
                    i = st.file - first
                    name = names[i] if 0 <= i < len(names) else f"<file {st.file}>"
                    # At one address an end_sequence row sorts before the next sequence's first row.
                    rows.append((st.address, 0 if st.end_sequence else 1, name, st.line, st.end_sequence))
        except PARSE_ERRORS as e:
            self.errors.append(f"DWARF line table: {e}")
        rows.sort(key=lambda r: (r[0], r[1]))
        return [r[0] for r in rows], [(r[2], r[3], r[4]) for r in rows]

    def line_for(self, vaddr: int) -> SourceLine | None:
        """The source line of the instruction at a file vaddr, or None where DWARF says nothing (no debug
        info, code of another compile unit such as libc, or line 0)."""
        addresses, rows = self._line_table
        i = bisect.bisect_right(addresses, vaddr) - 1
        if i < 0:
            return None
        name, line, end_sequence = rows[i]
        if end_sequence or line == 0:
            return None
        return SourceLine(name, line)


    @cached_property
    def _inline_index(self) -> list[tuple[int, int, int, InlinedCall]]:
        """Every DW_TAG_inlined_subroutine range of the DWARF: (low, high, nesting depth, call)."""
        out: list[tuple[int, int, int, InlinedCall]] = []
        try:
            if not self.elf.has_dwarf_info():
                return out
            dwarf = self.elf.get_dwarf_info(relocate_dwarf_sections=False)
            ranges = dwarf.range_lists()
            for cu in dwarf.iter_CUs():
                program = dwarf.line_program_for_CU(cu)
                names = _file_names(program, cu) if program is not None else []
                first = 0 if program is not None and program.header["version"] >= 5 else 1
                top = cu.get_top_DIE()
                base = top.attributes["DW_AT_low_pc"].value if "DW_AT_low_pc" in top.attributes else 0
                stack = [(top, 0)]
                while stack:
                    die, depth = stack.pop()
                    here = depth
                    if die.tag == "DW_TAG_inlined_subroutine":
                        here = depth + 1
                        call = None
                        line = die.attributes.get("DW_AT_call_line")
                        fidx = die.attributes.get("DW_AT_call_file")
                        if line is not None and fidx is not None and 0 <= fidx.value - first < len(names):
                            call = SourceLine(names[fidx.value - first], line.value)
                        entry = InlinedCall(_die_name(die), call)
                        for low, high in _die_ranges(die, ranges, cu, base):
                            out.append((low, high, here, entry))
                    stack.extend((child, here) for child in die.iter_children())
        except PARSE_ERRORS as e:
            self.errors.append(f"DWARF inlined subroutines: {e}")
        out.sort(key=lambda r: r[0])
        return out

    def inlined_at(self, vaddr: int) -> list[InlinedCall]:
        """The functions inlined at a file vaddr, innermost first (empty without DWARF)."""
        hits = [(depth, call) for low, high, depth, call in self._inline_index if low <= vaddr < high]
        return [call for _depth, call in sorted(hits, key=lambda h: -h[0])]


def _die_name(die: Any) -> str:
    """A DIE's name, through DW_AT_abstract_origin / DW_AT_specification (how inlined copies name)."""
    for _ in range(4):
        name = die.attributes.get("DW_AT_name")
        if name is not None:
            return _text(name.value)
        for ref in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if ref in die.attributes:
                die = die.get_DIE_from_attribute(ref)
                break
        else:
            break
    return "??"


def _die_ranges(die: Any, ranges: Any, cu: Any, base: int) -> list[tuple[int, int]]:
    attrs = die.attributes
    if "DW_AT_low_pc" in attrs and "DW_AT_high_pc" in attrs:
        low = attrs["DW_AT_low_pc"].value
        high = attrs["DW_AT_high_pc"]
        end = high.value if high.form == "DW_FORM_addr" else low + high.value
        return [(low, end)]
    if "DW_AT_ranges" in attrs and ranges is not None and attrs["DW_AT_ranges"].form == "DW_FORM_sec_offset":
        out = []
        for r in ranges.get_range_list_at_offset(attrs["DW_AT_ranges"].value, cu=cu):
            if hasattr(r, "begin_offset"):
                shift = 0 if getattr(r, "is_absolute", False) else base
                out.append((r.begin_offset + shift, r.end_offset + shift))
        return out
    return []


def _file_names(program: Any, cu: Any) -> list[str]:
    """The line program's file table as paths: each name joined to its include directory. DWARF 5 numbers
    files and directories from 0 (directory 0 is the compilation directory); DWARF 2-4 from 1, with
    directory 0 meaning DW_AT_comp_dir."""
    version = program.header["version"]
    dirs = [_text(d) for d in program["include_directory"]]
    if version < 5:
        comp_dir = ""
        try:
            attr = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
            comp_dir = _text(attr.value) if attr is not None else ""
        except PARSE_ERRORS:
            pass
        dirs = [comp_dir, *dirs]
    out = []
    for fe in program["file_entry"]:
        name = _text(fe.name)
        d = fe.get("dir_index", 0)
        if not name.startswith("/") and 0 <= d < len(dirs) and dirs[d]:
            name = posixpath.join(dirs[d], name)
        out.append(name)
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
