#!/usr/bin/env python3
"""Benchmarks with same-run references: our commands against python -c pass, checkpointctl, grep,
ripgrep, cmp -l and tar.

    sudo .venv/bin/python bench/run.py [--sizes 1024,4096] [--runs 5] [--checkpointctl PATH]
                                       [--only startup,grep,regex,iocs,diff,core,procs] [--write docs/performance.md]

Inputs are made by the lab (samples/lab/lab.py, scenario `bench:MIB` and `bench:procs`) under the lab
rootfs (/var/cache/checkpoint-forensics/lab/rootfs/srv/cf-bench), once, and reused. Every row runs ours
and the reference alternately (ours, ref, ours, ref, ...: a machine that gets busier mid-row slows both)
and reports the median of --runs runs of each, with peak RSS from wait4. Answers are checked (hit counts
equal to the planted needles and to ripgrep's match count, process counts to the lab's) so a fast wrong
answer cannot pass. checkpointctl reads only container archives (config.dump, spec.dump beside the
images): directory checkpoints are wrapped for it as one (see `wrap`), and we read the same archive.
Rows that need checkpointctl are skipped without --checkpointctl, those that need ripgrep without `rg`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import string
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "samples" / "lab" / "lab.py"
ROOTFS = Path(os.environ.get("LAB_CACHE", "/var/cache/checkpoint-forensics/lab")) / "rootfs"
WORK = ROOTFS / "srv" / "cf-bench"
NEEDLE = "CF-NEEDLE-0123456789"
# The installed entry point, as a user runs it (python -m would add runpy's own imports).
FORENSICS = [str(Path(sys.executable).parent / "forensics")]
SAMPLES = REPO / "samples"
WRAP = Path(os.environ.get("BENCH_TMP", "/tmp")) / "cf-bench-wrapped"
EASY = "CF-NEEDLE-[0-9]{10}"
# Without a literal: rare in the random pages (base64, card numbers: a few hits from the process's own
# memory, or none) and common (printable runs: hundreds of thousands, which tests the cost per hit).
HARD = {"base64 runs of 40+": "[A-Za-z0-9+/]{40,}={0,2}",
        "card-like digit groups": "[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}",
        "printable runs of 8+": "[ -~]{8,}"}


@dataclass
class Timing:
    seconds: float
    peak_mib: float
    output: bytes


def run(cmd: list[str], discard: bool = False, env: dict[str, str] | None = None) -> Timing:
    """One run of a command, its wall time and peak resident memory (of the child, by wait4). With
    `discard` the output goes into a pipe that is drained and dropped, never to /dev/null: GNU cmp sees
    /dev/null and stops at the first difference, which would not be the work being compared."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env=None if env is None else {**os.environ, **env})
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
    # Exit 1 is "no match" for grep, rg and our memory grep, "differ" for cmp.
    if code not in (0, 1) or (code == 1 and not any(t in cmd[0] for t in ("grep", "cmp", "rg")) and "grep" not in cmd):
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.decode(errors='replace')[-500:]}")
    return Timing(seconds, usage.ru_maxrss / 1024, out)


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


def pair(ours: Callable[[], Timing], ref: Callable[[], Timing], runs: int) -> tuple[Timing, Timing]:
    """Both commands `runs` times, alternating; the median run of each (peak memory: the worst run)."""
    a: list[Timing] = []
    b: list[Timing] = []
    for _ in range(runs):
        a.append(ours())
        b.append(ref())
    return _median(a), _median(b)


