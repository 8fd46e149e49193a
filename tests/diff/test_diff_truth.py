"""diff on real checkpoint pairs, against what the scenarios know moved (and what did not)."""

from __future__ import annotations

import json
from pathlib import Path

from forensics.diff.compare import diff_checkpoints
from forensics.loader import load_directory
from tests.cli import forensics
from tests.conftest import REPO, load_samples


def pair(root: Path, scenario: str):  # noqa: ANN201
    s = {x.name: x for x in load_samples(root) if x.scenario == scenario}
    return s["checkpoint1"], s["checkpoint2"]


def test_counter_diff_names_variable_and_replaced_sleep(run_root: Path) -> None:
    s1, s2 = pair(run_root, "counter")
    d = diff_checkpoints(load_directory(s1.images), load_directory(s2.images))
    strings = [v for v in d.values if v.type == "str" and v.noise is None and v.old.startswith("i=")]
    assert len(strings) == 1, d.values
    v = strings[0]
    old, new = int(v.old[2:]), int(v.new[2:])
    # `i` holds the last number echoed, or that plus one once expr has run: around the logged values.
    t1, t2 = s1.truth, s2.truth
    assert int(t1["last_logged_before"]) <= old <= int(t1["last_logged_after"]) + 1
    assert int(t2["last_logged_before"]) <= new <= int(t2["last_logged_after"]) + 1
    assert v.where == "[heap]" and v.pid == 1
    # The shell's `sleep 1` child is replaced every second; both checkpoints hold one, under other pids.
    sleeps = [[e["pid"] for e in s.crit_json("pstree.img")["entries"]
               if s.crit_json(f"core-{e['pid']}.img")["entries"][0]["tc"]["comm"] == "sleep"] for s in (s1, s2)]
    replaced = [c for c in d.section("processes") if c.field == "pid" and "replaced" in (c.note or "")]
    if sleeps[0] != sleeps[1]:
        assert len(replaced) == 1 and replaced[0].subject.endswith("sleep")
        assert [replaced[0].old] == sleeps[0] and [replaced[0].new] == sleeps[1]


def test_service_counters_exact(run_root: Path) -> None:
    s1, s2 = pair(run_root, "service")
    d = diff_checkpoints(load_directory(s1.images), load_directory(s2.images))
    st1, st2 = s1.truth["service_state"], s2.truth["service_state"]
    addr = st2["addr"]
    by_addr = {v.address: v for v in d.values if v.pid == st2["pid"]}
    rc = by_addr[addr["request_counter"]]
    assert (rc.old, rc.new, rc.grew) == (st1["request_counter"], st2["request_counter"], True)
    tc = by_addr[addr["tick_counter"]]
    assert (tc.old, tc.new) == (st1["tick_counter"], st2["tick_counter"])
    lc = by_addr[addr["last_command"]]
    assert (lc.type, lc.old, lc.new) == ("str", st1["last_command"], st2["last_command"])
    sc = by_addr[addr["shared_counter"]]
    assert (sc.old, sc.new) == (st1["shared_counter"], st2["shared_counter"])
    # The shared page is one object for both processes: reported once.
    assert sum(1 for v in d.values if v.where.startswith("/dev/zero")) == 1
    log = [c for c in d.section("fds") if c.subject.startswith("fd 11")]
    assert [(c.field, c.new - c.old) for c in log] == [("pos", len("add 1006 -> request_counter=1010\n"))]


def test_service_no_false_changes(run_root: Path) -> None:
    """Mappings the service never writes after start-up show no changed pages."""
    s1, s2 = pair(run_root, "service")
    d = diff_checkpoints(load_directory(s1.images), load_directory(s2.images))
    addr = s2.truth["service_state"]["addr"]
    quiet = [addr["anon_region"], addr["memfd_region"], addr["file_region"]]
    for m in d.memory:
        for a in quiet:
            assert not (m.vma.start <= a < m.vma.end), f"false change in {m.vma.label or m.vma.kind}"
        assert m.vma.prot & 2, f"a read-only mapping changed: {m.vma.label}"
    assert [c for c in d.changes if c.section in ("processes", "sockets", "mounts", "vmas")] == []


def test_service_tcp_new_connection(run_root: Path) -> None:
    s1, s2 = pair(run_root, "service-tcp")
    d = diff_checkpoints(load_directory(s1.images), load_directory(s2.images))
    new = [c for c in d.section("sockets") if c.what == "added" and c.note == "new connection"]
    assert len(new) == 2  # both ends live in the service: client fd 18, server fd 19
    assert {c.new for c in new} == {"fd 18", "fd 19"}
    fds = {c.subject for c in d.section("fds") if c.what == "added"}
    assert fds == {"fd 18", "fd 19"}


def test_cli_json_document() -> None:
    s1, s2 = pair(REPO / "samples", "service")
    p = forensics("diff", str(s1.images), str(s2.images), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    for key in ("changes", "memory", "values", "matched"):
        assert key in doc
    assert {c["section"] for c in doc["changes"]} <= {"processes", "fds", "sockets", "mounts", "vmas"}
    st = s2.truth["service_state"]
    rc = next(v for v in doc["values"] if v["address"] == st["addr"]["request_counter"])
    assert (rc["pid"], rc["old"], rc["new"]) == (st["pid"], 4, 1010)
    assert all(v["noise"] is None for v in doc["values"])
    p = forensics("diff", str(s1.images), str(s2.images), "--json", "--all")
    assert any(v["noise"] for v in json.loads(p.stdout)["values"])
