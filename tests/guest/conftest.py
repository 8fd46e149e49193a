"""The guest lab's checkpoints: bundled (samples/) and made fresh in a qemu guest once per session.

Like the `lab` fixture: without root the fresh run is skipped with the reason, under CI (CI=true) a guest
that cannot be built or booted fails the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, _lab_unavailable

GUEST = SAMPLES / "lab" / "guest.py"


# The x86-64 guests' scenarios (the amd64 and bookworm-amd64 guests); the arm64 guest runs on its own
# (`arm64_guest`), so that each fixture fails or passes for its own guests only.
X86_SCENARIOS = ("criu-chain", "runc-chain", "podman-chain", "criu-3.17")


def _guest_run(tmp_path_factory: pytest.TempPathFactory, label: str, scenarios: tuple[str, ...]) -> Path:
    if os.geteuid() != 0:
        _lab_unavailable("the guest lab needs root to build its disk image")
    out = tmp_path_factory.mktemp(label) / "run"
    p = subprocess.run([sys.executable, str(GUEST), "run", "--out", str(out), *scenarios],
                       capture_output=True, text=True, check=False)
    if p.returncode == 77:
        _lab_unavailable(p.stderr.strip())
    if p.returncode != 0 or not (out / "index.json").exists():
        tail = "\n".join((p.stderr or "").splitlines()[-30:])
        pytest.fail(f"guest run failed (exit {p.returncode}):\n{tail}")
    return out


@pytest.fixture(scope="session")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh run of the x86-64 guests' scenarios in a temp dir; its index.json lists the checkpoints."""
    return _guest_run(tmp_path_factory, "guest", X86_SCENARIOS)


@pytest.fixture(scope="session")
def arm64_guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh run of the arm64 guest (qemu-system-aarch64): its `arm64` scenario's checkpoints."""
    return _guest_run(tmp_path_factory, "arm64-guest", ("arm64",))


@pytest.fixture(params=["bundled", pytest.param("fresh", marks=pytest.mark.lab)])
def guest_root(request: pytest.FixtureRequest) -> Path:
    """Each test that takes this runs on the bundled guest samples and on a fresh guest run."""
    if request.param == "bundled":
        return SAMPLES
    return request.getfixturevalue("guest")
