"""Python stacks from checkpoints of the lab's CPython services (scenarios `python`, 3.13, and `python311`),
checked frame by frame against the service's own sys._current_frames() truth, written just before the
checkpoint. They read the fresh lab run only: the interpreters' binaries and heaps (12 MiB and more)
are too big to bundle."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.loader import load_checkpoint
from forensics.symbols.pylayout import DEBUG_COOKIE, DEBUG_SIZE_313, LayoutError, from_debug_offsets
from forensics.symbols.python import PyStatus, line_for_offset, python_stacks
from forensics.symbols.resolve import BinaryResolver, resolver_for
from tests.conftest import Sample, load_samples

SIMPLE = {"int", "str", "bytes", "float", "bool", "NoneType"}
CONTAINERS = {"list", "tuple", "dict", "set", "frozenset"}


def python_samples(root: Path) -> list[Sample]:
    found = [s for s in load_samples(root) if "python" in s.truth]
    if not found:
        pytest.fail(f"{root}/index.json has no Python scenario checkpoint")
    return found


def stacks(sample: Sample, with_locals: bool = True):
    ck = load_checkpoint(str(sample.images))
    return ck, python_stacks(ck, resolver_for(ck, None, None), with_locals=with_locals)


def test_every_frame_of_every_thread_matches_the_truth(lab: Path) -> None:
    for s in python_samples(lab):
        truth = s.truth["python"]
        ck, found = stacks(s)
        assert len(found) == 1, found
        proc = found[0]
        assert proc.status is PyStatus.OK, proc.note
        assert proc.version is not None and list(proc.version) == truth["version"]
        by_tid = {t.tid: t for t in proc.threads}
        assert set(by_tid) == {t["native_id"] for t in truth["threads"]}
        # The native thread ids CPython recorded are the checkpoint's thread ids (the container's pid ns).
        assert set(by_tid) == {t.tid for t in ck.processes[0].threads}
        for t in truth["threads"]:
            got = [(f.function, f.qualname, f.file, f.line) for f in by_tid[t["native_id"]].frames]
            want = [(f["function"], f["qualname"], f["file"], f["line"]) for f in t["frames"]]
            assert got == want, (s, t["name"])


def test_gil_was_free_and_last_held_by_the_signal_handlers_thread(lab: Path) -> None:
    """Every thread sat in a blocking call that releases the GIL; the last to hold it ran the SIGUSR1
    handler that wrote the truth: the main thread."""
    for s in python_samples(lab):
        _, found = stacks(s, with_locals=False)
        main = next(t["native_id"] for t in s.truth["python"]["threads"] if t["name"] == "MainThread")
        assert found[0].gil is not None
        assert not found[0].gil.locked and found[0].gil.holder_tid == main


def test_locals_match_the_truth(lab: Path) -> None:
    for s in python_samples(lab):
        _, found = stacks(s)
        by_tid = {t.tid: t for t in found[0].threads}
        compared = 0
        for t in s.truth["python"]["threads"]:
            for frame, want in zip(by_tid[t["native_id"]].frames, t["frames"], strict=True):
                got = {v.name: v for v in frame.locals}
                assert set(got) == set(want["locals"]), (frame.function, set(got) ^ set(want["locals"]))
                for name, w in want["locals"].items():
                    v = got[name]
                    assert v.type == w["type"], (frame.function, name)
                    if w["type"] in SIMPLE:
                        assert v.value == w["repr"], (frame.function, name)
                        compared += 1
                    elif w["type"] in CONTAINERS:
                        assert v.length == w["len"], (frame.function, name)
                        compared += 1
        assert compared >= 20  # the chain's known locals: every simple type, containers, a big int, unicode


def test_the_chain_holds_its_known_values(lab: Path) -> None:
    """What the scenario planted, independently of the truth file's own reading of it."""
    for s in python_samples(lab):
        _, found = stacks(s)
        frames = {f.function: f for t in found[0].threads for f in t.frames}
        values = {v.name: v.value for f in ("level1", "level2", "level3") for v in frames[f].locals}
        assert values["count"] == "7" and values["name"] == "'alpha'"
        assert values["greeting"] == repr("héllo wörld ✓")
        assert values["big"] == str(2 ** 70 + 12345) and values["negative"] == "-42"
        assert values["ratio"] == "0.5" and values["ratio_sq"] == "0.25"
        assert values["data"] == repr(b"\x00\x01payload") and values["flag"] == "True"
        assert values["nothing"] == "None"
        token = next(v for v in frames["level3"].locals if v.name == "api_token")
        assert token.secret  # masked by every renderer unless --reveal


