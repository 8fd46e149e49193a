#!/usr/bin/env python3
"""The lab: real Docker + CRIU checkpoints, made fresh on this machine.

    lab.py run --out DIR [SCENARIO ...]     make checkpoints + ground truth + crit reference in DIR
    lab.py bundle DIR [--to samples]        copy a run into the repository's samples/ (small, committed)
    lab.py rootfs                           only build (or check) the cached rootfs

Needs root and Debian's package registries (the first run builds a rootfs of about 1 GiB under the cache
directory, $LAB_CACHE or /var/cache/checkpoint-forensics/lab, and reuses it afterwards). The scenarios run
in a private mount namespace entered with pivot_root (enter.sh); the daemons and containers they start are
stopped by pid inside (inside.py), and the namespace with all its mounts goes away with its last process.
Exit codes: 0 all scenarios made, 1 a scenario failed, 77 not root (callers skip), 2 usage.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("LAB_CACHE", "/var/cache/checkpoint-forensics/lab"))
ROOTFS = CACHE / "rootfs"
# What the bundled copy leaves out: daemon logs are large and say nothing about the checkpoints.
NOT_BUNDLED = {"daemon-logs"}
# Scenarios made and checked on every fresh run but not bundled: an interpreter binary and its heap are
# 12 MiB each, and samples/ stays under 20 MiB.
FRESH_ONLY = {"python", "python311"}


def build_rootfs() -> None:
    subprocess.run([str(HERE / "build-rootfs.sh"), str(ROOTFS)], check=True)


def host_mounts_mentioning(path: Path) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line for line in f if str(path) in line]


def stop_leftovers() -> list[int]:
    """Processes still running inside the lab's rootfs from a run that was killed (a dockerd holding
    /var/lib/docker makes every later run fail). Called with the lab lock held, so none of them belongs
    to a live run."""
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            # After pivot_root /proc/PID/root reads "/": the first mount says which tree is its root.
            first = (proc / "mountinfo").read_text().split("\n", 1)[0].split()
        except (OSError, IndexError):
            continue
        if len(first) > 4 and first[3] == str(ROOTFS) and first[4] == "/":
            try:
                os.kill(int(proc.name), 9)
                killed.append(int(proc.name))
            except OSError:
                pass
    return killed


def run_lab(out: Path, scenarios: list[str]) -> int:
    # One lab at a time: two dockerds (and CRIUs) on the same rootfs would share /var/lib/docker and
    # /var/lib/containerd and break each other. A second caller waits for the first.
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = open(CACHE / "lab.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    left = stop_leftovers()
    if left:
        print(f"lab: stopped {len(left)} processes left in the rootfs by an earlier run that was killed",
              file=sys.stderr)
    build_rootfs()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        print(f"lab: {out} is not empty; give a new directory", file=sys.stderr)
        return 2
    cmd = ["unshare", "--mount", "--propagation", "private", str(HERE / "enter.sh"), str(ROOTFS),
           str(HERE), str(out.resolve()), "python3", "/lab/inside.py", *scenarios]
    rc = subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode
    leaked = host_mounts_mentioning(ROOTFS)
    if leaked:
        print("lab: mounts leaked into the host namespace:\n" + "".join(leaked), file=sys.stderr)
        return 1
    return rc


def bundle(src: Path, dest: Path) -> None:
    """Replace the lab-made parts of samples/ with a run's output, keeping samples/lab and the README.
    Only a complete run (index.json written, no scenario failed) is bundled."""
    lab = src / "lab.json"
    if not (src / "index.json").exists() or not lab.exists() or json.loads(lab.read_text())["failed"]:
        raise SystemExit(f"lab: {src} is not a complete, successful lab run; nothing bundled")
    for child in dest.iterdir():
        if child.name not in ("lab", "README.md"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for child in src.iterdir():
        if child.name in NOT_BUNDLED | FRESH_ONLY:
            continue
        target = dest / child.name
        if child.is_dir() and not child.is_symlink():
            shutil.copytree(child, target, symlinks=True)
        else:
            shutil.copy2(child, target, follow_symlinks=False)
    index = [e for e in json.loads((dest / "index.json").read_text()) if e["scenario"] not in FRESH_ONLY]
    (dest / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"bundled {len(index)} checkpoints into {dest}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("scenarios", nargs="*")
    b = sub.add_parser("bundle")
    b.add_argument("src", type=Path)
    b.add_argument("--to", type=Path, default=HERE.parent)
    sub.add_parser("rootfs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("lab: needs root (it builds a rootfs and runs dockerd and CRIU)", file=sys.stderr)
        return 77
    if args.cmd == "rootfs":
        build_rootfs()
        return 0
    if args.cmd == "bundle":
        bundle(args.src, args.to)
        return 0
    return run_lab(args.out, args.scenarios)


if __name__ == "__main__":
    sys.exit(main())
