#!/usr/bin/env python3
"""Benchmarks with same-run references: our commands against grep, Python's re, cmp -l, crit and tar.

    sudo .venv/bin/python bench/run.py [--sizes 1024,4096] [--runs 3] [--write docs/performance.md]

Inputs are made by the lab (samples/lab/lab.py, scenario `bench:MIB` and `bench:procs`) under the lab
rootfs (/var/cache/checkpoint-forensics/lab/rootfs/srv/cf-bench), once, and reused; the lab's own crit
runs there by chroot. Every row is the median of --runs runs made in this invocation, with peak RSS
from wait4. Answers are checked (needle counts equal grep's) so a fast wrong answer cannot pass.
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
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "samples" / "lab" / "lab.py"
ROOTFS = Path(os.environ.get("LAB_CACHE", "/var/cache/checkpoint-forensics/lab")) / "rootfs"
WORK = ROOTFS / "srv" / "cf-bench"
NEEDLE = "CF-NEEDLE-0123456789"
FORENSICS = [sys.executable, "-m", "forensics"]


@dataclass
class Timing:
    seconds: float
    peak_mib: float
    output: bytes


def run(cmd: list[str], discard: bool = False) -> Timing:
    """One run of a command, its wall time and peak resident memory (of the child, by wait4). With
    `discard` the output goes into a pipe that is drained and dropped, never to /dev/null: GNU cmp sees
    /dev/null and stops at the first difference, which would not be the work being compared."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    out = b""
    assert proc.stdout is not None
    if discard:
        while proc.stdout.read(1 << 20):
            pass
    else:
        out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read()  # type: ignore[union-attr]
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1) or (code == 1 and "grep" not in cmd[0] and "cmp" not in cmd[0]):
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.decode(errors='replace')[-500:]}")
    return Timing(seconds, usage.ru_maxrss / 1024, out)


PY_RE = """
import mmap, re, sys
rx = re.compile(sys.argv[1].encode())
total = 0
for name in sys.argv[2:]:
    with open(name, 'rb') as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        total += sum(1 for _ in rx.finditer(mm))
print(total)
"""


CORE_ONLY = """
import sys, time
from pathlib import Path
from forensics.memory.elfcore import write_core
from forensics.loader import load_directory
ck = load_directory(sys.argv[1])
pid = int(sys.argv[2])
binary = Path(sys.argv[4])
t0 = time.perf_counter()
with open(sys.argv[3], 'wb') as out:
    write_core(ck.process(pid), ck.memory[pid], lambda p: binary if p == '/tmp/memhog' else None, out, Path(sys.argv[3]))
print(time.perf_counter() - t0)
"""