def test_without_the_binary_nothing_is_guessed(lab: Path) -> None:
    s = python_samples(lab)[0]
    ck = load_checkpoint(str(s.images))
    found = python_stacks(ck, BinaryResolver())  # no layers, no --rootfs
    assert [p.status for p in found] == [PyStatus.NO_BINARY]
    assert found[0].threads == [] and "binary not found, give --rootfs" in (found[0].note or "")


def test_rootfs_option_and_a_wrong_binary(tmp_path: Path, lab: Path) -> None:
    """--rootfs finds the interpreter in an unpacked image; another build at that path is refused (CRIU
    recorded the build-id of what ran)."""
    s = python_samples(lab)[0]
    ck = load_checkpoint(str(s.images))
    exe = s.truth["python"]["executable"]
    layer_copy = next(p for p in (s.root / s.entry["docker_root"]).rglob(exe.lstrip("/")) if p.is_file())
    root = tmp_path / "rootfs"
    (root / exe.lstrip("/")).parent.mkdir(parents=True)
    shutil.copy2(layer_copy, root / exe.lstrip("/"))
    found = python_stacks(ck, BinaryResolver([root]))
    assert found[0].status is PyStatus.OK and len(found[0].threads) == len(s.truth["python"]["threads"])
    wrong = tmp_path / "other-python"
    shutil.copy2(sys.executable if Path(sys.executable).resolve().is_file() else "/bin/ls", wrong)
    found = python_stacks(ck, BinaryResolver(binaries={exe: wrong}))
    assert found[0].status is PyStatus.NO_BINARY and "build-id" in (found[0].note or "")
    assert found[0].threads == []


