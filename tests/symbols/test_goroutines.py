"""Goroutines listed natively from a checkpoint (runtime.allgs via the binary's symbols and DWARF) against
what the Go service logged about its own goroutines just before the checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from forensics.loader import load_directory
from forensics.symbols.goroutines import GStatus, goroutines_for
from forensics.symbols.resolve import BinaryResolver
from forensics.symbols.unwind import FrameMethod
from tests.conftest import REPO, load_samples

EXE = "/usr/local/bin/goservice"


def test_goroutines_match_what_the_program_logged(run_root: Path) -> None:
    samples = [s for s in load_samples(run_root) if s.scenario == "goservice"]
    assert samples
    for s in samples:
        ck = load_directory(s.images)
        state = s.truth["go_state"]
        listing = goroutines_for(ck, BinaryResolver(binaries={EXE: s.root / s.entry["binary"]}))[state["pid"]]
        assert listing.note is None, listing.note
        by_id = {g.id: g for g in listing.goroutines}
        for logged in state["goroutines"]:
            g = by_id[logged["id"]]
            # Every logged goroutine was blocked (parked) when the checkpoint was taken, and its chain,
            # unwound with CFI from the saved gobuf, runs from runtime.gopark to runtime.goexit through the
            # function it named as its own.
            assert g.status is GStatus.WAITING, (logged, g.status)
            names = [loc.symbol for _fr, loc in g.frames]
            assert names[0] == "runtime.gopark" and names[-1] == "runtime.goexit.abi0", names
            assert logged["function"] in names, (logged, names)
            assert g.unwind is not None and g.unwind.complete
            assert all(fr.method is FrameMethod.CFI for fr, _loc in g.frames[1:])


def test_cli_goroutines_without_binary_says_so() -> None:
    s = next(x for x in load_samples(REPO / "samples") if x.scenario == "goservice")
    p = subprocess.run([sys.executable, "-m", "forensics", "inspect", str(s.images), "--goroutines"],
                       capture_output=True, text=True, cwd=REPO, check=False)
    assert p.returncode == 0, p.stderr
    assert "binary not found, give --rootfs" in " ".join(p.stdout.split())
    assert "goroutine 1 " not in p.stdout
