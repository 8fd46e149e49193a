"""ELF cores of the service checkpoints, opened by the real gdb: threads, every frame of every thread
against our own CFI unwind, and globals against what the service logged about itself."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.memory.elfcore import NT_AUXV, NT_FILE, NT_PRSTATUS, Source, write_core
from forensics.model.load import load_directory
from forensics.symbols.resolve import BinaryResolver
from forensics.symbols.stops import stops_for
from tests.conftest import REPO, Sample, bundled_samples

SECRET = "CF-HEAP-SECRET-5f2a9c71d3e84b06"
BANNER = "checkpoint-forensics service v1"
GDB = shutil.which("gdb")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed (tests/apt-packages.txt)")


def service_samples() -> list[Sample]:
    return [s for s in bundled_samples()
            if s.images is not None and s.entry.get("binary") and "service_state" in s.truth]


def resolver(s: Sample) -> BinaryResolver:
    exe = {p["exe"] for p in s.truth["before"]["processes"]}
    return BinaryResolver(binaries={e: s.root / s.entry["binary"] for e in exe})


def gdb(binary: Path, core: Path, *commands: str) -> str:
    assert GDB is not None
    args = [GDB, "-nx", "-batch", "-ex", "set backtrace past-main on", "-ex", "set print thread-events off"]
    for c in commands:
        args += ["-ex", c]
    p = subprocess.run([*args, str(binary), str(core)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def gdb_threads(text: str) -> dict[int, list[int]]:
    """`thread apply all bt` -> {lwp: [pc of each frame gdb printed with an address]}. gdb prints an
    inlined function's frame without one (it shares its caller's pc), so those are left out."""
    out: dict[int, list[int]] = {}
    lwp = None
    for line in text.splitlines():
        m = re.match(r"Thread \d+ \(LWP (\d+)\)", line)
        if m:
            lwp = int(m.group(1))
            out[lwp] = []
            continue
        m = re.match(r"#\d+\s+0x([0-9a-f]+) in ", line)
        if m and lwp is not None:
            out[lwp].append(int(m.group(1), 16))
        elif re.match(r"#0\s+\w", line) and lwp is not None:
            raise AssertionError(f"frame 0 without an address: {line}")
    return out


@needs_gdb
def test_gdb_reads_our_cores(tmp_path: Path) -> None:
    checked = 0
    for s in service_samples():
        ck = load_directory(s.images)
        state = s.truth["service_state"]
        stops = stops_for(ck, resolver(s))
        binary = s.root / s.entry["binary"]
        for proc in ck.processes:
            core = tmp_path / f"core.{s.scenario}.{s.name}.{proc.pid}"
            with open(core, "wb") as out:
                report = write_core(proc, ck.memory[proc.pid], resolver(s), out, core)
            # The binary was given: its clean pages are in the core; only files it was not given are not.
            assert report.file_bytes > 0 and str(binary) in report.files_used
            assert all(str(binary) not in p.why and "/usr/local/bin/service" not in p.why for p in report.missing)
            text = gdb(binary, core, "info threads", "thread apply all bt", "print request_counter",
                       "x/s heap_secret", "x/s &magic_banner")
            threads = gdb_threads(text)
            assert sorted(threads) == sorted(t.tid for t in proc.threads), text
            for t in proc.threads:
                ours = [fr.ip for fr, _loc in stops[(proc.pid, t.tid)].frames]
                assert threads[t.tid] == ours, f"{s} tid {t.tid}:\n{text}"
                assert stops[(proc.pid, t.tid)].unwind.complete  # type: ignore[union-attr]
                checked += 1
            if proc.pid == state["pid"]:  # the child was forked before any `add`
                assert f"$1 = {state['request_counter']}" in text
            assert f'"{SECRET}"' in text
            assert f'<magic_banner>:\t"{BANNER}"' in text
    assert checked >= 10


@needs_gdb
def test_cli_core_without_binary_lists_what_is_missing(tmp_path: Path) -> None:
    s = service_samples()[0]
    core = tmp_path / "core"
    p = subprocess.run([sys.executable, "-m", "forensics", "memory", "dump", str(s.images), "--pid", "1",
                        "--format", "elf-core", "-o", str(core)], capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 2, p.stderr  # partial: the binary's clean pages are not in the core
    assert "clean page of /usr/local/bin/service: file not found, give --rootfs" in " ".join(p.stderr.split())
    # gdb still opens it, reads the dumped counter, and finds the banner in the binary it is given.
    state = s.truth["service_state"]
    text = gdb(s.root / s.entry["binary"], core, "info threads", "print request_counter")
    assert f"$1 = {state['request_counter']}" in text
    assert len(re.findall(r"LWP \d+", text)) >= 4


def _notes(data: bytes) -> list[tuple[bytes, int, bytes]]:
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    for i in range(phnum):
        ptype, _f, off, _v, _p, filesz = struct.unpack_from("<IIQQQQ", data, phoff + 56 * i)
        if ptype == 4:
            out, at = [], off
            while at < off + filesz:
                namesz, descsz, ntype = struct.unpack_from("<III", data, at)
                at += 12
                name = data[at:at + namesz - 1]
                at += (namesz + 3) & ~3
                out.append((name, ntype, data[at:at + descsz]))
                at += (descsz + 3) & ~3
            return out
    raise AssertionError("no PT_NOTE")


def test_notes_carry_registers_auxv_and_file_mappings(tmp_path: Path) -> None:
    s = service_samples()[0]
    ck = load_directory(s.images)
    proc = ck.process(1)
    assert proc is not None
    core = tmp_path / "core"
    with open(core, "wb") as out:
        report = write_core(proc, ck.memory[1], lambda _p: None, out, core)
    notes = _notes(core.read_bytes()[:1 << 20])
    status = [d for n, t, d in notes if t == NT_PRSTATUS]
    assert len(status) == len(proc.threads) and len(status[0]) == 336
    leader = next(t for t in proc.threads if t.tid == 1)
    assert leader.registers is not None
    assert struct.unpack_from("<i", status[0], 32)[0] == 1  # pr_pid of the first note: the leader
    assert struct.unpack_from("<Q", status[0], 112 + 8 * 16)[0] == leader.registers.gp["ip"]
    assert struct.unpack_from("<Q", status[0], 112 + 8 * 21)[0] == leader.registers.gp["fs_base"]
    auxv = next(d for n, t, d in notes if t == NT_AUXV)
    assert list(struct.unpack(f"<{len(auxv) // 8}Q", auxv)) == proc.auxv and proc.auxv
    files = next(d for n, t, d in notes if t == NT_FILE)
    assert b"/usr/local/bin/service\0" in files
    # Without the binary its clean pages are missing and said so, never zeros.
    assert any(p.source is Source.MISSING and "/usr/local/bin/service" in p.why for p in report.missing)
