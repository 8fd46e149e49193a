"""Process memory read from checkpoints against what the service reported about itself."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from forensics.memory.grep import grep
from forensics.memory.search import compile_pattern
from forensics.memory.select import VmaFilter
from forensics.memory.space import MemoryGap
from forensics.loader import load_directory
from tests.cli import forensics as _cli
from tests.conftest import REPO, Sample, load_samples

SECRET = b"CF-HEAP-SECRET-5f2a9c71d3e84b06"


def service_samples(root: Path) -> list[Sample]:
    return [s for s in load_samples(root) if s.images is not None and "service_state" in s.truth]


def test_heap_secret_found_at_its_address(run_root: Path) -> None:
    for s in service_samples(run_root):
        ck = load_directory(s.images)
        state = s.truth["service_state"]
        matches = list(grep(ck, compile_pattern(SECRET.decode()), VmaFilter()))
        main = [m for m in matches if m.pid == state["pid"]]
        assert [m.address for m in main] == [state["addr"]["heap_secret"]], s
        # A pre-dump has no mappings, only pages: what holds them is a "pre-dump" pseudo-mapping.
        assert main[0].vma.kind == ("pre-dump" if ck.info.pre_dump else "heap")
        # The child was forked after the secret was written: its copy of the heap holds it too.
        assert {m.pid for m in matches} == {state["pid"], state["child_pid"]}


def test_counters_read_by_address(run_root: Path) -> None:
    for s in service_samples(run_root):
        ck = load_directory(s.images)
        state = s.truth["service_state"]
        space = ck.memory[state["pid"]]
        addr = state["addr"]
        assert struct.unpack("<Q", space.read(addr["request_counter"], 8))[0] == state["request_counter"], s
        assert struct.unpack("<I", space.read(addr["tick_counter"], 4))[0] == state["tick_counter"], s
        assert space.read_cstring(addr["last_command"]).decode() == state["last_command"], s
        if ck.info.pre_dump:
            # CRIU pre-dumps private memory only: shared pages are dumped with the final dump alone.
            for where in ("shared_counter", "memfd_region"):
                with pytest.raises(MemoryGap, match="not mapped"):
                    space.read(addr[where], 8)
            assert space.read(addr["anon_region"], 16) == b"ANON-MMAP-MARKER"
            continue
        # shared_counter lives in an anonymous MAP_SHARED page: one memfd-backed object for both processes.
        for pid in (state["pid"], state["child_pid"]):
            got = struct.unpack("<Q", ck.memory[pid].read(addr["shared_counter"], 8))[0]
            assert got == state["shared_counter"], f"{s}: pid {pid}"
        assert ck.memory[state["pid"]].read(addr["memfd_region"], 18) == b"MEMFD-CONTENT-0001"
        assert ck.memory[state["pid"]].read(addr["anon_region"], 16) == b"ANON-MMAP-MARKER"


def test_gaps_are_reported_not_zeros(run_root: Path) -> None:
    s = service_samples(run_root)[0]
    ck = load_directory(s.images)
    state = s.truth["service_state"]
    space = ck.memory[state["pid"]]
    with pytest.raises(MemoryGap, match="not mapped"):
        space.read(0x1000, 8)
    # The banner is const: .rodata of the static binary, a clean file page CRIU did not dump.
    with pytest.raises(MemoryGap, match="its bytes are in that file"):
        space.read(state["addr"]["magic_banner"], 8)
    # A shared file mapping: the data is in the file, not in the checkpoint.
    with pytest.raises(MemoryGap):
        space.read(state["addr"]["file_region"], 8)




def test_cli_grep_read_map() -> None:
    s = next(x for x in service_samples(REPO / "samples") if x.scenario == "service" and x.name == "checkpoint2")
    state = s.truth["service_state"]
    p = _cli("memory", "grep", "CF-HEAP-SECRET", str(s.images), "--json", "--pid", str(state["pid"]), "-C", "8")
    assert p.returncode == 0, p.stderr
    hits = json.loads(p.stdout)["matches"]
    assert [h["address"] for h in hits] == [state["addr"]["heap_secret"]]
    assert bytes.fromhex(hits[0]["context_hex"])[8:8 + 14] == b"CF-HEAP-SECRET"
    p = _cli("memory", "grep", "cf-heap-secret", str(s.images), "--count", "-i")
    assert p.stdout.strip() == "2"
    p = _cli("memory", "read", str(s.images), "--pid", str(state["pid"]),
             "--address", hex(state["addr"]["request_counter"]), "--as", "u64", "--length", "8")
    assert p.returncode == 0 and p.stdout.split()[-1] == "1010"
    p = _cli("memory", "read", str(s.images), "--pid", str(state["pid"]), "--address", "0x1000")
    assert p.returncode == 2 and "not mapped" in p.stderr and "Traceback" not in p.stderr
    p = _cli("memory", "map", str(s.images), "--pid", str(state["pid"]), "--kind", "heap", "--json")
    rows = json.loads(p.stdout)["mappings"]
    assert len(rows) == 1 and rows[0]["start"] <= state["addr"]["heap_secret"] < rows[0]["end"]


def test_cli_strings_and_dump(tmp_path: Path) -> None:
    s = next(x for x in service_samples(REPO / "samples") if x.scenario == "service")
    state = s.truth["service_state"]
    p = _cli("memory", "strings", str(s.images), "--pid", str(state["pid"]), "--kind", "heap", "--min-len", "20")
    assert f"{state['pid']} 0x{state['addr']['heap_secret']:x} {SECRET.decode()}" in p.stdout.splitlines()
    out = tmp_path / "heap.bin"
    p = _cli("memory", "dump", str(s.images), "--pid", str(state["pid"]), "--vma", hex(state["addr"]["heap_secret"]),
             "-o", str(out))
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    heap = next(v for v in load_directory(s.images).process(state["pid"]).vmas if v.kind == "heap")
    assert len(data) == heap.size
    off = state["addr"]["heap_secret"] - heap.start
    assert data[off:off + len(SECRET)] == SECRET