def _median(results: list[Timing]) -> Timing:
    by_time = sorted(results, key=lambda t: t.seconds)
    mid = by_time[len(by_time) // 2]
    return Timing(statistics.median(t.seconds for t in results), max(t.peak_mib for t in results), mid.output)


def median(fn: Callable[[], Timing], runs: int) -> Timing:
    return _median([fn() for _ in range(runs)])


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
        # Under another name until complete: a run stopped mid-way must not leave a short tar to reuse.
        subprocess.run(["tar", "-C", str(ck.parent), "-cf", f"{tar}.part", ck.name], check=True)
        os.replace(f"{tar}.part", tar)
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


def wrap(images: Path, name: str) -> Path:
    """A CRIU image directory as a Podman-style container archive, the only input checkpointctl reads:
    the bundled Podman export's config.dump, spec.dump, network.status and stats-dump, and the images
    under checkpoint/. Made once under WRAP."""
    out = WRAP / f"{name}.tar"
    if out.exists():
        return out
    WRAP.mkdir(parents=True, exist_ok=True)
    meta = ("config.dump", "spec.dump", "network.status", "stats-dump")
    with tarfile.open(SAMPLES / "podman" / "checkpoint.tar") as src, tarfile.open(f"{out}.tmp", "w") as dst:
        for m in meta:
            info = src.getmember(m)
            dst.addfile(info, src.extractfile(info))
        dst.add(images, arcname="checkpoint")
    os.replace(f"{out}.tmp", out)
    return out


def ioc_list(n: int) -> Path:
    """n fixed strings: the planted needle, its first 15 bytes (so every needle is two hits, one inside the
    other) and n-2 random 16-40 character strings that are in no checkpoint's memory."""
    path = WRAP / f"iocs-{n}.txt"
    if not path.exists():
        WRAP.mkdir(parents=True, exist_ok=True)
        rnd = random.Random(16)
        alphabet = string.ascii_letters + string.digits + "-_./"
        lines = [NEEDLE, NEEDLE[:15]] + ["ioc-" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(12, 36)))
                                         for _ in range(n - 2)]
        path.write_text("\n".join(lines) + "\n")
    return path


def count_of(t: Timing) -> int:
    """A count printed by grep/rg -c (per file, "name:N" or "N") or by ours (--count): the sum."""
    return sum(int(line.rsplit(b":", 1)[-1]) for line in t.output.split())


