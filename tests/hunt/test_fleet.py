"""On the lab's fleet the hunt finds exactly the planted checkpoints by grep and by YARA, and the diff
against the baseline names the process and the counters that moved, with the values the service
itself reported when it was checkpointed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from forensics.hunt.backends import InProcessBackend, LocalBackend
from forensics.hunt.question import Binaries, DiffQuestion, GrepQuestion, YaraQuestion
from forensics.hunt.rows import HitKind, Status
from forensics.hunt.run import hunt
from forensics.hunt.targets import expand
from tests.conftest import SAMPLES
from tests.hunt.conftest import Fleet

BINARY = f"/usr/local/bin/service={SAMPLES / 'service-bin' / 'service'}"


def _with_hits(result) -> set[str]:  # noqa: ANN001
    assert all(r.status is Status.OK for r in result.results), [r.errors for r in result.results]
    return {r.target.ref for r in result.results if r.hits}


def test_grep_finds_exactly_the_planted(fleet: Fleet) -> None:
    items = expand(fleet.paths, [])
    assert len(items) == len(fleet.entries)
    result = hunt(items, GrepQuestion(fleet.ioc), InProcessBackend())
    assert _with_hits(result) == fleet.planted
    for r in result.results:
        for h in r.hits:
            assert (h.kind, h.pid, h.where) == (HitKind.GREP, 1, "[stack]")


def test_grep_found_by_directory_walk(fleet: Fleet) -> None:
    """--from the fleet directory finds every checkpoint (Docker root and Podman archives) by itself."""
    items = expand([], [str(fleet.root / "fleet")])
    assert sorted(t.ref for t in items) == sorted(fleet.paths)
    engines = {t.engine for t in items}
    assert engines == {"docker", "podman"}
    result = hunt(items, GrepQuestion(fleet.ioc.upper(), ignore_case=True), InProcessBackend())
    assert _with_hits(result) == fleet.planted


def test_yara_finds_exactly_the_planted(fleet: Fleet) -> None:
    rules = 'rule planted { strings: $ioc = /cf-ioc-beacon-[0-9a-f]{16}\\.evil\\.example/ condition: $ioc }'
    result = hunt(expand(fleet.paths, []), YaraQuestion(rules, "planted.yar"), LocalBackend(2))
    assert _with_hits(result) == fleet.planted
    assert {h.what for r in result.results for h in r.hits} == {"planted"}


def test_diff_against_baseline_names_the_process_and_counters(fleet: Fleet) -> None:
    base = fleet.baseline
    same = [e for e in fleet.entries if e["container"] == base["container"] and e is not base]
    assert len(same) >= 3
    baseline = expand([str(fleet.path(base))], [])[0]
    q = DiffQuestion(baseline, Binaries(binary=(BINARY,)))
    result = hunt(expand([str(fleet.path(e)) for e in same], []), q, InProcessBackend())
    by_ref = {r.target.ref: r for r in result.results}
    for e in same:
        r = by_ref[str(fleet.path(e))]
        assert r.status is Status.OK
        named = {h.what: h for h in r.hits if h.kind is HitKind.VALUE}
        state, old = e["service_state"], base["service_state"]
        assert named["request_counter"].detail == \
            f"u64 {old['request_counter']!r} -> {state['request_counter']!r}"
        assert named["tick_counter"].detail == f"u32 {old['tick_counter']!r} -> {state['tick_counter']!r}"
        # Every named value (a symbol of the service binary) is in the one process that holds them.
        assert {h.pid for h in r.hits if h.kind is HitKind.VALUE and not h.what.startswith("[")} == {1}
        assert {h.pid for h in r.hits if h.kind is HitKind.CHANGE} <= {1}


def test_diff_folds_what_every_checkpoint_shares(fleet: Fleet) -> None:
    base = fleet.baseline
    same = [str(fleet.path(e)) for e in fleet.entries
            if e["container"] == base["container"] and e is not base]
    baseline = expand([str(fleet.path(base))], [])[0]
    q = DiffQuestion(baseline, Binaries(binary=(BINARY,)))
    folded = hunt(expand(same, []), q, InProcessBackend())
    alone = [hunt(expand([p], []), q, InProcessBackend()).results[0] for p in same]
    shared = set.intersection(*({h.key for h in r.hits} for r in alone))
    assert sum(r.folded for r in folded.results) == len(shared) * len(same)
    for r in folded.results:
        assert not {h.key for h in r.hits} & shared


def test_cli_json_and_html(fleet: Fleet, tmp_path: Path) -> None:
    page = tmp_path / "hunt.html"
    p = subprocess.run([sys.executable, "-m", "forensics", "hunt", "--grep", fleet.ioc, "--from",
                        str(fleet.root / "fleet"), "--jobs", "2", "--json", "-o", str(page)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["checkpoints"] == len(fleet.entries) and not doc["partial"]
    assert {r["ref"] for r in doc["rows"]} == fleet.planted
    text = page.read_text()
    for ref in fleet.planted:
        assert "forensics report " + ref in text or "forensics report '" + ref in text
    assert 'href="#ck-' in text
