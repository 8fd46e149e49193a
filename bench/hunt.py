#!/usr/bin/env python3
"""Benchmark of `forensics hunt`: --jobs 1 against --jobs 2 and a Dask LocalCluster of 2 worker processes,
per-checkpoint overhead, growth with the number of checkpoints and with their size.

    sudo .venv/bin/python bench/hunt.py [--fleet DIR] [--sizes DIR] [--runs 3] [--write docs/performance.md]

--fleet: a lab run holding fleet/index.json (`lab.py run --out DIR fleet`; default: made under /tmp once,
or samples/ without root). Counts above the fleet's size are made of copies of it in a temp directory
(distinct paths, so every checkpoint is opened and decoded again). --sizes: a lab run with `bench:MIB`
checkpoints (`lab.py run --out DIR bench:64 bench:256 bench:1024`), for the growth with size; without it
those rows are left out. Every row is the median of --runs runs made in this invocation, the backends
alternating within each run; the ratio is against --jobs 1 in the same run. Times are of the hunt itself
(targets found, tasks run, rows made) inside one process: interpreter start-up is the same for all and
left out. The answers are checked: every backend must give the rows of --jobs 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forensics.hunt.backends import DaskBackend, InProcessBackend, LocalBackend  # noqa: E402
from forensics.hunt.question import GrepQuestion, Question  # noqa: E402
from forensics.hunt.rows import Target  # noqa: E402
from forensics.hunt.run import hunt, rows  # noqa: E402
from forensics.hunt.targets import expand  # noqa: E402

COUNTS = (1, 8, 16, 32, 64)
NEEDLE = "CF-NEEDLE-0123456789"   # what memhog plants (samples/lab/bench/memhog.c)


def fleet_targets(root: Path, n: int, scratch: Path) -> list[Target]:
    """n checkpoints of the fleet: the fleet's own, then copies of it under `scratch`."""
    doc = json.loads((root / "fleet" / "index.json").read_text())
    # Docker directories and Podman archives alternating, so every count has the same mix of both.
    docker = [root / e["images"] for e in doc["checkpoints"] if e["images"]]
    podman = [root / e["archive"] for e in doc["checkpoints"] if not e["images"]]
    paths = [p for pair in zip(docker, podman) for p in pair]
    out: list[str] = []
    copy = 0
    while len(out) < n:
        if copy == 0:
            out.extend(str(p) for p in paths)
        else:
            dest = scratch / f"copy{copy}"
            if not dest.exists():
                shutil.copytree(root / "fleet", dest / "fleet", symlinks=True)
            out.extend(str(dest / p.relative_to(root)) for p in paths)
        copy += 1
    items = expand(out[:n], [])
    assert all(isinstance(t, Target) for t in items) and len(items) == n
    return items  # type: ignore[return-value]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def one(items: list[Target], q: Question, backend_name: str, client,  # noqa: ANN001, ANN201
        split: int | None = None):
    if backend_name == "jobs1":
        backend = InProcessBackend()
    elif backend_name == "jobs2":
        backend = LocalBackend(2)
    else:
        backend = DaskBackend(client)
    try:
        kwargs = {"split_bytes": split} if split else {}
        return hunt(items, q, backend, **kwargs)
    finally:
        backend.close()


def compare(items: list[Target], q: Question, runs: int, client,  # noqa: ANN001
            split: int | None = None) -> dict[str, float]:
    """Median seconds per backend, alternating; each backend's rows checked against --jobs 1's."""
    names = ("jobs1", "jobs2", "dask2")
    times: dict[str, list[float]] = {n: [] for n in names}
    reference = None
    for _ in range(runs):
        for name in names:
            s, result = timed(lambda name=name: one(items, q, name, client,
                                                    split if name != "jobs1" else None))
            table = [r.to_json() for r in rows(result)]   # type: ignore[arg-type]
            if reference is None:
                reference = table
            elif table != reference:
                raise SystemExit(f"{name} gave other rows than --jobs 1 for {q}")
            times[name].append(s)
    return {n: statistics.median(v) for n, v in times.items()}