class Bench:
    def __init__(self, runs: int, checkpointctl: Path | None, rg: str | None) -> None:
        self.runs = runs
        self.cctl = checkpointctl
        self.rg = rg
        self.hard: set[str] | None = None  # which HARD patterns run (None: all)
        self.rows: list[dict] = []

    def row(self, what: str, ours: Timing, ref: Timing, ref_name: str, target: float | None, note: str = "",
            command: str = "") -> None:
        ratio = ours.seconds / ref.seconds if ref.seconds else float("inf")
        self.rows.append({"what": what, "ours_s": ours.seconds, "ours_mib": ours.peak_mib, "ref": ref_name,
                          "ref_s": ref.seconds, "ref_mib": ref.peak_mib, "ratio": ratio, "target": target,
                          "met": None if target is None else ratio <= target and ours.peak_mib < 300,
                          "note": note, "command": command})
        print(f"  {what}: ours {ours.seconds:.3f}s {ours.peak_mib:.0f}MiB, {ref_name} {ref.seconds:.3f}s "
              f"-> ratio {ratio:.2f} {note}", file=sys.stderr)

    def skip(self, what: str, why: str) -> None:
        self.rows.append({"what": what, "note": f"not run: {why}"})
        print(f"  {what}: not run: {why}", file=sys.stderr)

    def compare(self, what: str, ours: list[str], ref: list[str], ref_name: str, target: float | None,
                check: Callable[[Timing, Timing], str] | None = None, discard: bool = False) -> None:
        o, r = pair(lambda: run(ours, discard), lambda: run(ref, discard), self.runs)
        note = check(o, r) if check else ""
        shown = " ".join(a if a != FORENSICS[0] else "forensics" for a in ours)
        self.row(what, o, r, ref_name, target, note, shown.replace(str(REPO) + "/", ""))

    # --- start-up and small checkpoints -------------------------------------------------------------

    def startup(self) -> None:
        def version(o: Timing, _r: Timing) -> str:
            assert o.output.startswith(b"forensics "), o.output
            return ""

        self.compare("forensics --version", [*FORENSICS, "--version"], [sys.executable, "-c", "pass"],
                     "python -c pass (same interpreter)", 2.0, version)
        if self.cctl is None:
            self.skip("inspect vs checkpointctl", "no --checkpointctl")
            return
        archives = [("podman export (.tar)", SAMPLES / "podman" / "checkpoint.tar"),
                    ("podman export (.tar.gz, zstd)", SAMPLES / "podman" / "checkpoint.tar.gz")]
        index = json.loads((SAMPLES / "index.json").read_text())
        for e in index:
            if e.get("images"):
                archives.append((f"{e['scenario']}/{e['name']} (wrapped)", wrap(SAMPLES / e["images"],
                                                                                f"{e['scenario']}-{e['name']}")))
        for label, archive in archives:
            for extra in ([], ["--all"]):
                def same_container(o: Timing, r: Timing) -> str:
                    # Both name the container by the id in config.dump.
                    assert b"fc36f8638816" in o.output and b"fc36f8638816" in r.output
                    return ""

                what = f"inspect {' '.join(extra) + ' ' if extra else ''}{label}"
                try:
                    self.compare(what, [*FORENSICS, "inspect", str(archive), *extra],
                                 [str(self.cctl), "inspect", *extra, str(archive)],
                                 f"checkpointctl inspect {' '.join(extra)}".strip(), 2.0, same_container)
                except RuntimeError as exc:
                    # e.g. a pre-dump has no pstree.img: checkpointctl --all refuses it.
                    if "checkpointctl" not in str(exc).split(" exited ")[0]:
                        raise
                    self.skip(what, f"checkpointctl fails on it ({str(exc).splitlines()[0][-160:]})")

    # --- memory search ------------------------------------------------------------------------------

    def grep(self, size: int, d: Path) -> None:
        ck1 = d / "ck1"
        needles = len(json.loads((d / "facts.json").read_text())["needles"])
        files = pages_files(ck1)
        target = 1.2 if size <= 1024 else 1.0

        def hits(want: int) -> Callable[[Timing, Timing], str]:
            def check(o: Timing, r: Timing) -> str:
                got = int(o.output)
                assert got == want, (got, want)
                return f"{got} hits (grep counts {count_of(r)} lines)"
            return check

        for label, target_path in (("", ck1), (" in a .tar", tar_of(ck1))):
            self.compare(f"memory grep{label}, {size} MiB", [*FORENSICS, "memory", "grep", NEEDLE,
                                                             str(target_path), "--count"],
                         ["grep", "-c", "-a", "-F", NEEDLE, *files], "grep -c -a -F (pages file)", target,
                         hits(needles))

    def iocs(self, size: int, d: Path) -> None:
        ck1 = d / "ck1"
        needles = len(json.loads((d / "facts.json").read_text())["needles"])
        lst = ioc_list(10_000)

        # The first use of a list compiles it (then it is loaded from the user's cache): timed once here,
        # with an empty cache directory.
        empty = WRAP / "empty-cache"
        shutil.rmtree(empty, ignore_errors=True)
        ours = [*FORENSICS, "memory", "grep", "--file", str(lst), str(ck1), "--count"]
        cold = run(ours, env={"XDG_CACHE_HOME": str(empty)})
        shutil.rmtree(empty, ignore_errors=True)

        def check(o: Timing, r: Timing) -> str:
            got = int(o.output)
            assert got == 2 * needles == int(cold.output), (got, 2 * needles)
            return (f"{got} hits = 2 x {needles} needles (grep counts {count_of(r)} lines); first use of the "
                    f"list (compiled, then cached): {cold.seconds:.3f}s")

        self.compare(f"memory grep --file (10,000 strings), {size} MiB",
                     [*FORENSICS, "memory", "grep", "--file", str(lst), str(ck1), "--count"],
                     ["grep", "-c", "-a", "-F", "-f", str(lst), *pages_files(ck1)], "grep -c -a -F -f", 1.5, check)

    def regex(self, size: int, d: Path, hard: bool) -> None:
        ck1 = d / "ck1"
        needles = len(json.loads((d / "facts.json").read_text())["needles"])
        files = pages_files(ck1)
        patterns = [("easy: " + EASY, EASY)] + ([(f"hard: {k}", v) for k, v in HARD.items()
                                                 if self.hard is None or k in self.hard] if hard else [])
        for label, pattern in patterns:
            ours = [*FORENSICS, "memory", "grep", "--regex", pattern, str(ck1), "--count"]
            want = needles
            if self.rg:
                # The answer to check: ripgrep's count of matches (not lines), one run, not timed.
                want = count_of(run([self.rg, "-a", "--count-matches", "--no-filename", pattern, *files]))
                if pattern == EASY:
                    assert want == needles, (want, needles)

            def check(o: Timing, _r: Timing, want: int = want, pattern: str = pattern) -> str:
                got = int(o.output)
                assert got == want, (pattern, got, want)
                return f"{got} hits = ripgrep's match count" if self.rg else f"{got} hits = needles"

            refs = [("grep -a -c -E", ["grep", "-a", "-c", "-E", pattern, *files])]
            if self.rg:
                refs.append(("rg -a -c", [self.rg, "-a", "-c", pattern, *files]))
            results = []
            for name, ref in refs:
                # GNU grep takes about a minute per GiB on the base64 pattern: one run is enough to show it.
                runs = 1 if ("grep" in name and "base64" in label) else self.runs
                o, r = pair(lambda ours=ours: run(ours), lambda ref=ref: run(ref), runs)
                results.append((name, o, r))
            best = min(results, key=lambda x: x[2].seconds)
            name, o, r = best
            others = "; ".join(f"{n} {rr.seconds:.3f}s" for n, _, rr in results if n != name)
            self.row(f"memory grep --regex ({label}), {size} MiB", o, r, f"{name} (the better one)", 1.5,
                     f"{check(o, r)}; {others}", " ".join(["forensics", *ours[1:]]))

    # --- diff and inspect of big checkpoints ----------------------------------------------------------

    def diff_and_tar(self, size: int, d: Path) -> None:
        ck1, ck2 = d / "ck1", d / "ck2"
        self.compare(f"diff --json, {size} MiB, 10% of pages rewritten",
                     [*FORENSICS, "diff", str(ck1), str(ck2), "--json"],
                     ["cmp", "-l", pages_files(ck1)[0], pages_files(ck2)[0]], "cmp -l pages files", 1.5,
                     discard=True)

        def same_changes(o: Timing, r: Timing) -> str:
            # The text shows the top rows of each section with a count of the rest; JSON has them all.
            doc = json.loads(r.output)
            assert o.output.strip() and doc, (len(o.output), len(r.output))
            return f"text {len(o.output)} bytes, JSON {len(r.output)} bytes"

        self.compare(f"diff (text) vs diff --json, {size} MiB", [*FORENSICS, "diff", str(ck1), str(ck2)],
                     [*FORENSICS, "diff", str(ck1), str(ck2), "--json"], "forensics diff --json", 1.2,
                     same_changes)
        tar = tar_of(ck1)
        ours = median(lambda: run([*FORENSICS, "inspect", str(tar), "--json"], discard=True), self.runs)

        def untar() -> Timing:
            dest = WORK / "untar"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            try:
                return run(["tar", "-C", str(dest), "-xf", str(tar)], discard=True)
            finally:
                shutil.rmtree(dest, ignore_errors=True)

        ref = median(untar, self.runs)
        self.rows.append({"what": f"inspect --json of a {size} MiB .tar", "ours_s": ours.seconds,
                          "ours_mib": ours.peak_mib, "ref": "tar -xf (what reading it unpacked costs)",
                          "ref_s": ref.seconds, "ref_mib": ref.peak_mib, "ratio": ours.seconds / ref.seconds,
                          "target": None, "met": ours.seconds < 1.0 and ours.peak_mib < 300,
                          "note": "target: under 1 s", "command": f"forensics inspect {tar.name} --json"})

    def procs(self, d: Path) -> None:
        if self.cctl is None:
            self.skip("inspect, 201 processes", "no --checkpointctl")
            return
        archive = wrap(d / "ck1", "bench-procs")

        def processes(o: Timing, _r: Timing) -> str:
            doc = json.loads(o.output)
            n = len(doc["processes"])
            assert n == 201, n
            return f"{n} processes"

        def text(o: Timing, _r: Timing) -> str:
            return ""

        self.compare("inspect --json, 201 processes, 10,000 fds", [*FORENSICS, "inspect", str(archive), "--json"],
                     [str(self.cctl), "inspect", "--all", str(archive)], "checkpointctl inspect --all", 0.7,
                     processes)
        self.compare("inspect --all (text), 201 processes, 10,000 fds",
                     [*FORENSICS, "inspect", str(archive), "--all"],
                     [str(self.cctl), "inspect", "--all", str(archive)], "checkpointctl inspect --all", 0.7,
                     text, discard=True)


    # --- the debugger's rows: ELF cores and CFI unwinding ------------------------------------------------

    def core(self, size: int, d: Path) -> None:
        ck1 = d / "ck1"
        facts = json.loads((d / "facts.json").read_text())
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

        ours, ref = pair(make_core, copy_pages, self.runs)
        self.row(f"memory dump --format elf-core, {size} MiB process", ours, ref, "cp of the pages files", 1.0,
                 "alternating runs")

        def write_only() -> Timing:
            # The writer alone, timed inside a process that has already started and imported: the
            # interpreter's start-up is a fixed cost that cp does not have.
            try:
                t = run([sys.executable, "-c", CORE_ONLY, str(ck1), str(facts["pid"]), str(core),
                         str(ensure_memhog())])
                return Timing(float(t.output), t.peak_mib, b"")
            finally:
                core.unlink(missing_ok=True)

        ours, ref = pair(write_only, copy_pages, self.runs)
        self.row(f"ELF core writer alone (no start-up), {size} MiB process", ours, ref, "cp of the pages files",
                 1.0, "alternating runs")

    def unwinding(self, d: Path) -> None:
        procs = d / "ck1"
        memhog = f"--binary=/tmp/memhog={ensure_memhog()}"
        ours, plain = pair(lambda: run([*FORENSICS, "inspect", str(procs), "--json", memhog], discard=True),
                           lambda: run([*FORENSICS, "inspect", str(procs), "--json"], discard=True), self.runs)
        self.row("inspect with CFI unwinding of all 201 threads", ours, plain, "the same inspect without the binary",
                 None, "alternating runs")


