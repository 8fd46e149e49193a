"""`forensics capture` against a stand-in `docker` (the real daemon is in test_capture_lab.py): where the
checkpoint and its report land, and the one-line errors with their fix."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Sample

CID = "c" * 64
# A stand-in for the Docker CLI: `inspect` and `info` answer like Docker; `checkpoint create` copies a real
# checkpoint into the Docker layout, or fails the way Docker does (FAKE_DOCKER=experimental|criu|other).
FAKE = r'''#!{python}
import json, os, shutil, sys
args = sys.argv[1:]
mode = os.environ.get("FAKE_DOCKER", "ok")
root = os.environ["FAKE_ROOT"]
if args[0] == "inspect":
    if args[-1] != "svc":
        sys.exit("Error: No such container: " + args[-1])
    print(json.dumps("{cid}"))
elif args[0] == "info":
    print(json.dumps(root))
elif args[:2] == ["checkpoint", "create"]:
    assert args[2] == "--leave-running", args
    if mode == "experimental":
        sys.exit("Error response from daemon: checkpoint is only supported in experimental mode")
    if mode == "criu":
        sys.exit('Error response from daemon: Cannot checkpoint container svc: runc: checkpoint failed: '
                 'exec: "criu": executable file not found in $PATH')
    if mode == "other":
        sys.exit("Error response from daemon: Container svc is not running")
    dest = os.path.join(root, "containers", "{cid}", "checkpoints", args[4])
    shutil.copytree(os.environ["FAKE_SOURCE"], dest)
else:
    sys.exit("unexpected: " + " ".join(args))
'''


def run_capture(tmp_path: Path, source: Path | None, mode: str, *args: str, docker: bool = True,
                ) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if docker:
        fake = bin_dir / "docker"
        fake.write_text(FAKE.format(python=sys.executable, cid=CID))
        fake.chmod(0o755)
    env = {**os.environ, "PATH": str(bin_dir), "FAKE_DOCKER": mode, "FAKE_ROOT": str(tmp_path / "docker-root"),
           "FAKE_SOURCE": str(source or "")}
    return subprocess.run([sys.executable, "-m", "forensics", "capture", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)


def test_capture_writes_the_report_beside_the_checkpoint(tmp_path: Path, service: list[Sample]) -> None:
    p = run_capture(tmp_path, service[0].images, "ok", "svc", "--name", "ck1")
    assert p.returncode == 0, p.stderr
    checkpoints = tmp_path / "docker-root" / "containers" / CID / "checkpoints"
    ckdir, report = checkpoints / "ck1", checkpoints / "ck1.report.html"
    assert p.stdout.splitlines() == [f"checkpoint: {ckdir}", f"report: {report}"]
    assert (ckdir / "inventory.img").is_file() and report.is_file()
    # Nothing written into the evidence.
    assert sorted(x.name for x in ckdir.iterdir()) == sorted(x.name for x in service[0].images.iterdir())  # type: ignore[union-attr]
    assert "listens on tcp 127.0.0.1:8080" in report.read_text(encoding="utf-8")


def test_capture_default_name_is_a_utc_timestamp(tmp_path: Path, service: list[Sample]) -> None:
    p = run_capture(tmp_path, service[0].images, "ok", "svc", "--docker-root", str(tmp_path / "docker-root"))
    assert p.returncode == 0, p.stderr
    name = Path(p.stdout.splitlines()[0].split(": ", 1)[1]).name
    assert re.fullmatch(r"forensics-\d{8}T\d{6}Z", name), name


@pytest.mark.parametrize(("mode", "expected"), [
    ("experimental", ("not in experimental mode (\"checkpoint is only supported in experimental mode\"): "
                      "start dockerd with --experimental")),
    ("criu", "CRIU is not installed where the Docker daemon runs: install it"),
    ("other", "docker checkpoint create failed: Error response from daemon: Container svc is not running"),
])
def test_capture_errors_are_one_line_with_the_fix(tmp_path: Path, mode: str, expected: str) -> None:
    p = run_capture(tmp_path, None, mode, "svc")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forensics: ") and expected in lines[0], p.stderr


def test_capture_without_docker_or_container(tmp_path: Path) -> None:
    p = run_capture(tmp_path, None, "ok", "svc", docker=False)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("forensics: docker is not installed") and "install" in p.stderr
    p = run_capture(tmp_path, None, "ok", "nope")
    assert p.returncode == 2
    assert p.stderr.strip() == "forensics: docker inspect nope: Error: No such container: nope"

