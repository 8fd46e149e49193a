"""The lab's fleet (fleet/index.json): the bundled subset under samples/fleet and, with root, the full
32 checkpoints of a fresh lab run; and real Dask LocalClusters (2 worker processes) to hunt on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLES


@dataclass(frozen=True)
class Fleet:
    root: Path
    doc: dict

    @property
    def entries(self) -> list[dict]:
        return self.doc["checkpoints"]

    @property
    def ioc(self) -> str:
        return self.doc["ioc"]

    def path(self, e: dict) -> Path:
        return self.root / (e["images"] or e["archive"])

    def by_name(self, name: str) -> dict:
        return next(e for e in self.entries if e["name"] == name)

    @property
    def baseline(self) -> dict:
        return self.by_name(self.doc["baseline"])

    @property
    def planted(self) -> set[str]:
        return {str(self.path(e)) for e in self.entries if e["planted"]}

    @property
    def paths(self) -> list[str]:
        return [str(self.path(e)) for e in self.entries]


def load_fleet(root: Path) -> Fleet:
    index = root / "fleet" / "index.json"
    if not index.exists():
        pytest.fail(f"{index} is missing: the lab's fleet scenario made nothing there")
    return Fleet(root, json.loads(index.read_text()))


@pytest.fixture(params=["bundled", "fresh"])
def fleet(request: pytest.FixtureRequest) -> Fleet:
    """Each test that takes this runs on the bundled subset and on the fleet of a fresh lab run."""
    if request.param == "bundled":
        return load_fleet(SAMPLES)
    return load_fleet(request.getfixturevalue("lab"))


@pytest.fixture(scope="module")
def cluster():
    """A real Dask cluster: a scheduler here and 2 worker processes, one thread each."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=40) as lc, distributed.Client(lc) as client:
        yield client