def table(rows: list[dict]) -> str:
    lines = ["| what | ours (s) | ours peak (MiB) | reference | ref (s) | ratio | target | met | checked |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "ours_s" not in r:
            lines.append(f"| {r['what']} | | | | | | | | {r['note']} |")
            continue
        target = f"<= {r['target']}x" if r.get("target") else r.get("note", "")
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        note = r.get("note", "") if r.get("target") else ""
        lines.append(f"| {r['what']} | {r['ours_s']:.3f} | {r['ours_mib']:.0f} | {r['ref']} | {r['ref_s']:.3f} | "
                     f"{r['ratio']:.2f} | {target} | {met} | {note} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, "
            f"Python {platform.python_version()}")


def commands(rows: list[dict]) -> str:
    return "\n".join(f"- {r['what']}: `{r['command']}`" for r in rows if r.get("command"))


GROUPS = ("startup", "grep", "regex", "iocs", "diff", "core", "procs")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1024,4096")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--checkpointctl", type=Path, help="a checkpointctl binary: the inspect rows compare with it")
    ap.add_argument("--hard-sizes", default="1024", help="sizes at which the regex rows without a literal run")
    ap.add_argument("--diff-sizes", default="1024", help="sizes at which diff and inspect-of-a-tar rows run "
                    "(cmp -l takes ~50 s at 4 GiB)")
    ap.add_argument("--only", default=",".join(GROUPS), help=f"a subset of {','.join(GROUPS)}")
    ap.add_argument("--hard", help=f"which regexes without a literal run (default all): a comma list of "
                    f"{'; '.join(HARD)}")
    ap.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root (the lab makes the checkpoints with CRIU)", file=sys.stderr)
        return 77
    only = set(args.only.split(","))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    hard_sizes = {int(s) for s in args.hard_sizes.split(",") if s}
    diff_sizes = {int(s) for s in args.diff_sizes.split(",") if s}
    # Set-up precompiles the package; a bench run after an edit must not time the compiler.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "forensics")], check=True)
    bench = Bench(args.runs, args.checkpointctl, shutil.which("rg"))
    if args.hard:
        bench.hard = set(args.hard.split(","))
        assert bench.hard <= set(HARD), f"--hard takes {', '.join(HARD)}"
    if "startup" in only:
        bench.startup()
    inputs = ensure_inputs(sizes)
    for size in sizes:
        d = inputs[str(size)]
        if "grep" in only:
            bench.grep(size, d)
        if "iocs" in only:
            bench.iocs(size, d)
        if "regex" in only:
            bench.regex(size, d, size in hard_sizes)
        if "diff" in only and size in diff_sizes:
            bench.diff_and_tar(size, d)
        if "core" in only:
            bench.core(size, d)
    if "procs" in only:
        bench.procs(inputs["procs"])
    if "core" in only:
        bench.unwinding(inputs["procs"])
    text = table(bench.rows)
    print(text)
    print(commands(bench.rows))
    if args.write:
        stamp = time.strftime("%Y-%m-%d")
        args.write.write_text(f"# Performance\n\nMeasured {stamp} on {machine()}, with `sudo .venv/bin/python "
                              f"bench/run.py --sizes {args.sizes} --runs {args.runs}`. Each row is the median of "
                              f"{args.runs} runs in one invocation; ratio = ours / reference.\n\n{text}\n\n"
                              f"{commands(bench.rows)}\n")
    missed = [r["what"] for r in bench.rows if r.get("met") is False]
    if missed:
        print(f"bench: targets missed (see the table): {'; '.join(missed)}", file=sys.stderr)
    # Green when everything was measured and every answer checked out; a missed target is a result.
    return 0


if __name__ == "__main__":
    sys.exit(main())
