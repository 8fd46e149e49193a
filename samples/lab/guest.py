#!/usr/bin/env python3
"""The guest lab: checkpoints that need another kernel, made inside a qemu guest.

    guest.py run --out DIR [SCENARIO ...]    boot the guest, run the scenarios, unpack the results in DIR
    guest.py bundle DIR [--to samples]       copy a run's scenarios into samples/, merging index.json
    guest.py image                           only build (or check) the cached guest image

The host kernel has no CONFIG_MEM_SOFT_DIRTY, so CRIU cannot make incremental chains on it. The guest is
the lab's rootfs (lab.py builds it) plus a stock Debian kernel (linux-image-cloud-amd64: soft-dirty,
NVMe, virtio-blk and ext4 built in, no initrd), packed with `mkfs.ext4 -d` into an image cached under
$LAB_CACHE/../guest/amd64 (default /var/cache/checkpoint-forensics/guest/amd64) and reused. It boots under
qemu TCG (no KVM: none is needed, and -smp 1, since multi-threaded TCG oopsed the guest once), with the
root disk read-only for the guest (snapshot=on), the job (a tar of samples/lab and the scenario names) on
a virtio disk and the results (a tar of the guest's /out) written to a second one.
Exit codes: 0 all scenarios made, 1 a scenario or the boot failed, 77 not root (callers skip), 2 usage.
"""

from __future__ import annotations

import argparse
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import lab

GUEST = lab.CACHE.parent / "guest" / "amd64"
RESULTS_BYTES = 256 << 20
BOOT_TIMEOUT = 1800
# What the job carries: the lab's scripts the guest side imports, and the programs it builds.
JOB_FILES = ("inside.py", "truth.py", "service/service.c", "guest/inside_guest.py", "guest/chain.c")
RUN_SCRIPT = "#!/bin/sh\nexec python3 /job/lab/guest/inside_guest.py $(cat /job/scenarios)\n"


