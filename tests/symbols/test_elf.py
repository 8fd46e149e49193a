"""ElfImage on the real static service binary, checked against the addresses the service reported."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from forensics.symbols.elf import ElfError, ElfImage, Symbol, SymbolIndex
from tests.conftest import REPO, Sample
from tests.symbols.conftest import ArchFacts, symbol

SOURCE = REPO / "samples" / "lab" / "service" / "service.c"
GLOBALS = ("request_counter", "tick_counter", "last_command", "magic_banner")


def test_globals_resolve_by_name_and_back(service_elf: ElfImage, samples_with_binary: list[Sample]) -> None:
    assert service_elf.elf_type == "EXEC"  # static, fixed addresses: runtime address == st_value
    for s in samples_with_binary:
        addr = s.truth["service_state"]["addr"]
        for name in GLOBALS:
            sym = service_elf.symbol(name)
            assert sym is not None and sym.kind == "object", name
            assert sym.value == addr[name], f"{s}: {name}"
            assert service_elf.lookup(addr[name]) == (sym, 0)
            assert service_elf.lookup(addr[name] + sym.size - 1) == (sym, sym.size - 1)


def test_header_views(service_elf: ElfImage, service_binary: Path, facts: ArchFacts) -> None:
    assert service_elf.machine == facts.machine
    assert re.fullmatch(r"[0-9a-f]{40}", service_elf.build_id or "")
    if shutil.which("readelf"):
        notes = subprocess.run(["readelf", "-n", str(service_binary)], capture_output=True, text=True,
                               check=True).stdout
        assert f"Build ID: {service_elf.build_id}" in notes
    main = service_elf.symbol("main")
    assert main is not None and main.kind == "func" and main.size > 0
    text = service_elf.segment_at(main.value)
    assert text is not None and text.executable and text.perms == "r-x"
    data = service_elf.segment_at(symbol(service_elf, "request_counter").value)
    assert data is not None and data.perms == "rw-"
    assert not service_elf.errors


def test_symbol_index_is_sorted_and_built_once(service_elf: ElfImage) -> None:
    index = service_elf.symbol_index
    assert index is service_elf.symbol_index
    values = [s.value for s in index]
    assert values == sorted(values) and len(index) > 1000  # glibc is in there too
    kinds = {s.kind for s in index}
    assert kinds == {"func", "object", "ifunc"}  # static glibc resolves memcpy & co. through IFUNCs
    # Aliases fold into one entry under the familiar name, and every alias still resolves.
    read, libc_read = service_elf.symbol("read"), service_elf.symbol("__libc_read")
    assert read is not None and libc_read is not None and read.value == libc_read.value
    assert service_elf.lookup(read.value + 1) == (read, 1)


def test_magic_banner_read_from_the_file(service_elf: ElfImage) -> None:
    banner = service_elf.symbol("magic_banner")
    assert banner is not None
    assert service_elf.read(banner.value, banner.size) == b"checkpoint-forensics service v1\0"
    with pytest.raises(ElfError, match="not in the file bytes"):
        service_elf.read(symbol(service_elf, "request_counter").value, 8)  # .bss has no file bytes


@pytest.mark.parametrize("function", ["main", "worker_main", "reader_main", "sleeper_main", "state_json"])
def test_line_for_function_defined_in_service_c(service_elf: ElfImage, function: str) -> None:
    sym = service_elf.symbol(function)
    assert sym is not None
    where = service_elf.line_for(sym.value)
    assert where is not None
    assert where.file.endswith("/service.c")
    # GCC puts a function's first row on its opening brace, the line after the one that names it.
    lines = SOURCE.read_text().splitlines()
    assert lines[where.line - 1] == "{" and function + "(" in lines[where.line - 2]
    assert str(where) == f"service.c:{where.line}"


def test_line_for_agrees_with_addr2line(service_elf: ElfImage, service_binary: Path) -> None:
    if shutil.which("addr2line") is None:
        pytest.skip("no addr2line on this host to compare with")
    addresses = [a for s in service_elf.symbol_index if s.is_code and service_elf.line_for(s.value)
                 for a in range(s.value, s.end, 3)]
    assert len(addresses) > 1000
    out = subprocess.run(["addr2line", "-e", str(service_binary), *map(hex, addresses)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    for address, theirs in zip(addresses, out, strict=True):
        ours = service_elf.line_for(address)
        assert ours is not None
        assert theirs.split(" (discriminator")[0] == f"{ours.file}:{ours.line}", hex(address)


def test_line_for_outside_the_compile_unit(service_elf: ElfImage) -> None:
    read = service_elf.symbol("read")
    assert read is not None
    assert service_elf.line_for(read.value) is None  # glibc was linked without DWARF
    assert service_elf.line_for(0) is None


def test_size_zero_function_claims_only_its_section() -> None:
    asm = Symbol("asm_entry", 0x1000, 0, "func", "global", ".symtab")
    sized = Symbol("sized", 0x1100, 0x10, "func", "global", ".symtab")
    label = Symbol("data_label", 0x3000, 0, "object", "global", ".symtab")
    index = SymbolIndex([asm, sized, label], section_ends={1: 0x1200, 2: 0x4000},
                        symbol_sections={asm: 1, sized: 1, label: 2})
    assert index.lookup(0x1080) == (asm, 0x80)
    assert index.lookup(0x1105) == (sized, 5)
    assert index.lookup(0x1110) is None  # after a sized symbol's end: unknown, not asm_entry
    assert index.lookup(0x3004) is None  # size-0 objects claim nothing
    assert index.lookup(0xfff) is None


def test_nested_symbols_prefer_the_innermost() -> None:
    outer = Symbol("table", 0x2000, 0x100, "object", "global", ".symtab")
    inner = Symbol("table_entry", 0x2040, 0x10, "object", "local", ".symtab")
    index = SymbolIndex([outer, inner])
    assert index.lookup(0x2044) == (inner, 4)
    assert index.lookup(0x2050) == (outer, 0x50)
    assert index.lookup(0x2100) is None


def test_not_an_elf_names_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"#!/bin/sh\necho not an ELF\n" * 10)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for path in (junk, empty, tmp_path / "absent"):
        elf = ElfImage(path)  # opening is lazy: nothing is read yet
        with pytest.raises(ElfError) as err:
            _ = elf.build_id
        assert err.value.path == str(path)


def test_truncated_elf_gives_partial_views(service_binary: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut"
    cut.write_bytes(service_binary.read_bytes()[:0x10000])  # headers at the start, tables at the end gone
    with ElfImage(service_binary) as whole:
        loads = len(whole.segments)
    with ElfImage(cut) as elf:
        assert elf.elf_type == "EXEC"
        assert len(elf.segments) == loads  # the program headers are at the start: all of them survive
        assert elf.symbol("main") is None
        assert elf.line_for(0x402232) is None
        assert elf.errors
