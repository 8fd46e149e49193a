"""A long directory- and archive-level fuzzing campaign (the mutations of tests/hostile/mutate.py).

    .venv/bin/python fuzz/layouts.py --runs 20000 [--seed 1] [--kind dir|archive|both]

Each run applies one to three random mutations to a copy of the service checkpoint directory, or to the
members and bytes of the Podman export (compressed at random), then opens, loads and renders it with a
10 s alarm. A crash (anything but a result or a ForensicsError, an "internal error" in the loader's
errors, or a hang) prints its mutations, which replay exactly with the same `mutate_*` calls.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import forge, mutate
from tests.hostile.test_fuzz_layouts import PODMAN_TAR, decode
from tests.hostile.test_scale import within


def _muts(rng: random.Random, kinds: tuple[str, ...], spread: int) -> list[tuple[str, int, int]]:
    return [(rng.choice(kinds), rng.randrange(spread), rng.randrange(1000)) for _ in range(rng.randint(1, 3))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kind", choices=("dir", "archive", "both"), default="both")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    crashes = 0
    for n in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="cf-layouts-"))
        kind = args.kind if args.kind != "both" else rng.choice(("dir", "archive"))
        try:
            if kind == "dir":
                muts = _muts(rng, mutate.DIR_KINDS, 1000)
                target = forge.copy_service(work / "ck")
                for m in muts:
                    mutate.mutate_directory(target, *m)
                what = f"mutate_directory {muts}"
            else:
                muts = _muts(rng, mutate.ARCHIVE_KINDS, 1 << 20)
                how = rng.choice(mutate.COMPRESSIONS)
                target = mutate.mutate_archive(PODMAN_TAR, work / "cp.tar", muts, how)
                what = f"mutate_archive {muts} {how}"
            with within(10, what):
                decode(target)
        except Exception:  # noqa: BLE001 - a campaign reports every crash and goes on
            crashes += 1
            print(f"run {n}: CRASH {what}\n{traceback.format_exc(limit=4)}", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if n % 500 == 499:
            print(f"{n + 1} runs, {crashes} crashes", flush=True)
    print(f"{args.runs} runs, {crashes} crashes")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
