"""Fixtures shared by every test: the bundled samples and a fresh lab run.

The bundled samples (samples/index.json) are real checkpoints committed to the repository. The `lab`
fixture makes new ones on this machine with the lab (real Docker, runc, Podman and CRIU 4.2.1), once per
test session. Without root the lab cannot run and its tests are skipped with the reason; under CI
(CI=true) a lab that cannot be built or run fails the suite instead, so a broken lab never passes silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
LAB = SAMPLES / "lab" / "lab.py"
# The lab's rootfs (lab.py's CACHE / "rootfs"): its crit, pycriu, dlv and gdb are the tests' references.
ROOTFS = Path(os.environ.get("LAB_CACHE", "/var/cache/checkpoint-forensics/lab")) / "rootfs"


@dataclass(frozen=True)
class Sample:
    """One checkpoint of a lab run, with where its reference decoding and ground truth are."""

    root: Path
    entry: dict

    @property
    def scenario(self) -> str:
        return self.entry["scenario"]

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def images(self) -> Path | None:
        return self.root / self.entry["images"] if self.entry.get("images") else None

    @property
    def archive(self) -> Path | None:
        return self.root / self.entry["archive"] if self.entry.get("archive") else None

    @property
    def crit(self) -> Path:
        return self.root / self.entry["crit"]

    def crit_json(self, image: str) -> dict:
        return json.loads((self.crit / f"{image}.json").read_text())

    @property
    def truth(self) -> dict:
        return json.loads((self.root / self.entry["truth"]).read_text())

    def __str__(self) -> str:
        return f"{self.scenario}/{self.name}"


# The architectures (index entry "arch", x86_64 when absent) whose checkpoints every sample-wide test
# takes. The arm64 guest's checkpoints ("arch": "aarch64") are also held to crit and /proc at image level
# by tests/guest/test_arm64.py and to the model's arm64 facts by tests/model/test_arm64_truth.py; since
# the model decodes arm64 they join every other test (the model's truth, symbols, records...) too.
ARCHES = frozenset({"x86_64", "aarch64"})
ALL_ARCHES = frozenset({"x86_64", "aarch64"})


def load_samples(root: Path, arches: frozenset[str] = ARCHES) -> list[Sample]:
    entries = json.loads((root / "index.json").read_text())
    return [Sample(root, e) for e in entries if e.get("arch", "x86_64") in arches]


def bundled_samples(arches: frozenset[str] = ARCHES) -> list[Sample]:
    if not (SAMPLES / "index.json").exists():
        return []
    return load_samples(SAMPLES, arches)


def _lab_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the lab must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh lab run (all scenarios) in a temp dir; its index.json lists the checkpoints."""
    if os.geteuid() != 0:
        _lab_unavailable("the lab needs root to run dockerd and CRIU")
    out = tmp_path_factory.mktemp("lab") / "run"
    p = subprocess.run([sys.executable, str(LAB), "run", "--out", str(out)], capture_output=True, text=True)
    if p.returncode == 77:
        _lab_unavailable(p.stderr.strip())
    if p.returncode != 0 or not (out / "index.json").exists():
        tail = "\n".join((p.stderr or "").splitlines()[-30:])
        pytest.fail(f"lab run failed (exit {p.returncode}):\n{tail}")
    return out


@pytest.fixture(scope="session")
def lab_samples(lab: Path) -> list[Sample]:
    return load_samples(lab)


@pytest.fixture(params=["bundled", "fresh"])
def run_root(request: pytest.FixtureRequest) -> Path:
    """Each test that takes this runs on the bundled samples and on a fresh lab run."""
    if request.param == "bundled":
        if not (SAMPLES / "index.json").exists():
            pytest.fail("samples/index.json is missing: the bundled samples must be committed")
        return SAMPLES
    return request.getfixturevalue("lab")
