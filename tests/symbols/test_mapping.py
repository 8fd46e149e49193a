"""Symbolizer over real process maps: the static service from the lab's truth, and a PIE run here."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from forensics.symbols.elf import ElfImage
from forensics.symbols.mapping import Mapping, Symbolizer, check_build_id, load_bias
from tests.conftest import Sample
from tests.symbols.conftest import ArchFacts, resolver_for, symbol, truth_maps

GLOBALS = ("request_counter", "tick_counter", "last_command", "magic_banner")


def test_main_symbolizes_in_every_process(samples_with_binary: list[Sample], service_binary: Path,
                                          service_elf: ElfImage) -> None:
    main = service_elf.symbol("main")
    assert main is not None
    line = service_elf.line_for(main.value)
    assert line is not None
    for s in samples_with_binary:
        for proc in s.truth["before"]["processes"]:
            exe = proc["exe"]
            with Symbolizer(truth_maps(proc), resolver_for(service_binary, exe)) as sym:
                loc = sym.symbolize(main.value)
                assert str(loc) == f"main+0x0 (service.c:{line.line})", f"{s} pid {proc['pid']}"
                assert loc.module == exe and loc.build_id == service_elf.build_id and loc.note is None
                assert [(m.path, m.bias) for m in sym.modules() if m.elf] == [(exe, 0)]
                assert sym.is_code(main.value)
                assert not sym.is_code(s.truth["service_state"]["addr"]["heap_secret"])


def test_globals_of_the_truth_symbolize(samples_with_binary: list[Sample], service_binary: Path) -> None:
    for s in samples_with_binary:
        addr = s.truth["service_state"]["addr"]
        proc = next(p for p in s.truth["before"]["processes"] if p["pid"] == s.truth["service_state"]["pid"])
        exe = proc["exe"]
        with Symbolizer(truth_maps(proc), resolver_for(service_binary, exe)) as sym:
            for name in GLOBALS:
                assert str(sym.symbolize(addr[name])) == f"{name}+0x0", f"{s}: {name}"
                assert sym.symbolize(addr[name] + 2).offset == 2
                assert sym.address_of(name) == addr[name]
            # The heap secret is heap memory: no module, and the note says so.
            heap = sym.symbolize(addr["heap_secret"])
            assert heap.symbol is None and heap.module == "[heap]" and "no file" in (heap.note or "")


def test_bss_past_the_file_mapping_belongs_to_the_binary(samples_with_binary: list[Sample],
                                                         service_binary: Path, service_elf: ElfImage) -> None:
    proc = samples_with_binary[0].truth["before"]["processes"][0]
    exe = proc["exe"]
    maps = truth_maps(proc)
    last_file = max(i for i, m in enumerate(maps) if m[3] == exe)
    start, end, _, path, _ = maps[last_file + 1]
    assert path == "" and start == maps[last_file][1]  # the zero-filled rest of .bss
    inside = [s for s in service_elf.symbol_index if s.kind == "object" and start <= s.value < end]
    assert inside, "no .bss object past the file mapping"
    with Symbolizer(maps, resolver_for(service_binary, exe)) as sym:
        for s in inside[:20]:
            loc = sym.symbolize(s.value)
            assert loc.module == exe and loc.offset == 0
            assert service_elf.symbol(loc.symbol or "") is not None
        assert end - 4096 < sym.modules()[0].end <= end  # the object ends where its .bss does
        assert sym.symbolize(sym.modules()[0].end).module is None  # past it: anonymous memory


def test_missing_file_gives_raw_address_and_names_it(samples_with_binary: list[Sample],
                                                      service_elf: ElfImage) -> None:
    proc = samples_with_binary[0].truth["before"]["processes"][0]
    exe = proc["exe"]
    main = service_elf.symbol("main")
    assert main is not None
    with Symbolizer(truth_maps(proc), lambda path: None) as sym:
        loc = sym.symbolize(main.value)
        assert loc.symbol is None and loc.line is None and loc.module == exe
        assert str(loc) == f"0x{main.value:x} in {exe}"
        assert loc.note == f"file not found: {exe}"
        assert sym.symbolize(0x10).note == "not in any mapping"


def test_deleted_binary_is_looked_up_without_the_suffix(samples_with_binary: list[Sample],
                                                        service_binary: Path, service_elf: ElfImage) -> None:
    proc = samples_with_binary[0].truth["before"]["processes"][0]
    exe = proc["exe"]
    maps = [(a, b, off, p + " (deleted)" if p == exe else p, perms)
            for a, b, off, p, perms in truth_maps(proc)]
    with Symbolizer(maps, resolver_for(service_binary, exe)) as sym:
        loc = sym.symbolize(symbol(service_elf, "main").value)
        assert loc.symbol == "main" and "deleted" in (loc.note or "")


def test_build_id_check(samples_with_binary: list[Sample], service_binary: Path,
                        service_elf: ElfImage) -> None:
    real = service_elf.build_id
    assert real is not None
    assert check_build_id(service_elf, real.upper()) is None
    assert check_build_id(service_elf, None) is None
    other = "00" * 20
    warning = check_build_id(service_elf, other)
    assert warning is not None and real in warning and other in warning
    proc = samples_with_binary[0].truth["before"]["processes"][0]
    exe = proc["exe"]
    with Symbolizer(truth_maps(proc), resolver_for(service_binary, exe), build_ids={exe: other}) as sym:
        loc = sym.symbolize(symbol(service_elf, "main").value)
        assert loc.symbol == "main" and other in (loc.note or "")


def test_bias_of_a_static_exec_is_zero(samples_with_binary: list[Sample], service_elf: ElfImage,
                                       facts: ArchFacts) -> None:
    proc = samples_with_binary[0].truth["before"]["processes"][0]
    exe = proc["exe"]
    vmas = [Mapping(*m) for m in truth_maps(proc) if m[3] == exe]
    assert len(vmas) == facts.exe_mappings  # text, rodata, relro, data... each on its own
    assert load_bias(service_elf, vmas) == 0
    for vma in vmas:
        assert load_bias(service_elf, [vma]) == 0  # even alone, the segment-start match decides


PIE_SOURCE = r"""
#include <stdio.h>
#include <unistd.h>