def build_image() -> Path:
    lab.build_rootfs()
    subprocess.run([str(HERE / "guest" / "build-guest.sh"), str(lab.ROOTFS), str(GUEST)], check=True)
    kernels = sorted((GUEST / "root" / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SystemExit(f"guest: no kernel in {GUEST / 'root' / 'boot'}")
    return kernels[-1]


def job_tar(scenarios: list[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for rel in JOB_FILES:
            add(f"lab/{rel}", (HERE / rel).read_bytes())
        add("run", RUN_SCRIPT.encode(), 0o755)
        add("scenarios", (" ".join(scenarios) + "\n").encode())
    data = buf.getvalue()
    return data + bytes(-len(data) % 512 or 0)


def boot(kernel: Path, work: Path, console: Path, timeout: float = BOOT_TIMEOUT) -> int:
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1", "-nographic",
           "-no-reboot", "-kernel", str(kernel),
           "-append", "console=ttyS0 root=/dev/nvme0n1 rootfstype=ext4 rw init=/cf-init panic=-1",
           "-drive", f"file={GUEST / 'root.img'},if=none,id=r,format=raw,snapshot=on",
           "-device", "nvme,drive=r,serial=r",
           "-drive", f"file={work / 'job.img'},if=virtio,format=raw,readonly=on",
           "-drive", f"file={work / 'results.img'},if=virtio,format=raw"]
    with open(console, "wb") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return 124


def image_current() -> Path | None:
    """The kernel, when the cached image is complete and newer than its init and its build stages."""
    img, kernels = GUEST / "root.img", sorted((GUEST / "root" / "boot").glob("vmlinuz-*"))
    if not img.is_file() or not kernels:
        return None
    newest = max((HERE / "guest" / "init").stat().st_mtime, (GUEST / ".stamp").stat().st_mtime)
    return kernels[-1] if img.stat().st_mtime > newest else None


def run_guest(out: Path, scenarios: list[str]) -> int:
    lab.CACHE.mkdir(parents=True, exist_ok=True)
    kernel = image_current()
    if kernel is None:
        # Built once, from the lab's rootfs: under the lab's lock, so no lab run changes it meanwhile.
        # Booting needs no lock: the guest sees the image read-only (snapshot=on), and a rebuild
        # replaces it by rename.
        with open(lab.CACHE / "lab.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            kernel = build_image()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        print(f"guest: {out} is not empty; give a new directory", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cf-guest-") as tmp:
        work = Path(tmp)
        (work / "job.img").write_bytes(job_tar(scenarios))
        with open(work / "results.img", "wb") as f:
            f.truncate(RESULTS_BYTES)
        t0 = time.time()
        rc = boot(kernel, work, out / "guest-console.log")
        seconds = time.time() - t0
        try:
            with tarfile.open(work / "results.img", mode="r:") as tar:
                tar.extractall(out, filter="data")
        except (tarfile.TarError, OSError) as e:
            print(f"guest: no results from the guest (qemu exit {rc}, {seconds:.0f} s): {e}; "
                  f"see {out / 'guest-console.log'}", file=sys.stderr)
            return 1
    meta = out / "lab.json"
    doc = json.loads(meta.read_text()) if meta.exists() else {"failed": [{"scenario": "*", "error": "no lab.json"}]}
    doc["guest"] = {"kernel": kernel.name, "seconds": round(seconds, 1), "qemu_exit": rc}
    meta.write_text(json.dumps(doc, indent=1) + "\n")
    guest_rc = (out / "rc").read_text().strip() if (out / "rc").exists() else "?"
    print(f"guest: {kernel.name}, {seconds:.0f} s, job exit {guest_rc}, failed {doc.get('failed')}", file=sys.stderr)
    return 0 if guest_rc == "0" and not doc.get("failed") else 1


# What a guest run adds to samples/: its scenarios and the binaries they ran (for symbols).
BUNDLED = ("criu-chain", "runc-chain", "podman-chain", "guest-bin")
# Checked, not copied: the guest builds the service exactly as the host lab does.
SAME_AS_HOST = ("service-bin/service",)


def bundle(src: Path, dest: Path) -> None:
    """Copy a complete guest run's scenarios into samples/ and merge its index entries into
    samples/index.json (replacing the entries of the same scenarios; the host lab's stay as they are)."""
    meta = src / "lab.json"
    if not (src / "index.json").exists() or not meta.exists() or json.loads(meta.read_text())["failed"]:
        raise SystemExit(f"guest: {src} is not a complete, successful guest run; nothing bundled")
    for rel in SAME_AS_HOST:
        if (src / rel).read_bytes() != (dest / rel).read_bytes():
            raise SystemExit(f"guest: {rel} built in the guest differs from {dest / rel}; rebundle the host lab first")
    for name in BUNDLED:
        if (dest / name).exists():
            shutil.rmtree(dest / name)
        if (src / name).exists():
            shutil.copytree(src / name, dest / name, symlinks=True)
    shutil.copy2(meta, dest / "guest-lab.json")
    new = json.loads((src / "index.json").read_text())
    scenarios = {e["scenario"] for e in new}
    index = [e for e in json.loads((dest / "index.json").read_text()) if e["scenario"] not in scenarios]
    (dest / "index.json").write_text(json.dumps(index + new, indent=1) + "\n")
    print(f"bundled {len(new)} guest checkpoints into {dest}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("scenarios", nargs="*")
    b = sub.add_parser("bundle")
    b.add_argument("src", type=Path)
    b.add_argument("--to", type=Path, default=HERE.parent)
    sub.add_parser("image")
    args = ap.parse_args()
    if args.cmd == "bundle":
        bundle(args.src, args.to)
        return 0
    if os.geteuid() != 0:
        print("guest: needs root (it builds a rootfs and a disk image)", file=sys.stderr)
        return 77
    if shutil.which("qemu-system-x86_64") is None:
        print("guest: qemu-system-x86_64 is not installed (Debian: qemu-system-x86)", file=sys.stderr)
        return 1
    if args.cmd == "image":
        print(build_image())
        return 0
    return run_guest(args.out, args.scenarios)


if __name__ == "__main__":
    sys.exit(main())
