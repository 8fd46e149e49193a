"""Damaged evidence is a different answer from memory CRIU never dumped, and a partial result says so."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli import forensics as run
from tests.conftest import bundled_samples




def test_truncated_pages_file(tmp_path: Path) -> None:
    s = next(x for x in bundled_samples() if x.scenario == "service" and x.name == "checkpoint1")
    state = s.truth["service_state"]
    ck = shutil.copytree(s.images, tmp_path / "ck")
    pages = sorted(ck.glob("pages-*.img"), key=lambda p: p.stat().st_size)[-1]
    with open(pages, "r+b") as fh:
        fh.truncate(pages.stat().st_size // 4)
    secret = hex(state["addr"]["heap_secret"])
    intact = run("memory", "read", str(s.images), "--pid", str(state["pid"]), "--address", secret, "--as", "str")
    assert intact.returncode == 0 and "CF-HEAP-SECRET" in intact.stdout
    p = run("memory", "read", str(ck), "--pid", str(state["pid"]), "--address", secret, "--as", "str")
    assert p.returncode == 2 and "damaged evidence" in p.stderr and "never touched" not in p.stderr
    g = run("memory", "grep", "CF-HEAP-SECRET", str(ck))
    assert g.returncode == 2 and "partial" in g.stderr and "ends past the end of the pages file" in g.stderr
    j = run("inspect", str(ck), "--json")
    assert j.returncode == 2 and '"partial": true' in j.stdout
