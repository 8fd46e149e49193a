"""Every guest checkpoint (bundled and fresh) decodes exactly as the crit of the CRIU that wrote it:
CRIU 4.2.1's for the chains, CRIU 3.17's for the bookworm guest's checkpoints."""

from __future__ import annotations

from pathlib import Path

from forensics.loader import load_directory
from forensics.memory.grep import grep
from forensics.memory.search import compile_pattern
from forensics.memory.select import VmaFilter
from tests.conftest import load_samples
from tests.images.checkpoints import images_dir
from tests.images.test_samples import _images, crit_mismatches, damage_and_novelty

GUEST_SCENARIOS = {"criu-chain", "runc-chain", "podman-chain", "criu-3.17"}


def test_guest_checkpoints_decode_as_their_crit_does(guest_root: Path, tmp_path: Path) -> None:
    samples = [s for s in load_samples(guest_root) if s.scenario in GUEST_SCENARIOS]
    assert {s.scenario for s in samples} == GUEST_SCENARIOS
    for s in samples:
        directory = images_dir(s, tmp_path)
        images = _images(directory)
        assert damage_and_novelty(images) == [], s
        assert crit_mismatches(images, s.crit, s.entry.get("criu")) == [], s


def test_criu_3_17_service_and_counter(guest_root: Path) -> None:
    by_name = {s.name: s for s in load_samples(guest_root) if s.scenario == "criu-3.17"}
    svc = by_name["service"]
    ck = load_directory(svc.images)
    assert ck.errors == [] and (ck.info.criu_version, ck.info.criu_version_source) == ("3.17.1", "dump.log")
    state = svc.truth["service_state"]
    hits = [(m.pid, m.address) for m in grep(ck, compile_pattern(svc.truth["heap_secret"]), VmaFilter())]
    assert sorted(hits) == sorted((pid, state["addr"]["heap_secret"]) for pid in (state["pid"], state["child_pid"]))
    assert sorted(t.tid for t in ck.process(state["pid"]).threads) == sorted(state["tids"].values())
    counter = by_name["counter"]
    ck = load_directory(counter.images)
    assert ck.errors == []
    sh = ck.process(counter.truth["before"]["processes"][0]["pid"])
    assert sh is not None and sh.argv == ["busybox", "sh", "-c", counter.truth["command"]]
