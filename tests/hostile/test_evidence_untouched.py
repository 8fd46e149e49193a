"""Evidence is never modified: every command, run on the bundled samples, leaves every byte and mtime."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.cli import forensics
from tests.conftest import SAMPLES, load_samples


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else "link"
            out[str(p.relative_to(root))] = (digest, st.st_mtime_ns, st.st_mode)
    return out


def test_every_command_leaves_samples_unchanged(tmp_path: Path) -> None:
    before = snapshot(SAMPLES)
    svc = {s.name: s for s in load_samples(SAMPLES) if s.scenario == "service"}
    a, b = str(svc["checkpoint1"].images), str(svc["checkpoint2"].images)
    binary = f"--binary=/usr/local/bin/service={SAMPLES / 'service-bin' / 'service'}"
    commands = [
        ["inspect", a, "--all", binary], ["inspect", a, "--json"], ["inspect", "checkpoint1", "--docker-root",
                                                                    str(SAMPLES / "counter" / "docker-root")],
        ["memory", "map", a], ["memory", "grep", "CF-", a, "-C", "16"], ["memory", "strings", a, "--pid", "1"],
        ["memory", "read", a, "--pid", "1", "--symbol", "request_counter", binary],
        ["memory", "dump", a, "--pid", "1", "--all", "-o", str(tmp_path / "dump.bin")],
        ["diff", a, b, "--all", binary], ["timeline", a, b, "--pid", "1", "--symbol", "request_counter", binary],
    ]
    extra = [["report", a, b, "-o", str(tmp_path / "r.html")], ["doctor", str(SAMPLES / "failures")],
             ["ls", str(SAMPLES)], ["inspect", str(SAMPLES / "podman" / "checkpoint.tar")]]
    for args in commands + extra:
        p = forensics(*args)
        assert "Traceback" not in p.stderr, (args, p.stderr[-2000:])
        if args in commands:
            assert p.returncode == 0, (args, p.stderr[-1000:])
    assert snapshot(SAMPLES) == before