int pie_global = 42;

__attribute__((noinline)) int target_fn(int x)
{
    return x * 3 + pie_global;
}

int main(void)
{
    printf("%lx %lx %lx\n", (unsigned long)&target_fn, (unsigned long)&pie_global, (unsigned long)&getpid);
    fflush(stdout);
    pause();
    return target_fn(1);
}
"""


def parse_maps(text: str) -> list[tuple[int, int, int, str, str]]:
    out = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        out.append((start, end, int(fields[2], 16), fields[5] if len(fields) > 5 else "", fields[1]))
    return out


@pytest.fixture
def pie_process(tmp_path: Path):
    """A PIE of ours, running and paused: (its binary, the addresses it printed, its maps)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc on this host to build a PIE")
    src = tmp_path / "pie.c"
    src.write_text(PIE_SOURCE)
    exe = tmp_path / "pie"
    subprocess.run([gcc, "-g", "-fPIE", "-pie", "-o", str(exe), str(src)], check=True)
    proc = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        # poll, not select(): select() refuses descriptors past 1023, which a long test session can reach
        with selectors.DefaultSelector() as waiting:
            waiting.register(proc.stdout, selectors.EVENT_READ)
            assert waiting.select(20), "the PIE printed nothing"
        target, glob, getpid = (int(x, 16) for x in proc.stdout.readline().split())
        maps = parse_maps(Path(f"/proc/{proc.pid}/maps").read_text())
        yield exe, {"target_fn": target, "pie_global": glob, "getpid": getpid}, maps
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_pie_runtime_address_maps_back(pie_process) -> None:
    exe, addr, maps = pie_process
    with Symbolizer(maps, lambda p: Path(p) if Path(p).is_file() else None) as sym:
        loc = sym.symbolize(addr["target_fn"])
        assert loc.symbol == "target_fn" and loc.offset == 0 and loc.module == str(exe)
        assert loc.line is not None and loc.line.file.endswith("pie.c")
        lines = PIE_SOURCE.splitlines()  # line 1 is the empty line before #include
        first = next(i for i, text in enumerate(lines, 1) if "int target_fn(" in text)
        assert first <= loc.line.line <= first + 3  # inside target_fn's definition
        assert sym.symbolize(addr["target_fn"] + 1).offset == 1
        assert str(sym.symbolize(addr["pie_global"])) == "pie_global+0x0"
        assert sym.address_of("target_fn") == addr["target_fn"]
        assert sym.address_of("pie_global") == addr["pie_global"]
        module = next(m for m in sym.modules() if m.path == str(exe))
        with ElfImage(exe) as elf:
            assert elf.elf_type == "DYN"
            assert module.bias == addr["target_fn"] - symbol(elf, "target_fn").value
            assert module.build_id == elf.build_id
        assert module.bias is not None and module.bias != 0 and module.bias % 4096 == 0
        assert module.note is None
        # A shared library spanning several VMAs: libc's getpid, by one of its names.
        libc = sym.symbolize(addr["getpid"])
        assert libc.symbol is not None and libc.symbol.lstrip("_") == "getpid" and libc.offset == 0
        assert libc.module is not None and "libc" in libc.module
        assert sym.is_code(addr["target_fn"]) and not sym.is_code(addr["pie_global"])
