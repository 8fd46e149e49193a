"""Incremental chains made in the guest lab, against what the restored process really held.

Three chains (samples/lab/guest/inside_guest.py): plain criu pre-dump -> pre-dump -> dump of the chain
program; runc --pre-dump -> --parent-path of the lab's service; podman --pre-checkpoint ->
--with-previous exports of the chain program. Each chain was restored in the guest and the restored
memory recorded (every non-zero page's hash, every CF- marker's address): reading the final checkpoint
through its parents must give exactly those bytes. Each level also holds the chain program's markers of
its own step, written only before it, and the earliest markers only in the oldest level.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forensics.diff.compare import diff_checkpoints
from forensics.images.pagemap import PE_PARENT
from forensics.loader import load_checkpoint
from forensics.memory.grep import grep
from forensics.memory.search import compile_pattern
from forensics.memory.select import VmaFilter
from forensics.memory.space import MemoryGap
from forensics.model.checkpoint import Checkpoint
from tests.cli import forensics
from tests.conftest import REPO, Sample, load_samples

PAGE = 4096
CHAINS = ("criu-chain", "runc-chain", "podman-chain")
# Kinds whose dumped bytes CRIU must hold: a gap there loses what the process had.
HELD_KINDS = {"anon", "heap", "stack", "shared", "memfd"}


def chain_samples(root: Path) -> dict[str, dict[str, Sample]]:
    out: dict[str, dict[str, Sample]] = {}
    for s in load_samples(root):
        if s.scenario in CHAINS:
            out.setdefault(s.scenario, {})[s.name] = s
    assert set(out) == set(CHAINS), f"{root}: guest scenarios missing: {set(CHAINS) - set(out)}"
    return out


def where(s: Sample) -> Path:
    path = s.archive or s.images
    assert path is not None
    return path


_opened: list[Checkpoint] = []


@pytest.fixture(autouse=True)
def _close_checkpoints() -> Iterator[None]:
    """Archives are read through scratch space: every checkpoint a test loaded is closed after it."""
    yield
    while _opened:
        _opened.pop().source.close()


def load(s: Sample, *, with_parent: bool = True) -> Checkpoint:
    """A Podman --with-previous export is read with its --pre-checkpoint export as the parent."""
    parent = s.root / s.entry["parent_archive"] if with_parent and s.entry.get("parent_archive") else None
    ck = load_checkpoint(where(s), parent=parent)
    _opened.append(ck)
    return ck


FINAL = {"criu-chain": "dump", "runc-chain": "dump", "podman-chain": "with-previous"}
PRE = {"criu-chain": ["pre1", "pre2"], "runc-chain": ["pre1"], "podman-chain": ["pre-checkpoint"]}


def test_final_dump_reads_what_the_restored_process_held(guest_root: Path) -> None:
    for sc, levels in chain_samples(guest_root).items():
        s = levels[FINAL[sc]]
        ck = load(s)
        assert ck.errors == [] and not ck.partial, (s, ck.errors)
        restored = s.truth["restored"]["memory"]
        compared = 0
        for pid, mem in restored.items():
            space = ck.memory[int(pid)]
            for m in mem["maps"]:
                # (The restored /proc maps may merge mappings CRIU saved apart: compared page by page.)
                for addr_hex, digest in m["pages"].items():
                    addr = int(addr_hex, 16)
                    vma = space.vma_at(addr)
                    assert vma is not None, f"{s}: pid {pid} {addr:#x} is mapped in the restored process"
                    if vma.kind in ("vvar", "vdso"):
                        continue  # the restoring kernel's own pages
                    try:
                        data = space.read(addr, PAGE)
                    except MemoryGap as gap:
                        assert vma.kind not in HELD_KINDS, f"{s}: pid {pid} {addr:#x} ({vma.kind}): {gap.reason}"
                        continue
                    assert hashlib.sha256(data).hexdigest()[:16] == digest, f"{s}: pid {pid} page {addr:#x}"
                    compared += 1
        assert compared >= 20, (s, compared)  # the chain program has about 35 such pages, the service 400


def test_markers_found_where_the_restored_process_had_them(guest_root: Path) -> None:
    for sc, levels in chain_samples(guest_root).items():
        s = levels[FINAL[sc]]
        ck = load(s)
        hits = {(m.pid, m.address) for m in grep(ck, compile_pattern("CF-"), VmaFilter())}
        want = set()
        for pid, mem in s.truth["restored"]["memory"].items():
            for mk in mem["markers"]:
                try:
                    ck.memory[int(pid)].read(mk["address"], 1)
                except MemoryGap as gap:  # format strings in the binary's .rodata: in the file, not dumped
                    assert "its bytes are in that file" in gap.reason, (s, mk)
                    continue
                want.add((int(pid), mk["address"]))
        # The chain program's 23 markers; the service's heap secret, in the main process and its child.
        assert len(want) >= (2 if sc == "runc-chain" else 23) and want <= hits, (s, sorted(want - hits)[:5])


def test_each_level_holds_its_own_step(guest_root: Path) -> None:
    """The chain program's markers: early pages written once, step pages and the heap string rewritten
    before every level, shared pages (pre-dumps hold no shared memory) in the final dump only."""
    for sc in ("criu-chain", "podman-chain"):
        for s in chain_samples(guest_root)[sc].values():
            t = s.truth
            facts, step, tag = t["facts"], t["step"], t["tag"]
            ck = load(s)
            pid = facts["pid"] if sc == "criu-chain" else 1
            space = ck.memory[pid]

            def text(addr: int, n: int) -> bytes:
                return space.read(addr, n)  # noqa: B023 - used within this iteration only

            for k in range(facts["early_pages"]):
                want = f"CF-EARLY-{k}-{tag}".encode()
                assert text(facts["early"] + k * PAGE, len(want)) == want, (s, k)
            for k in range(facts["step_pages"]):
                want = f"CF-STEP{step}-{k}-{tag}".encode()
                assert text(facts["step"] + k * PAGE, len(want)) == want, (s, k)
            want = f"CF-HEAP-STEP{step}-{tag}".encode()
            assert text(facts["heap"], len(want)) == want, s
            if ck.info.pre_dump:
                with pytest.raises(MemoryGap):
                    text(facts["shared"], 8)
            else:
                for k in range(facts["shared_pages"]):
                    want = f"CF-SHARED-STEP{step}-{k}-{tag}".encode()
                    assert text(facts["shared"] + k * PAGE, len(want)) == want, (s, k)
            if step > 0:
                # Really incremental: the early pages were not dumped again but left in the parent.
                run = space.store.run_at(facts["early"])
                assert run is not None and run.offset is None and run.flags & PE_PARENT, s


def test_pre_dumps_are_labelled_memory_only(guest_root: Path) -> None:
    for sc, names in PRE.items():
        for name in names:
            s = chain_samples(guest_root)[sc][name]
            ck = load(s)
            assert ck.info.pre_dump and ck.errors == [], s
            truth_pids = {p["pid"] for p in s.truth["before"]["processes"]}
            assert {p.pid for p in ck.processes} == truth_pids, s
            assert all(p.memory_only and p.vmas and not p.threads for p in ck.processes), s
            if sc == "criu-chain":
                assert (ck.info.criu_version, ck.info.criu_version_source) == ("4.2.1", "pre-dump.log"), s


def test_maps_count_pages_held_in_parents(guest_root: Path) -> None:
    """inspect --maps: dumped + in parent = the pages a reader gets, for every mapping of a final dump."""
    for sc, levels in chain_samples(guest_root).items():
        s = levels[FINAL[sc]]
        ck = load(s)
        in_parent = 0
        for p in ck.processes:
            space = ck.memory[p.pid]
            for v in p.vmas:
                readable = sum(len(piece) for _, piece in space.vma_segments(v)) // PAGE
                assert v.dumped_pages + v.parent_pages == readable, (s, p.pid, hex(v.start))
                in_parent += v.parent_pages
        assert in_parent > 0, s


def test_cli_on_chain_levels() -> None:
    levels = chain_samples(REPO / "samples")["criu-chain"]
    pre1, pre2, dump = (str(levels[n].images) for n in ("pre1", "pre2", "dump"))
    facts, tag = levels["dump"].truth["facts"], levels["dump"].truth["tag"]
    # inspect: the early mapping (16 early pages + 4 step pages) is held whole, 16 of them in parents.
    p = forensics("inspect", "--maps", dump)
    assert p.returncode == 0, p.stderr
    start = min(facts["early"], facts["step"])  # mmap'd top-down: one mapping, the step pages first
    rows = [line.split() for line in p.stdout.splitlines() if line.split()[1:2] == [hex(start)]]
    # PAGES, DUMPED (here), IN PARENT
    assert [r[5:8] for r in rows] == [["20", "4", "16"]], p.stdout
    p = forensics("inspect", pre2)
    assert p.returncode == 0 and "pre-dump (memory only" in p.stdout and "4.2.1 (pre-dump.log)" in p.stdout
    # memory grep in a pre-dump finds the early page through its parent.
    p = forensics("memory", "grep", f"CF-EARLY-3-{tag}", pre2, "--json")
    assert p.returncode == 0, p.stderr
    assert [h["address"] for h in json.loads(p.stdout)["matches"]] == [facts["early"] + 3 * PAGE]
    # diff pre-dump -> dump: the process pairs by pid, the heap string moved from step 0 to step 2.
    p = forensics("diff", pre1, dump, "--json")
    assert p.returncode == 0, p.stderr
    values = json.loads(p.stdout)["values"]
    assert {(v["address"], v["old"], v["new"]) for v in values if v["type"] == "str"} >= {
        (facts["heap"], f"CF-HEAP-STEP0-{tag}", f"CF-HEAP-STEP2-{tag}")}
    # timeline across the three levels.
    p = forensics("timeline", pre1, pre2, dump, "--pid", str(facts["pid"]), "--address", hex(facts["heap"]), "--as", "str",
             "--json")
    assert p.returncode == 0, p.stderr
    assert [r["value"] for r in json.loads(p.stdout)["points"]] == [f"CF-HEAP-STEP{i}-{tag}" for i in range(3)]


def test_diff_pairs_a_pre_dump_with_its_dump() -> None:
    levels = chain_samples(REPO / "samples")["criu-chain"]
    a, b = load(levels["pre1"]), load(levels["dump"])
    d = diff_checkpoints(a, b)
    assert [(p.a.pid, p.b.pid, p.rule) for p in d.pairs] == [(b.processes[0].pid,) * 2 + ("pid (pre-dump)",)]
    assert d.changes == []  # a pre-dump has no fds, mappings or ids to compare


def test_podman_with_previous_needs_its_parent() -> None:
    s = chain_samples(REPO / "samples")["podman-chain"]["with-previous"]
    facts, tag = s.truth["facts"], s.truth["tag"]
    alone = load(s, with_parent=False)
    assert any("parent checkpoint that is not available" in w for w in alone.warnings)
    with pytest.raises(MemoryGap, match="parent"):
        alone.memory[1].read(facts["early"], 8)
    parent = str(s.root / s.entry["parent_archive"])
    p = forensics("--parent", parent, "memory", "grep", f"CF-EARLY-0-{tag}", str(s.archive), "--json")
    assert p.returncode == 0, p.stderr
    assert [h["address"] for h in json.loads(p.stdout)["matches"]] == [facts["early"]]
    p = forensics("--parent", parent, "inspect", str(s.archive))
    assert p.returncode == 0 and "given with --parent" in p.stdout, p.stdout
