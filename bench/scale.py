#!/usr/bin/env python3
"""Scale rows: huge tables made from the service sample with the project's own encoder
(tests/hostile/forge.py), timed against the lab's `crit decode` of the same image file.

    sudo .venv/bin/python bench/scale.py [--runs 3] [--cases vmas,fds,wide,deep] [--write FILE]

| row                        | input                                  | reference                         |
|----------------------------|----------------------------------------|-----------------------------------|
| 1,000,000 VMAs             | mm-1.img with a million VMAs (27 MB)   | crit decode -i mm-1.img           |
| 200,000 fds                | fdinfo-2.img with 200,000 entries      | crit decode -i fdinfo-2.img       |
| 100,000 processes (wide)   | pstree.img, all children of pid 1      | crit decode -i pstree.img         |
| 100,000 processes (deep)   | pstree.img, one ppid chain             | crit decode -i pstree.img         |

Ours is the whole `forensics inspect DIR --json` (open, decode every image, build the model, write the
document) and `inspect DIR --all` (the terminal report, tables capped at FORENSICS_MAX_ROWS); crit only
decodes the one image to JSON, so a ratio near 1 means the whole report costs what decoding that one
image costs. The inputs live under the lab rootfs (srv/cf-bench/scale) so the lab's crit reads them by
chroot. Ours and crit alternate; medians of --runs runs each, peak RSS by wait4 (bench/run.py's helpers).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import run as common  # bench/run.py

from tests.hostile import forge

SCALE = common.WORK / "scale"
CASES = [("1,000,000 VMAs", "vmas", "mm-1.img"), ("200,000 fds", "fds", "fdinfo-2.img"),
         ("100,000 processes, wide", "wide", "pstree.img"), ("100,000 processes, 100,000-deep chain", "deep",
                                                               "pstree.img")]


def make(name: str) -> Path:
    d = SCALE / name
    if (d / "inventory.img").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    d.parent.mkdir(parents=True, exist_ok=True)
    forge.copy_service(d)
    if name == "vmas":
        forge.scale_vmas(d, 1, 1_000_000)
    elif name == "fds":
        forge.scale_fds(d, 1, 200_000)
    else:
        forge.pstree(d, 100_000, deep=name == "deep")
    return d


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--cases", default=",".join(c[1] for c in CASES),
                    help="which rows, by name: " + ", ".join(c[1] for c in CASES))
    args = ap.parse_args()
    wanted = set(args.cases.split(","))
    rows: list[dict] = []
    for what, name, image in CASES:
        if name not in wanted:
            continue
        d = make(name)
        crit = ["chroot", str(common.ROOTFS), "crit", "decode", "-i", common.inside_root(d / image)]
        for flags, label in ((["--json"], "inspect --json"), (["--all"], "inspect --all")):
            cmd = [*common.FORENSICS, "inspect", str(d), *flags]
            # Alternating ours and crit, medians of each (bench/run.py's pair).
            ours, ref = common.pair(lambda: common.run(cmd, discard=True),  # noqa: B023
                                    lambda: common.run(crit, discard=True), args.runs)  # noqa: B023
            rows.append({"what": f"{label}, {what}", "ours_s": ours.seconds, "ours_mib": ours.peak_mib,
                         "ref": f"crit decode -i {image}", "ref_s": ref.seconds, "ref_mib": ref.peak_mib,
                         "ratio": ours.seconds / ref.seconds, "target": None, "met": None, "note": ""})
            print(f"  {rows[-1]['what']}: ours {ours.seconds:.2f}s {ours.peak_mib:.0f}MiB, crit {ref.seconds:.2f}s",
                  file=sys.stderr)
    text = common.table(rows)
    print(text)
    if args.write:
        args.write.write_text(f"# Scale\n\nMeasured {time.strftime('%Y-%m-%d')} on {common.machine()}, with "
                              f"`sudo .venv/bin/python bench/scale.py --runs {args.runs}`; ratio = ours / crit.\n\n"
                              f"{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
