"""The model on the arm64 guest's checkpoints (samples/index.json entries with "arch": "aarch64"), held to
what /proc said at dump time (truth/<name>.json) and to the binary that ran.

/proc/PID/syscall gave each blocked thread's call number, sp and pc (the kernel's view, inside the call:
pc just after the `svc #0`). CRIU saves the registers after the freezer's signal made the kernel rewind a
restartable call, so its pc is the `svc #0` itself (4 bytes earlier) and x8 still the call's number.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import pytest

from forensics.loader import load_directory
from forensics.model.checkpoint import Checkpoint
from forensics.model.process import AARCH64_GP, Arch, Process
from forensics.model.syscalls import SVC_AT_PC, SVC_BEFORE_PC, syscall_name
from forensics.model.words import syscall_text
from forensics.symbols.mapping import Symbolizer
from forensics.symbols.resolve import BinaryResolver
from forensics.symbols.stops import stops_for
from forensics.symbols.unwind import FrameMethod
from tests.conftest import ALL_ARCHES, REPO, SAMPLES, Sample, load_samples

AT_PAGESZ = 6
SOURCE = (REPO / "samples" / "lab" / "service" / "service.c").read_text().splitlines()
# Where each task of the service blocks (service.c) and the function of its own code on its chain; the
# outermost frame: _start for a process, glibc's aarch64 thread_start (clone3's child) for a thread.
BLOCKED_IN = {"service": "accept", "svc-worker": "pthread_cond_wait", "svc-reader": "read",
              "svc-sleeper": "clock_nanosleep", "svc-child": "read"}
THREAD_FUNCTION = {"service": "main", "svc-child": "main", "svc-worker": "worker_main",
                   "svc-reader": "reader_main", "svc-sleeper": "sleeper_main"}
STARTED_BY = {"service": "_start", "svc-child": "_start", "svc-worker": "thread_start",
              "svc-reader": "thread_start", "svc-sleeper": "thread_start"}


def arm64_samples(root: Path = SAMPLES) -> list[Sample]:
    return [s for s in load_samples(root, ALL_ARCHES) if s.entry.get("arch") == "aarch64" and s.images]


def samples() -> list[Sample]:
    found = arm64_samples()
    assert {s.name for s in found} >= {"service", "counter"}, "samples/index.json lists no arm64 checkpoints"
    return found


def sample(name: str) -> Sample:
    return next(s for s in samples() if s.name == name)


# Every arm64 checkpoint, and those of the service with its binary (plain criu and runc).
ALL = [s.name for s in arm64_samples()]
SERVICES = [s.name for s in arm64_samples() if s.entry.get("binary") and "service_state" in s.truth]


def test_the_arm64_samples_are_there() -> None:
    assert set(ALL) >= {"service", "counter"} and "service" in SERVICES


@functools.cache
def model(images: Path) -> Checkpoint:
    return load_directory(images)


def resolver(s: Sample) -> BinaryResolver:
    exe = {p["exe"] for p in s.truth["before"]["processes"]}
    return BinaryResolver(binaries={e: s.root / s.entry["binary"] for e in exe} if s.entry.get("binary") else {})


def truth_threads(s: Sample) -> dict[int, dict]:
    return {t["tid"]: t for p in s.truth["before"]["processes"] for t in p["threads"]}


def raw(t: dict) -> tuple[int, int, int]:
    """(number, sp, pc) from /proc/PID/syscall: "NR a0 .. a5 sp pc"."""
    words = t["syscall_raw"].split()
    return int(words[0]), int(words[-2], 16), int(words[-1], 16)


def mapping_of(proc: Process, address: int):  # noqa: ANN201 - a Vma
    return next((v for v in proc.vmas if v.start <= address < v.end), None)


@pytest.mark.parametrize("name", ALL)
def test_registers_are_aarch64_under_their_names_and_where_proc_saw_them(name: str) -> None:
    s = sample(name)
    ck = model(s.images)  # type: ignore[arg-type]
    truth = truth_threads(s)
    assert ck.errors == [] and {t.tid for p in ck.processes for t in p.threads} == set(truth)
    for proc in ck.processes:
        exe = next(p["exe"] for p in s.truth["before"]["processes"] if p["pid"] == proc.pid)
        for th in proc.threads:
            r = th.registers
            assert r is not None and r.arch is Arch.AARCH64
            assert list(r.gp) == list(AARCH64_GP)      # x0-x30, sp, pc, pstate, tpidr_el0: nothing x86
            assert r.fpu is not None and len(r.fpu["v"]) == 32 and all(len(v) == 32 for v in r.fpu["v"])  # type: ignore[arg-type]
            assert r.ip == r.gp["pc"] and r.fp == r.gp["x29"]
            number, sp, pc = raw(truth[th.tid])
            assert r.sp == sp, th.tid
            assert pc - r.gp["pc"] in (0, 4), th.tid        # rewound onto the svc, or not
            code = mapping_of(proc, r.gp["pc"])
            assert code is not None and code.prot_str.startswith("r-x") and code.path == exe
            stack = mapping_of(proc, r.sp)
            assert stack is not None and stack.prot_str.startswith("rw")
            # The TLS register points into the process's writable memory (its thread control block).
            tls = mapping_of(proc, r.gp["tpidr_el0"])
            assert tls is not None and "w" in tls.prot_str
            assert r.gp["x8"] == number, th.tid             # x8 is the call's number, as /proc says


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_threads_syscalls_are_proven_from_the_code_at_pc(name: str) -> None:
    s = sample(name)
    ck = load_directory(s.images)  # type: ignore[arg-type]
    truth = truth_threads(s)
    stops = stops_for(ck, resolver(s))
    seen = set()
    for proc in ck.processes:
        for th in proc.threads:
            number, _sp, pc = raw(truth[th.tid])
            assert th.syscall == number and th.syscall_evidence in (SVC_AT_PC, SVC_BEFORE_PC)
            assert (th.registers.ip == pc - 4) == (th.syscall_evidence == SVC_AT_PC)  # type: ignore[union-attr]
            name = syscall_name(number, Arch.AARCH64)
            assert syscall_text(th) == f"{name} ({number})"
            seen.add((th.comm, name))
            stop = stops[(proc.pid, th.tid)]
            current = [i for i in stop.instructions if i.current]
            assert current and current[0].address == th.registers.ip  # type: ignore[union-attr]
            if th.syscall_evidence == SVC_AT_PC:
                assert str(current[0]) == "svc #0"
    assert seen >= {("service", "accept"), ("svc-worker", "futex"), ("svc-reader", "read"),
                    ("svc-sleeper", "clock_nanosleep"), ("svc-child", "read")}, seen


def test_without_the_binary_no_syscall_is_claimed() -> None:
    """The counter's busybox is not bundled: its text pages are clean file pages CRIU did not dump, so
    nothing proves x8 names a call, and nothing is said (x8 stays visible among the registers)."""
    s = sample("counter")
    ck = load_directory(s.images)  # type: ignore[arg-type]
    stops_for(ck, BinaryResolver())
    threads = [th for p in ck.processes for th in p.threads]
    assert threads and all(th.syscall is None and syscall_text(th) is None for th in threads)
    assert all(th.registers is not None and th.registers.gp["x8"] == raw(truth_threads(s)[th.tid])[0]
               for th in threads)


@pytest.mark.parametrize("name", ALL)
def test_page_size_is_the_auxvs(name: str) -> None:
    s = sample(name)
    ck = model(s.images)  # type: ignore[arg-type]
    truth_auxv = s.truth.get("auxv", {})
    compared = 0
    for proc in ck.processes:
        auxv = dict(zip(proc.auxv[::2], proc.auxv[1::2], strict=False))
        assert proc.page_size == auxv[AT_PAGESZ] and proc.page_size in (4096, 16384, 65536)
        if "page_size" in s.truth:   # the guest's own answer (getconf PAGESIZE) at dump time
            assert proc.page_size == s.truth["page_size"]
        if str(proc.pid) in truth_auxv:  # /proc/PID/auxv before the dump: CRIU saved the same vector
            pairs = [list(x) for x in zip(proc.auxv[::2], proc.auxv[1::2], strict=False)]
            assert pairs[:len(truth_auxv[str(proc.pid)])] == truth_auxv[str(proc.pid)]
            compared += 1
        assert ck.memory[proc.pid].store.page_size == proc.page_size
        maps = {(m["start"], m["end"]) for p in s.truth["before"]["processes"] if p["pid"] == proc.pid
                for m in p["maps"]}
        assert all(v.start % proc.page_size == 0 and v.end % proc.page_size == 0 for v in proc.vmas)
        assert {(v.start, v.end) for v in proc.vmas} <= maps | {(v.start, v.end) for v in proc.vmas if v.kind == "vvar"}
    assert compared == (len(ck.processes) if truth_auxv else 0)


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_threads_unwind_through_their_own_code_to_their_start(name: str) -> None:
    s = sample(name)
    ck = load_directory(s.images)  # type: ignore[arg-type]
    stops = stops_for(ck, resolver(s))
    checked = 0
    for proc in ck.processes:
        for th in proc.threads:
            stop = stops[(proc.pid, th.tid)]
            comm = th.comm or ""
            assert stop.unwind is not None and stop.unwind.complete, f"{comm}: {stop.unwind}"
            assert all(fr.method is FrameMethod.CFI for fr, _ in stop.frames[1:])
            names = [loc.symbol for _fr, loc in stop.frames]
            assert names[-1] == STARTED_BY[comm], names
            assert THREAD_FUNCTION[comm] in names, names
            own = next(loc for _fr, loc in stop.frames if loc.symbol == THREAD_FUNCTION[comm])
            assert own.line is not None and own.line.file.endswith("service.c")
            # ... at the line of its blocking call (the guest built the lab's own service.c).
            assert f"{BLOCKED_IN[comm]}(" in SOURCE[own.line.line - 1], (comm, SOURCE[own.line.line - 1])
            # Every frame's sp moves up the stack, and lies in the thread's stack mapping.
            sps = [fr.sp for fr, _ in stop.frames]
            assert sps == sorted(sps)
            stack = mapping_of(proc, sps[0])
            assert stack is not None and all(stack.start <= x < stack.end for x in sps)
            checked += 1
    assert checked == 5


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_globals_read_through_symbols_are_what_it_logged(name: str) -> None:
    """The symbol table of the arm64 binary, its load bias (static, non-PIE: 0) and the dumped data pages
    agree with the values the service reported about itself before the dump."""
    s = sample(name)
    state = s.truth["service_state"]
    ck = model(s.images)  # type: ignore[arg-type]
    proc = ck.process(state["pid"])
    assert proc is not None
    with Symbolizer(proc.vmas, resolver(s), page_size=proc.page_size) as sym:
        mod = next(m for m in sym.modules() if m.elf is not None)
        found = mod.elf.symbol("request_counter")  # type: ignore[union-attr]
        assert found is not None and found.value + mod.bias == state["addr"]["request_counter"]  # type: ignore[operator]
    value = struct.unpack("<Q", ck.memory[proc.pid].read(state["addr"]["request_counter"], 8))[0]
    assert value == state["request_counter"]


@pytest.mark.parametrize("name", SERVICES)
def test_outputs_without_stops_get_the_proven_syscalls_too(name: str) -> None:
    """The report shows threads without computing stops: giving it the binaries proves the calls."""
    from forensics.report.assemble import BinarySymbols

    s = sample(name)
    ck = load_directory(s.images)  # type: ignore[arg-type]
    assert all(t.syscall is None for p in ck.processes for t in p.threads)  # text pages are not dumped
    BinarySymbols(ck, resolver(s)).close()
    truth = truth_threads(s)
    assert all(t.syscall == raw(truth[t.tid])[0] for p in ck.processes for t in p.threads)


@pytest.mark.parametrize("name", ALL)
def test_arch_sensitive_findings_stay_quiet_on_clean_arm64_processes(name: str) -> None:
    """Nothing in these processes is writable and executable or anonymous and executable, and the one
    text page CRIU's parasite dumped equals the binary: no finding may say otherwise. (Their memory maps
    from /proc agree: no rwx mapping.)"""
    from forensics.findings.rules import findings

    s = sample(name)
    assert not any("w" in m["perms"] and "x" in m["perms"] for p in s.truth["before"]["processes"] for m in p["maps"])
    ck = model(s.images)  # type: ignore[arg-type]
    ids = {f.rule for f in findings(ck, resolver=resolver(s))}
    assert not ids & {"rwx-memory", "anon-exec-memory", "patched-code", "fileless-exe"}, ids
    dumped_text = [v for p in ck.processes for v in p.vmas if v.prot & 4 and v.kind == "file" and v.held_pages]
    if s.entry.get("binary"):
        assert dumped_text  # patched_code compared real dumped code pages with the binary
