"""`forensics capture` end to end against the lab's real dockerd and CRIU.

The lab's optional `serve` scenario keeps a service container running and says where its dockerd is
(serve.json); from the host the daemon's socket is /proc/<dockerd pid>/root/run/docker.sock and its data
root is under the lab rootfs. The test checkpoints the container with `forensics capture`, checks the
checkpoint and the report beside it and that the container still runs, then lets the lab finish
(serve.done, touched whatever happens).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import LAB, REPO, ROOTFS
from tests.report.conftest import ARTIFACTS

# The first lab run on a machine builds the rootfs (minutes); later ones start in seconds.
READY_TIMEOUT = 1800
CAPTURE_TIMEOUT = 600
LAB_EXIT_TIMEOUT = 300


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the capture lab test must run in CI: {reason}")
    pytest.skip(reason)


def docker_cli(tmp: Path, dockerd_pid: int) -> dict[str, str]:
    """PATH for a docker client: the host's, or else the lab rootfs's own, run in the lab's mount
    namespace with nsenter."""
    if shutil.which("docker"):
        return {}
    shim = tmp / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "docker").write_text(f'#!/bin/sh\nexec nsenter --target {dockerd_pid} --mount --root /usr/bin/docker "$@"\n')
    (shim / "docker").chmod(0o755)
    return {"PATH": f"{shim}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def wait_for_file(path: Path, lab: subprocess.Popen[bytes], log: Path, timeout: float) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            return json.loads(path.read_text())
        if lab.poll() is not None:
            pytest.fail(f"the lab exited ({lab.returncode}) before {path.name}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"no {path.name} within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.mark.lab
def test_capture_against_real_dockerd(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unavailable("the lab needs root to run dockerd and CRIU")
    out = tmp_path / "lab"
    log = tmp_path / "lab.log"
    with open(log, "wb") as log_fh:
        lab = subprocess.Popen([sys.executable, str(LAB), "run", "--out", str(out), "serve"], stdin=subprocess.DEVNULL,
                               stdout=log_fh, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        serve = wait_for_file(out / "serve.json", lab, log, READY_TIMEOUT)
        pid, container = serve["dockerd_pid"], serve["container"]
        root = ROOTFS / "var" / "lib" / "docker"
        env = {**os.environ, "DOCKER_HOST": f"unix:///proc/{pid}/root/run/docker.sock", **docker_cli(tmp_path, pid)}

        def docker(*args: str) -> str:
            p = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60)
            assert p.returncode == 0, p.stderr
            return p.stdout.strip()

        cid = docker("inspect", "--format", "{{.Id}}", container)
        p = subprocess.run([sys.executable, "-m", "forensics", "capture", container, "--docker-root", str(root)],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=CAPTURE_TIMEOUT)
        assert p.returncode == 0, f"{p.stdout}\n{p.stderr}"
        lines = dict(line.split(": ", 1) for line in p.stdout.splitlines())
        ckdir, report = Path(lines["checkpoint"]), Path(lines["report"])
        assert ckdir.parent == root / "containers" / cid / "checkpoints"
        assert re.fullmatch(r"forensics-\d{8}T\d{6}Z", ckdir.name)
        assert (ckdir / "inventory.img").is_file() and (ckdir / "pstree.img").is_file()
        assert report == ckdir.parent / f"{ckdir.name}.report.html" and report.is_file()
        assert not any(x.suffix == ".html" for x in ckdir.iterdir())  # nothing written into the evidence
        text = report.read_text(encoding="utf-8")
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy2(report, ARTIFACTS / "capture-report.html")  # the lab removes the container and it
        assert "listens on tcp 127.0.0.1:8080" in text and "Partial result" not in text
        assert docker("inspect", "--format", "{{.State.Running}}", container) == "true"
        assert ckdir.name in docker("checkpoint", "ls", container)
        # The binaries come from the container's own overlay2 layers, found from the Docker data root:
        # no --rootfs or --binary given, yet every thread's stop is symbolized.
        p = subprocess.run([sys.executable, "-m", "forensics", "inspect", ckdir.name, "--docker-root", str(root),
                            "--container", container, "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        stops = [t["stop"] for proc in doc["processes"] for t in proc["threads"]]
        assert stops and all(st["symbol"] for st in stops), [st["note"] for st in stops]
        frames = {f["text"].split("+")[0] for proc in doc["processes"] for t in proc["threads"]
                  for f in t["stop"]["frames"]}
        assert {"pthread_cond_wait", "clock_nanosleep"} <= frames
    finally:
        out.mkdir(parents=True, exist_ok=True)
        (out / "serve.done").touch()
        try:
            lab.wait(LAB_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            lab.terminate()
            lab.wait(60)
    assert lab.returncode == 0, log.read_text()[-3000:]
