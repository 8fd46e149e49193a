"""Every time says where it comes from; a file mtime is never passed off as when a checkpoint was taken."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tests.cli import forensics as run
from tests.conftest import bundled_samples




def _copy_with_fresh_mtimes(src: Path, dest: Path, when: float) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    for root, _dirs, files in os.walk(dest):
        for name in files:
            os.utime(Path(root) / name, (when, when))
    return dest


def test_copied_checkpoint_time_is_labelled_as_an_mtime(tmp_path: Path) -> None:
    svc = {s.name: s for s in bundled_samples() if s.scenario == "service"}
    now = time.time()
    # A copy resets mtimes; make the "later" checkpoint look older than the earlier one.
    a = _copy_with_fresh_mtimes(svc["checkpoint1"].images, tmp_path / "a", now)
    b = _copy_with_fresh_mtimes(svc["checkpoint2"].images, tmp_path / "b", now - 3600)
    doc = json.loads(run("inspect", str(a), "--json").stdout)
    t = doc["checkpoint"]["time"]
    assert t["source"] == "file mtime" and t["what"] == "file modified" and "unreliable" in t["trust"]
    assert abs(__import__("datetime").datetime.fromisoformat(t["utc"].replace("Z", "+00:00")).timestamp() - now) < 2
    text = run("inspect", str(a)).stdout
    line = next(x for x in text.splitlines() if x.startswith("time"))
    assert "file mtime" in line and "file modified" in line and "checkpointed" not in line
    # Unreliable clocks never call an order reversed; they say nothing orders the checkpoints.
    p = run("diff", str(a), str(b), "--json")
    assert p.returncode == 0, p.stderr
    assert "looks reversed" not in p.stderr and "no reliable time orders these checkpoints" in p.stderr


def test_archive_times_say_which_header_and_which_field() -> None:
    """Podman 5.8's export has no checkpointedTime: the time is inventory.img's mtime in the tar header
    (packed with the archive, so it survives copies), and the container's creation comes from config.dump."""
    s = next(x for x in bundled_samples() if x.scenario == "podman" and x.archive is not None)
    doc = json.loads(run("inspect", str(s.archive), "--json").stdout)
    t = doc["checkpoint"]["time"]
    assert t["source"] == "archive member mtime" and t["origin"].endswith("inventory.img")
    created = doc["checkpoint"]["container"]["created"]
    assert created["source"] == "engine metadata" and created["origin"] == "config.dump createdTime"
    line = next(x for x in run("inspect", str(s.archive)).stdout.splitlines() if x.startswith("time"))
    assert "archive member mtime" in line