def make_fleet() -> Path:
    out = Path(tempfile.gettempdir()) / "cf-hunt-bench-fleet"
    if not (out / "fleet" / "index.json").exists():
        if os.geteuid() != 0:
            return REPO / "samples"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, str(REPO / "samples/lab/lab.py"), "run", "--out", str(out), "fleet"],
                       check=True)
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    mem = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) >> 20
    return (f"Linux {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem} GiB RAM, "
            f"Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleet", type=Path)
    ap.add_argument("--sizes", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = ap.parse_args()
    import distributed

    fleet = args.fleet or make_fleet()
    ioc = json.loads((fleet / "fleet" / "index.json").read_text())["ioc"]
    lines = []
    raw: dict[str, object] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="cf-hunt-bench-") as tmp, \
            distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                     dashboard_address=":0", silence_logs=50) as lc, \
            distributed.Client(lc) as client:
        scratch = Path(tmp)
        one(fleet_targets(fleet, 8, scratch), GrepQuestion(ioc), "dask2", client)   # workers import once
        growth = {}
        for n in COUNTS:
            items = fleet_targets(fleet, n, scratch)
            growth[n] = compare(items, GrepQuestion(ioc), args.runs, client)
            print(n, growth[n], flush=True)
        raw["growth"] = growth
        lines.append("| checkpoints | --jobs 1 (s) | ms each | --jobs 2 (s) | ms each | ratio "
                     "| LocalCluster(2) (s) | ms each | ratio |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for n, t in growth.items():
            lines.append(f"| {n} | {t['jobs1']:.3f} | {t['jobs1'] / n * 1000:.1f} | {t['jobs2']:.3f} | "
                         f"{t['jobs2'] / n * 1000:.1f} | {t['jobs2'] / t['jobs1']:.2f} | {t['dask2']:.3f} | "
                         f"{t['dask2'] / n * 1000:.1f} | {t['dask2'] / t['jobs1']:.2f} |")
        lo, hi = COUNTS[1], COUNTS[-1]
        per = {k: (growth[hi][k] - growth[lo][k]) / (hi - lo) for k in ("jobs1", "jobs2", "dask2")}
        raw["per_checkpoint_slope"] = per
        lines.append("")
        lines.append("| backend | one checkpoint (ms) | each further checkpoint (ms, slope 8 -> 64) |")
        lines.append("|---|---|---|")
        for k, label in (("jobs1", "--jobs 1"), ("jobs2", "--jobs 2"), ("dask2", "LocalCluster(2)")):
            lines.append(f"| {label} | {growth[1][k] * 1000:.0f} | {per[k] * 1000:.1f} |")
        if args.sizes:
            sized = {}
            for d in sorted(args.sizes.glob("bench-*/ck1"), key=lambda p: int(p.parent.name.split("-")[1])):
                mib = int(d.parent.name.split("-")[1])
                items = expand([str(d)], [])
                sized[mib] = compare(items, GrepQuestion(NEEDLE), args.runs, client, split=64 << 20)
                print(mib, sized[mib], flush=True)
            raw["sizes"] = sized
            lines.append("")
            lines.append("| one checkpoint of | --jobs 1 (s) | --jobs 2, split 64 MiB (s) | LocalCluster(2), "
                         "split 64 MiB (s) | ratio | MiB/s on the cluster |")
            lines.append("|---|---|---|---|---|---|")
            for mib, t in sized.items():
                lines.append(f"| {mib} MiB | {t['jobs1']:.3f} | {t['jobs2']:.3f} | {t['dask2']:.3f} | "
                             f"{t['dask2'] / t['jobs1']:.2f} | {mib / t['dask2']:.0f} |")
    print(f"\nMeasured on {machine()} with `bench/hunt.py --runs {args.runs}`.\n")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
