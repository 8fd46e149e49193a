"""Disassembly of the service binary's own bytes, at addresses from the lab's truth."""

from __future__ import annotations

import pytest

from forensics.symbols.disasm import disassemble
from forensics.symbols.elf import ElfImage
from tests.conftest import Sample
from tests.symbols.conftest import ArchFacts


def test_main_starts_with_a_prologue(service_elf: ElfImage, arch: str, facts: ArchFacts) -> None:
    main = service_elf.symbol("main")
    assert main is not None
    code = service_elf.read(main.value, 64)
    rows = disassemble(code, main.value, main.value, after=4, arch=arch)
    assert rows[0].address == main.value and rows[0].current
    if facts.prologue:
        assert str(rows[0]) in facts.prologue
    assert facts.frame_setup in [str(r) for r in rows[:5]]  # built with -fno-omit-frame-pointer
    assert [r.current for r in rows].count(True) == 1 and len(rows) == 5
    assert bytes.fromhex(rows[0].bytes_hex) == code[:len(rows[0].bytes_hex) // 2]
    addresses = [r.address for r in rows]
    assert addresses == sorted(addresses)


def test_rows_before_ip_come_from_the_function_start(service_elf: ElfImage, arch: str) -> None:
    main = service_elf.symbol("main")
    assert main is not None
    code = service_elf.read(main.value, main.size)
    head = disassemble(code, main.value, main.value, after=5, arch=arch)
    ip = head[3].address
    rows = disassemble(code, main.value, ip, function_start=main.value, before=2, after=1, arch=arch)
    assert [r.address for r in rows] == [head[1].address, head[2].address, ip, head[4].address]
    assert [r.current for r in rows] == [False, False, True, False]
    # Without the function start nothing before ip can be trusted, so nothing is shown.
    assert disassemble(code, main.value, ip, after=1, arch=arch)[0].address == ip
    # ip in the middle of an instruction: decoding from the start does not land on it; restart at ip.
    mid = head[0].address + 1 if len(bytes.fromhex(head[0].bytes_hex)) > 1 else head[1].address + 1
    rows = disassemble(code, main.value, mid, function_start=main.value, arch=arch)
    assert all(r.address >= mid for r in rows)


def test_threads_were_frozen_after_a_syscall_instruction(samples_with_binary: list[Sample],
                                                          service_elf: ElfImage, arch: str, facts: ArchFacts) -> None:
    """/proc/PID/syscall's last field is the ip of a task blocked in a system call: right after the
    `syscall` (aarch64: `svc #0`) instruction, which decoding from the containing function's start must
    show."""
    for s in samples_with_binary:
        for proc in s.truth["before"]["processes"]:
            for thread in proc["threads"]:
                ip = int(thread["syscall_raw"].split()[-1], 16)
                found = service_elf.lookup(ip)
                assert found is not None
                func, _ = found
                code = service_elf.read(func.value, func.size)
                rows = disassemble(code, func.value, ip, function_start=func.value, before=3, after=2, arch=arch)
                current = [r for r in rows if r.current]
                assert len(current) == 1 and current[0].address == ip, f"{s} {thread['comm']}"
                before = rows[rows.index(current[0]) - 1]
                assert before.mnemonic == facts.syscall and before.address + facts.syscall_size == ip


def test_ip_outside_the_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        disassemble(b"\x90" * 4, 0x1000, 0x1004)
    with pytest.raises(ValueError, match="architecture"):
        disassemble(b"\x90", 0x1000, 0x1000, arch="mips")