def test_cli_text_json_and_masking(tmp_path: Path, lab: Path) -> None:
    s = python_samples(lab)[0]
    cli = [sys.executable, "-m", "forensics", "inspect", str(s.images), "--python", "--locals"]
    text = subprocess.run(cli, capture_output=True, text=True, timeout=120, check=False)
    assert text.returncode == 0, text.stderr
    assert "level3 (/app/pysvc.py:" in text.stdout and "tok-5e1f2a9c7b3d4e60" not in text.stdout
    # Each Python thread is the OS thread CRIU froze in the system call its Python code waits in.
    blocked_in = {"sleeper": "clock_nanosleep", "reader": "recvfrom", "chain": "futex", "MainThread": "accept4"}
    for t in s.truth["python"]["threads"]:
        assert f"thread {t['native_id']} (pthread 0x" in text.stdout
        line = next(x for x in text.stdout.splitlines() if x.strip().startswith(f"thread {t['native_id']} "))
        assert f"in {blocked_in[t['name']]} (" in line, line
    revealed = subprocess.run([*cli, "--reveal"], capture_output=True, text=True, timeout=120, check=False)
    assert "tok-5e1f2a9c7b3d4e60" in revealed.stdout
    doc = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=120, check=False).stdout)
    frames = [f for t in doc["python"][0]["threads"] for f in t["frames"]]
    token = next(v for f in frames for v in f["locals"] if v["name"] == "api_token")
    assert token["masked"] and "tok-5e1f2a9c7b3d4e60" not in token["value"]
    rows = subprocess.run([*cli, "--format", "csv"], capture_output=True, text=True, timeout=120, check=False)
    frames_csv = [r for r in rows.stdout.splitlines() if r.startswith("1,")]
    table = rows.stdout.split("pid,tid,depth,function,file,line,qualname,locals,python\n", 1)[1]
    assert len([r for r in table.splitlines() if r]) == sum(len(t["frames"]) for t in s.truth["python"]["threads"])
    assert frames_csv and "tok-5e1f2a9c7b3d4e60" not in rows.stdout
    # A copy of the images alone (no Docker layers beside them): no stacks, the reason, exit 2.
    bare = tmp_path / "images"
    shutil.copytree(s.images, bare)
    out = subprocess.run([sys.executable, "-m", "forensics", "inspect", str(bare), "--python"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2 and "binary not found, give --rootfs" in out.stdout


def test_html_report_shows_the_stacks(tmp_path: Path, lab: Path) -> None:
    s = python_samples(lab)[0]
    page = tmp_path / "r.html"
    p = subprocess.run([sys.executable, "-m", "forensics", "report", str(s.images), "-o", str(page)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    html = page.read_text()
    assert "Python stacks (CPython 3." in html and "/app/pysvc.py:" in html and "level3" in html
    assert "tok-5e1f2a9c7b3d4e60" not in html
    bare = tmp_path / "images"
    shutil.copytree(s.images, bare)
    p = subprocess.run([sys.executable, "-m", "forensics", "report", str(bare), "-o", str(page)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    html = page.read_text()
    assert "binary not found, give --rootfs" in html and "level3" not in html


def _sample_function(a: int, b: str) -> str:
    total = a
    for i in range(a):
        total += i
        if total > 10:
            break
    try:
        text = b * total
    except MemoryError:
        text = ""
    return (text
            + str(total))


def test_location_table_lines_match_cpythons_own_answer() -> None:
    """The decoder against the running interpreter's co_lines() for every code unit (3.11+ format)."""
    for code in (_sample_function.__code__, test_location_table_lines_match_cpythons_own_answer.__code__,
                 json.JSONDecoder.raw_decode.__code__, subprocess.run.__code__):
        expected: dict[int, int | None] = {}
        for start, end, line in code.co_lines():
            for offset in range(start, end, 2):
                expected[offset] = line
        for offset, line in expected.items():
            assert line_for_offset(code.co_linetable, code.co_firstlineno, offset) == line, (code.co_name, offset)


def test_debug_offsets_are_checked_not_trusted() -> None:
    raw = bytearray(DEBUG_SIZE_313)
    raw[:8] = DEBUG_COOKIE
    struct.pack_into("<Q", raw, 8, 0x030E00F0)  # 3.14: a table of another shape
    with pytest.raises(LayoutError, match="3.14"):
        from_debug_offsets(bytes(raw))
    struct.pack_into("<Q", raw, 8, 0x030D05F0)
    struct.pack_into("<Q", raw, 16, 1)  # free-threaded
    with pytest.raises(LayoutError, match="free-threaded"):
        from_debug_offsets(bytes(raw))
    with pytest.raises(LayoutError, match="cookie"):
        from_debug_offsets(b"notdebug" + bytes(DEBUG_SIZE_313))


def test_a_wrong_layout_is_reported_never_read_as_stacks(lab: Path) -> None:
    """Each bundled interpreter read with the other versions' declared offsets: an error, not stacks."""
    from forensics.symbols import python as py
    from forensics.symbols.pylayout import PY311, PY312
    from forensics.symbols.stops import symbolizer

    for s in python_samples(lab):
        ck = load_checkpoint(str(s.images))
        proc = ck.processes[0]
        sym = symbolizer(proc, resolver_for(ck, None, None))
        mod = py._module(sym, py.interpreter_path(proc) or "")
        assert mod is not None and mod.elf is not None and mod.bias is not None
        runtime = mod.elf.symbol("_PyRuntime").value + mod.bias
        known = {n: mod.elf.symbol(n).value + mod.bias
                 for n in (*py.SIMPLE_TYPES, *py.CONTAINER_TYPES, *py.OTHER_SYMBOLS) if mod.elf.symbol(n)}
        mem = py.ProcessMemory(ck.memory[proc.pid], sym)
        right = tuple(s.truth["python"]["version"][:2])
        for layout in (PY311, PY312):
            if layout.version == right:
                continue
            with pytest.raises(py.Unreadable):
                py.Walker(py.Objects(mem, layout, known), True).threads(runtime)


def test_runtime_found_without_symbols_through_its_section(lab: Path) -> None:
    """3.13 places _PyRuntime in a .PyRuntime section: a binary stripped of the symbol is still read."""
    from forensics.symbols.elf import ElfImage
    from forensics.symbols.mapping import Module
    from forensics.symbols.python import _runtime_vaddr

    s = next(x for x in python_samples(lab) if x.truth["python"]["version"][:2] == [3, 13])
    exe = s.truth["python"]["executable"]
    binary = next(p for p in (s.root / s.entry["docker_root"]).rglob(exe.lstrip("/")) if p.is_file())

    class Stripped(ElfImage):
        def symbol(self, name: str):
            return None if name == "_PyRuntime" else super().symbol(name)

    with ElfImage(binary) as elf, Stripped(binary) as stripped:
        expected = elf.symbol("_PyRuntime").value
        assert _runtime_vaddr(Module(exe, [], elf=stripped, bias=0)) == expected


def test_corrupted_memory_gives_notes_not_crashes(tmp_path: Path, lab: Path) -> None:
    """Pages overwritten at random (a hostile or damaged checkpoint): every answer is a status with notes,
    never an exception or a hang."""
    import random
    import time

    s = python_samples(lab)[0]
    exe = s.truth["python"]["executable"]
    binary = next(p for p in (s.root / s.entry["docker_root"]).rglob(exe.lstrip("/")) if p.is_file())
    pages = next(p for p in s.images.iterdir() if p.name.startswith("pages-"))
    original = pages.read_bytes()
    statuses = set()
    for seed in range(12):
        rng = random.Random(seed)
        data = bytearray(original)
        for _ in range(4000):
            at = rng.randrange(0, len(data) - 8) & ~7
            data[at:at + 8] = rng.choice([bytes(8), b"\xff" * 8, rng.randbytes(8),
                                          struct.pack("<Q", rng.randrange(1 << 47))])
        copy = tmp_path / f"ck{seed}"
        shutil.copytree(s.images, copy)
        (copy / pages.name).write_bytes(bytes(data))
        ck = load_checkpoint(str(copy))
        started = time.monotonic()
        found = python_stacks(ck, BinaryResolver(binaries={exe: binary}), with_locals=True)
        assert time.monotonic() - started < 30
        assert len(found) == 1
        statuses.add(found[0].status)
        if found[0].status is not PyStatus.OK:
            assert found[0].note
    assert statuses - {PyStatus.OK}  # the damage was noticed at least once


def test_the_interpreter_file_is_libpython_when_mapped() -> None:
    """A python built with --enable-shared (the python:3.x Docker images) keeps _PyRuntime in libpython."""
    from types import SimpleNamespace

    from forensics.symbols.python import interpreter_path

    def proc(*paths: str) -> SimpleNamespace:
        return SimpleNamespace(vmas=[SimpleNamespace(path=p) for p in paths])

    assert interpreter_path(proc("/usr/local/bin/python3.12", "/usr/local/lib/libpython3.12.so.1.0",
                                 "/usr/lib/x86_64-linux-gnu/libc.so.6")) == "/usr/local/lib/libpython3.12.so.1.0"
    assert interpreter_path(proc("/usr/bin/python3.13", "[heap]")) == "/usr/bin/python3.13"
    assert interpreter_path(proc("/usr/bin/python3.13 (deleted)")) == "/usr/bin/python3.13 (deleted)"
    assert interpreter_path(proc("/bin/bash", "/usr/lib/python3.13/lib-dynload/_json.so", "[stack]")) is None
