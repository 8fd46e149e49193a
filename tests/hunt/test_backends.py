"""The same hunt on a real Dask LocalCluster (2 worker processes) and on 2 local worker processes gives
the rows of --jobs 1, row by row; a worker killed mid-hunt is retried (complete result) or, when Dask may
not retry, its checkpoints come back failed, never missing; a checkpoint split into parts gives the rows
of the whole."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from forensics.hunt.backends import DaskBackend, InProcessBackend, LocalBackend
from forensics.hunt.question import Binaries, DiffQuestion, FindingsQuestion, GrepQuestion
from forensics.hunt.rows import Status, Target
from forensics.hunt.run import hunt, rows
from forensics.hunt.targets import expand
from tests.conftest import SAMPLES
from tests.hunt.conftest import Fleet, load_fleet

BINARY = f"/usr/local/bin/service={SAMPLES / 'service-bin' / 'service'}"


def _table(result) -> list:  # noqa: ANN001
    return list(rows(result))   # frozen dataclasses: equal when every field (and hit) is


def _questions(fleet: Fleet) -> list:
    baseline = expand([str(fleet.path(fleet.baseline))], [])[0]
    return [GrepQuestion(fleet.ioc), GrepQuestion("svc-", ignore_case=True), FindingsQuestion(),
            DiffQuestion(baseline, Binaries(binary=(BINARY,)))]


def test_cluster_and_local_processes_equal_jobs_1(fleet: Fleet, cluster) -> None:  # noqa: ANN001
    items = expand(fleet.paths, [])
    for q in _questions(fleet):
        reference = _table(hunt(items, q, InProcessBackend()))
        assert reference, q
        assert _table(hunt(items, q, DaskBackend(cluster))) == reference, q
        local = LocalBackend(2)
        try:
            assert _table(hunt(items, q, local)) == reference, q
        finally:
            local.close()


def test_split_checkpoint_gives_the_rows_of_the_whole(cluster) -> None:  # noqa: ANN001
    """With a split size far below a checkpoint's pages every process's pages file is cut into spans on
    several workers; the union is exactly the unsplit answer."""
    fleet = load_fleet(SAMPLES)
    items = expand(fleet.paths, [])
    for q in (GrepQuestion("svc-"), GrepQuestion(fleet.ioc), GrepQuestion(r"add \d+", regex=True)):
        whole = hunt(items, q, InProcessBackend())
        split = hunt(items, q, DaskBackend(cluster), split_bytes=16 << 10)
        assert _table(split) == _table(whole), q
        assert all(r.tasks > 2 for r in split.results)
        assert sum(len(r.hits) for r in whole.results) > 0


def _fresh_cluster(**config):  # noqa: ANN003, ANN202
    distributed = pytest.importorskip("distributed")
    import dask

    ctx = dask.config.set(config)
    ctx.__enter__()
    lc = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=50)
    return ctx, lc, distributed.Client(lc)


def _kill_a_busy_worker(client, stop: threading.Event, killed: list[int],  # noqa: ANN001
                        parts_only: bool = False) -> None:
    """SIGKILL the process of a worker the scheduler says is running a hunt task right now (with
    `parts_only`, a task answering a part of a split checkpoint: its id has a '/')."""
    pids = client.run(os.getpid)

    def wanted(key: object) -> bool:
        return str(key).startswith("hunt-") and (not parts_only or "/" in str(key))

    while not stop.is_set():
        busy = [w for w, keys in client.processing().items() if any(wanted(k) for k in keys)]
        if busy:
            killed.append(pids[busy[0]])
            os.kill(pids[busy[0]], signal.SIGKILL)
            return
        stop.wait(0.005)


def _many(fleet: Fleet, copies: int) -> list[Target]:
    """The same checkpoints several times over (distinct targets), so the hunt is still running when a
    worker dies."""
    base = expand(fleet.paths, [])
    return [Target(t.ref, f"{t.label}#{i}", engine=t.engine, container=t.container, time=t.time)
            for i in range(copies) for t in base]


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_killed_worker_is_retried_or_marked_failed(allowed_failures: int) -> None:
    fleet = load_fleet(SAMPLES)
    items = _many(fleet, 6)
    q = GrepQuestion(fleet.ioc)
    reference = hunt(items, q, InProcessBackend())
    ctx, lc, client = _fresh_cluster(**{"distributed.scheduler.allowed-failures": allowed_failures})
    try:
        killed: list[int] = []
        stop = threading.Event()
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, stop, killed))
        killer.start()
        try:
            result = hunt(items, q, DaskBackend(client))
        finally:
            stop.set()
            killer.join()
        assert killed, "no worker was busy with a hunt task: nothing was killed"
        with pytest.raises(ProcessLookupError):
            os.kill(killed[0], 0)
        assert [r.target for r in result.results] == [r.target for r in reference.results]
        if allowed_failures:
            assert _table(result) == _table(reference)
        else:
            failed = [r for r in result.results if r.status is Status.FAILED]
            assert failed, "the killed worker's task must come back failed"
            assert all("KilledWorker" in r.errors[0] for r in failed)
            ok = {r.target.label: r for r in result.results if r.status is Status.OK}
            assert len(ok) + len(failed) == len(items)
            for r in reference.results:
                if r.target.label in ok:
                    assert ok[r.target.label].hits == r.hits
    finally:
        client.close()
        lc.close()
        ctx.__exit__(None, None, None)


def test_undecodable_checkpoints_are_rows(tmp_path: Path, cluster) -> None:  # noqa: ANN001
    fleet = load_fleet(SAMPLES)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)      # zstd magic, then nothing a tar could be
    cut = tmp_path / "cut.tar.zst"
    whole = fleet.path(fleet.by_name("fleet-p2/ck05")).read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    items = expand([*fleet.paths[:2], str(junk), str(cut), str(tmp_path / "nope")], [])
    for backend in (InProcessBackend(), DaskBackend(cluster)):
        result = hunt(items, GrepQuestion(fleet.ioc), backend)
        assert len(result.results) == 5
        bad = [r for r in result.results if r.status is not Status.OK]
        assert {r.target.ref for r in bad} == {str(junk), str(cut), str(tmp_path / "nope")}
        for r in bad:
            assert r.errors, r
            assert "Traceback" not in r.errors[0] and "internal error" not in r.errors[0], r.errors


def test_a_cluster_without_workers_does_not_hang() -> None:
    """No worker ever runs the tasks: after the stall time they come back failed, one row each."""
    distributed = pytest.importorskip("distributed")
    fleet = load_fleet(SAMPLES)
    items = expand(fleet.paths[:3], [])
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0",
                                  silence_logs=50) as lc, distributed.Client(lc) as client:
        result = hunt(items, GrepQuestion(fleet.ioc), DaskBackend(client, stall_seconds=2))
    assert [r.status for r in result.results] == [Status.FAILED] * 3
    assert all("ran none of the hunt's tasks" in r.errors[0] for r in result.results)


def test_a_lost_part_makes_its_checkpoint_partial_or_failed() -> None:
    """Checkpoints split into parts, Dask allowed no retry, a busy worker killed: the checkpoints whose
    part was lost are partial (other parts answered) or failed, naming the lost part; the others are
    complete and equal to --jobs 1."""
    fleet = load_fleet(SAMPLES)
    items = _many(fleet, 3)
    q = GrepQuestion("svc-")
    reference = {r.target.label: r for r in hunt(items, q, InProcessBackend()).results}
    ctx, lc, client = _fresh_cluster(**{"distributed.scheduler.allowed-failures": 0})
    try:
        killed: list[int] = []
        stop = threading.Event()
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, stop, killed, True))
        killer.start()
        try:
            result = hunt(items, q, DaskBackend(client), split_bytes=16 << 10)
        finally:
            stop.set()
            killer.join()
        assert killed
        assert len(result.results) == len(items)
        hurt = [r for r in result.results if r.status is not Status.OK]
        assert hurt, "the killed worker's task must come back failed"
        for r in hurt:
            assert any("KilledWorker" in e for e in r.errors), r.errors
        # A part was lost (the worker was killed while it ran one); its checkpoint's other parts (there are
        # about 10 at this split size; the worker ran one or two tasks) answered: partial, naming it.
        partial = [r for r in hurt if r.status is Status.PARTIAL]
        assert partial, [(r.status, r.errors) for r in hurt]
        for r in partial:
            assert any("KilledWorker" in e and "(part " in e for e in r.errors), r.errors
            assert r.tasks > 2
        for r in result.results:
            if r.status is Status.OK:
                assert r.hits == reference[r.target.label].hits
    finally:
        client.close()
        lc.close()
        ctx.__exit__(None, None, None)