def median(fn, runs: int) -> Timing:  # noqa: ANN001
    results = [fn() for _ in range(runs)]
    results.sort(key=lambda t: t.seconds)
    mid = results[len(results) // 2]
    return Timing(statistics.median(t.seconds for t in results), max(t.peak_mib for t in results), mid.output)


def paired(ours, ref, runs: int) -> tuple[Timing, Timing]:  # noqa: ANN001
    """Medians of `ours` and `ref` run alternately (ours, ref, ours, ref, ...): on a shared machine a
    burst of load then hits both sides alike, which back-to-back series do not guarantee."""
    a: list[Timing] = []
    b: list[Timing] = []
    for _ in range(runs):
        a.append(ours())
        b.append(ref())

    def mid(results: list[Timing]) -> Timing:
        return Timing(statistics.median(t.seconds for t in results), max(t.peak_mib for t in results), b"")

    return mid(a), mid(b)


def ensure_inputs(sizes: list[int]) -> dict[str, Path]:
    """The lab's bench checkpoints, made once: {"procs": dir, "1024": dir, ...}."""
    WORK.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    wanted = ["procs", *map(str, sizes)]
    for name in wanted:
        for facts in sorted(WORK.glob(f"*/bench-{name}/facts.json")):
            found[name] = facts.parent
    missing = [n for n in wanted if n not in found]
    if missing:
        out = WORK / f"run-{int(time.time())}"
        print(f"bench: making {', '.join(missing)} with the lab into {out} (once)", file=sys.stderr)
        subprocess.run([sys.executable, str(LAB), "run", "--out", str(out), *[f"bench:{n}" for n in missing]],
                       check=True)
        for n in missing:
            found[n] = out / f"bench-{n}"
    return found


def pages_files(ck: Path) -> list[str]:
    return sorted(str(p) for p in ck.glob("pages-*.img"))


def tar_of(ck: Path) -> Path:
    tar = ck.parent / f"{ck.name}.tar"
    if not tar.exists():
        subprocess.run(["tar", "-C", str(ck.parent), "-cf", str(tar), ck.name], check=True)
    return tar


def ensure_memhog() -> Path:
    """memhog as the lab built it (static, in the lab rootfs, so the same compiler and libc: its CFI and
    symbols match the checkpointed process); made once beside the inputs."""
    binary = WORK / "memhog"
    if not binary.exists():
        shutil.copy(REPO / "samples" / "lab" / "bench" / "memhog.c", WORK / "memhog.c")
        subprocess.run(["chroot", str(ROOTFS), "gcc", "-static", "-O2", "-o", inside_root(binary),
                        inside_root(WORK / "memhog.c")], check=True)
    return binary


def inside_root(path: Path) -> str:
    return "/" + str(path.relative_to(ROOTFS))


def bench(sizes: list[int], runs: int) -> list[dict]:
    inputs = ensure_inputs(sizes)
    rows: list[dict] = []

    def row(what: str, ours: Timing, ref: Timing, ref_name: str, target: float | None, note: str = "") -> None:
        ratio = ours.seconds / ref.seconds if ref.seconds else float("inf")
        rows.append({"what": what, "ours_s": ours.seconds, "ours_mib": ours.peak_mib, "ref": ref_name,
                     "ref_s": ref.seconds, "ref_mib": ref.peak_mib, "ratio": ratio, "target": target,
                     "met": None if target is None else ratio <= target and ours.peak_mib < 300, "note": note})
        print(f"  {what}: ours {ours.seconds:.3f}s {ours.peak_mib:.0f}MiB, {ref_name} {ref.seconds:.3f}s "
              f"-> ratio {ratio:.2f}", file=sys.stderr)

    for size in sizes:
        d = inputs[str(size)]
        ck1, ck2 = d / "ck1", d / "ck2"
        facts = json.loads((d / "facts.json").read_text())
        files = pages_files(ck1)
        ours = median(lambda: run([*FORENSICS, "memory", "grep", NEEDLE, str(ck1), "--count"]), runs)
        ref = median(lambda: run(["grep", "-c", "-a", "-F", NEEDLE, *files]), runs)
        ref_count = sum(int(line.rsplit(b":", 1)[-1]) for line in ref.output.split())
        got = int(ours.output)
        assert got == len(facts["needles"]), (got, len(facts["needles"]))
        row(f"memory grep, {size} MiB", ours, ref, "grep -c -a -F", 2.0,
            f"{got} matches (grep counts {ref_count} lines)")

        pattern = "CF-NEEDLE-[0-9]{10}"

        # In a process of its own: a child's peak RSS starts from its parent's high-water mark at fork,
        # so a reference that maps GiBs inside this process would inflate every later measurement.
        py_re = [sys.executable, "-c", PY_RE, pattern, *files]
        ours = median(lambda: run([*FORENSICS, "memory", "grep", "--regex", pattern, str(ck1), "--count"]), runs)
        ref = median(lambda: run(py_re), runs)
        row(f"memory grep --regex, {size} MiB", ours, ref, "Python re over the pages", 2.0)

        tar = tar_of(ck1)
        try:
            ours = median(lambda: run([*FORENSICS, "memory", "grep", NEEDLE, str(tar), "--count"]), runs)
            row(f"memory grep in a .tar, {size} MiB", ours,
                median(lambda: run(["grep", "-c", "-a", "-F", NEEDLE, *files]), runs), "grep -c -a -F (dir)", 2.0)
        except RuntimeError as e:
            rows.append({"what": f"memory grep in a .tar, {size} MiB", "note": f"not run: {str(e)[-200:]}"})

        ours = median(lambda: run([*FORENSICS, "diff", str(ck1), str(ck2), "--json"], discard=True), runs)
        ref = median(lambda: run(["cmp", "-l", pages_files(ck1)[0], pages_files(ck2)[0]], discard=True), runs)
        row(f"diff, {size} MiB, 10% of pages rewritten", ours, ref, "cmp -l pages files", 1.5)

        memhog = f"--binary=/tmp/memhog={ensure_memhog()}"
        core = WORK / "core.bench"
        copies = WORK / "cp.bench"

        def make_core() -> Timing:
            try:
                return run([*FORENSICS, "memory", "dump", str(ck1), "--pid", str(facts["pid"]), "--format",
                            "elf-core", "-o", str(core), memhog], discard=True)
            finally:
                core.unlink(missing_ok=True)

        def copy_pages() -> Timing:
            copies.mkdir(exist_ok=True)
            try:
                return run(["cp", *pages_files(ck1), str(copies)], discard=True)
            finally:
                shutil.rmtree(copies, ignore_errors=True)

        ours, ref = paired(make_core, copy_pages, runs)
        row(f"memory dump --format elf-core, {size} MiB process", ours, ref, "cp of the pages files", 1.0,
            "alternating runs")

        def write_only() -> Timing:
            # The writer alone, timed inside a process that has already started and imported: the
            # interpreter's start-up is a fixed cost that cp does not have.
            try:
                t = run([sys.executable, "-c", CORE_ONLY, str(ck1), str(facts["pid"]), str(core), str(ensure_memhog())])
                return Timing(float(t.output), t.peak_mib, b"")
            finally:
                core.unlink(missing_ok=True)

        ours, ref = paired(write_only, copy_pages, runs)
        row(f"ELF core writer alone (no start-up), {size} MiB process", ours, ref, "cp of the pages files", 1.0,
            "alternating runs")

        ours = median(lambda: run([*FORENSICS, "inspect", str(tar), "--json"], discard=True), runs)

        def untar() -> Timing:
            dest = WORK / "untar"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            try:
                return run(["tar", "-C", str(dest), "-xf", str(tar)], discard=True)
            finally:
                shutil.rmtree(dest, ignore_errors=True)

        ref = median(untar, runs)
        rows.append({"what": f"inspect of a {size} MiB .tar", "ours_s": ours.seconds, "ours_mib": ours.peak_mib,
                     "ref": "tar -xf (what reading it unpacked costs)", "ref_s": ref.seconds, "ref_mib": ref.peak_mib,
                     "ratio": ours.seconds / ref.seconds, "target": None,
                     "met": ours.seconds < 1.0 and ours.peak_mib < 300, "note": "target: under 1 s"})

    procs = inputs["procs"] / "ck1"
    ours = median(lambda: run([*FORENSICS, "inspect", str(procs), "--json"], discard=True), runs)
    inner = inside_root(procs)
    ps = median(lambda: run(["chroot", str(ROOTFS), "crit", "x", inner, "ps"], discard=True), runs)
    fds = median(lambda: run(["chroot", str(ROOTFS), "crit", "x", inner, "fds"], discard=True), runs)
    both = Timing(ps.seconds + fds.seconds, max(ps.peak_mib, fds.peak_mib), b"")
    row("inspect, 201 processes, 10,000 fds", ours, both, "crit x ps + crit x fds", 1.0)
    # The same inspect with the binary: every thread unwound with its CFI (and symbolized, and scanned).
    memhog = f"--binary=/tmp/memhog={ensure_memhog()}"
    ours, plain = paired(lambda: run([*FORENSICS, "inspect", str(procs), "--json", memhog], discard=True),
                         lambda: run([*FORENSICS, "inspect", str(procs), "--json"], discard=True), runs)
    row("inspect with CFI unwinding of all 201 threads", ours, plain, "the same inspect without the binary",
        None, f"crit x ps + crit x fds took {both.seconds:.2f} s; alternating runs")
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| what | ours (s) | ours peak (MiB) | reference | ref (s) | ratio | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "ours_s" not in r:
            lines.append(f"| {r['what']} | | | | | | | {r['note']} |")
            continue
        target = f"<= {r['target']}x" if r.get("target") else r.get("note", "")
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        lines.append(f"| {r['what']} | {r['ours_s']:.3f} | {r['ours_mib']:.0f} | {r['ref']} | {r['ref_s']:.3f} | "
                     f"{r['ratio']:.2f} | {target} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, "
            f"Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1024,4096")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root (the lab makes the checkpoints with CRIU)", file=sys.stderr)
        return 77
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = bench(sizes, args.runs)
    text = table(rows)
    print(text)
    if args.write:
        stamp = time.strftime("%Y-%m-%d")
        args.write.write_text(f"# Performance\n\nMeasured {stamp} on {machine()}, with `sudo .venv/bin/python "
                              f"bench/run.py --sizes {args.sizes} --runs {args.runs}`. Each row is the median of "
                              f"{args.runs} runs in one invocation; ratio = ours / reference.\n\n{text}\n")
    missed = [r["what"] for r in rows if r.get("met") is False]
    if missed:
        print(f"bench: targets missed (see the table): {'; '.join(missed)}", file=sys.stderr)
    # Green when everything was measured and every answer checked out; a missed target is a result.
    return 0


if __name__ == "__main__":
    sys.exit(main())
