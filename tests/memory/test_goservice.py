"""The Go scenario: an ELF core made from the checkpoint of a static Go service, opened by delve (the lab
rootfs's `dlv`, which knows the Go release that built the service), against the goroutines the program
logged about itself just before the checkpoint."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from forensics.memory.elfcore import write_core
from forensics.loader import load_directory
from forensics.symbols.goroutines import goroutines_for
from forensics.symbols.resolve import BinaryResolver
from forensics.symbols.stops import stops_for
from forensics.symbols.unwind import FrameMethod
from tests.conftest import ROOTFS, SAMPLES, Sample, load_samples

EXE = "/usr/local/bin/goservice"


def go_samples(root: Path) -> list[Sample]:
    return [s for s in load_samples(root) if s.scenario == "goservice"]


def resolver(s: Sample) -> BinaryResolver:
    return BinaryResolver(binaries={EXE: s.root / s.entry["binary"]})


def dlv(binary: Path, core: Path, commands: list[str]) -> str:
    """delve in the lab rootfs (chroot), on copies of the binary and core under its /tmp."""
    with tempfile.TemporaryDirectory(dir=ROOTFS / "tmp", prefix="cf-dlv-") as tmp:
        inside = "/tmp/" + Path(tmp).name
        shutil.copy(binary, Path(tmp) / "goservice")
        shutil.copy(core, Path(tmp) / "core")
        (Path(tmp) / "init").write_text("\n".join([*commands, "exit"]) + "\n")
        p = subprocess.run(["chroot", str(ROOTFS), "env", "HOME=/tmp", "TERM=dumb", "dlv", "core",
                            f"{inside}/goservice", f"{inside}/core", "--init", f"{inside}/init",
                            "--allow-non-terminal-interactive=true"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return re.sub(r"\x1b\[[0-9;]*m", "", p.stdout)


def test_delve_lists_the_goroutines_the_program_logged(lab: Path, tmp_path: Path) -> None:
    if not (ROOTFS / "usr/bin/dlv").exists():
        pytest.fail(f"the lab rootfs at {ROOTFS} has no dlv: its debugger-golang stage did not run")
    samples = go_samples(SAMPLES) + go_samples(lab)
    assert len(samples) == 2, [str(s) for s in samples]
    for s in samples:
        ck = load_directory(s.images)
        state = s.truth["go_state"]
        proc = ck.process(state["pid"])
        assert proc is not None
        core = tmp_path / f"core.{len(list(tmp_path.iterdir()))}"
        with open(core, "wb") as out:
            report = write_core(proc, ck.memory[proc.pid], resolver(s), out, core)
        assert report.file_bytes > 0
        logged = state["goroutines"]
        text = dlv(s.root / s.entry["binary"], core,
                   ["goroutines", "print main.requestCounter", *[f"goroutine {g['id']} bt" for g in logged]])
        listed = {int(m.group(1)) for m in re.finditer(r"Goroutine (\d+) - ", text)}
        assert {g["id"] for g in logged} <= listed, text
        # Our own listing from the checkpoint (runtime.allgs) finds exactly the goroutines delve finds.
        native = goroutines_for(ck, resolver(s))[proc.pid]
        assert {g.id for g in native.goroutines} == listed
        assert f"\n{state['request_counter']}\n" in text
        # Each goroutine's backtrace, as delve reads it from our core, passes through the function the
        # goroutine named as its own: one trace per `goroutine N bt`, in command order.
        traces = re.split(r"\n(?=\s*0\s+0x)", text)[1:]
        assert len(traces) == len(logged), text
        for g, trace in zip(logged, traces, strict=True):
            assert f" in {g['function']}\n" in trace, (g, trace)


def test_go_threads_unwind_with_cfi() -> None:
    """Go's own .debug_frame: every OS thread of the runtime unwinds with CFI from its saved registers."""
    for s in go_samples(SAMPLES):
        ck = load_directory(s.images)
        stops = stops_for(ck, resolver(s))
        assert stops
        for stop in stops.values():
            assert len(stop.frames) >= 4
            assert all(fr.method is FrameMethod.CFI for fr, _loc in stop.frames[1:])
            assert all(loc.symbol for _fr, loc in stop.frames)
