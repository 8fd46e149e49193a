#!/usr/bin/env python3
"""The guest lab: checkpoints that need another kernel, made inside qemu guests.

    guest.py run --out DIR [SCENARIO ...]    boot the guests, run the scenarios, unpack the results in DIR
    guest.py bundle DIR [--to samples]       copy a run's scenarios into samples/, merging index.json
    guest.py image                           only build (or check) the cached guest images

The host kernel has no CONFIG_MEM_SOFT_DIRTY, so CRIU cannot make incremental chains on it, and CRIU 3.17
cannot dump on it at all; and it is x86-64. Three guests, each a disk image packed with `mkfs.ext4 -d` and
cached under $LAB_CACHE/../guest/<name> (default /var/cache/checkpoint-forensics/guest/), built once and
reused:
  amd64           the lab's rootfs (lab.py builds it) + Debian 13's linux-image-cloud-amd64 (6.12:
                  soft-dirty, NVMe and ext4 built in, so no initrd): incremental chains with CRIU 4.2.1,
                  runc and Podman;
  bookworm-amd64  Debian 12 minbase + its cloud kernel (6.1) and CRIU 3.17: checkpoints in 3.17's format;
  arm64           Debian 13 arm64 minbase (debootstrap through qemu-user) + its cloud kernel, CRIU 4.2.1,
                  gcc and runc, booted with qemu-system-aarch64 -M virt: checkpoints of arm64 processes.
Each boots under qemu TCG (no KVM: none is needed, and -smp 1, since multi-threaded TCG oopsed the guest
once), its root disk read-only for the guest (snapshot=on), the job (a tar of samples/lab and the scenario
names) on a virtio disk and the results (a tar of the guest's /out) written to a second one.
Exit codes: 0 all scenarios made, 1 a scenario or the boot failed, 77 not root (callers skip), 2 usage.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import lab

GUESTS_DIR = lab.CACHE.parent / "guest"
RESULTS_BYTES = 256 << 20
BOOT_TIMEOUT = 1800
# What the job carries: the lab's scripts the guest side imports, and the programs it builds.
JOB_FILES = ("inside.py", "truth.py", "service/service.c", "guest/inside_guest.py", "guest/chain.c")
RUN_SCRIPT = "#!/bin/sh\nexec python3 /job/lab/guest/inside_guest.py $(cat /job/scenarios)\n"
# The service, built by the trixie guest's gcc exactly as the host lab builds it (same compiler, flags,
# source path and working directory: the same bytes as samples/service-bin/service), for guests without
# gcc.
SERVICE_BUILD = ("gcc", "-static", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-Wall", "-Wextra",
                 "-o", "/tmp/cf-service", "/lab/service/service.c")


@dataclass(frozen=True)
class Guest:
    """One guest: where its image is cached, how it is built, which scenarios run in it."""

    name: str
    scenarios: tuple[str, ...]
    needs_service_binary: bool = False
    arch: str = "x86_64"

    @property
    def dir(self) -> Path:
        return GUESTS_DIR / self.name

    def build(self) -> None:
        if self.name == "amd64":
            lab.build_rootfs()
            cmd = [str(self.script), str(lab.ROOTFS), str(self.dir)]
        else:
            cmd = [str(self.script), str(self.dir)]
        subprocess.run(cmd, check=True)

    def kernel(self) -> Path | None:
        kernels = sorted((self.dir / "root" / "boot").glob("vmlinuz-*"))
        return kernels[-1] if kernels else None

    @property
    def script(self) -> Path:
        scripts = {"amd64": "build-guest.sh", "arm64": "build-arm64.sh"}
        return HERE / "guest" / scripts.get(self.name, "build-bookworm.sh")

    def current(self) -> bool:
        """The cached image is complete (every stage its build script names is stamped: a stage added
        later is built then) and newer than its init and its build stages."""
        img = self.dir / "root.img"
        if not img.is_file() or self.kernel() is None or not (self.dir / ".stamp").exists():
            return False
        stages = set(re.findall(r"stage_done ([\w.-]+);", self.script.read_text()))
        if not stages <= set((self.dir / ".stamp").read_text().split()):
            return False
        newest = max((HERE / "guest" / "init").stat().st_mtime, (self.dir / ".stamp").stat().st_mtime)
        return img.stat().st_mtime > newest


# amd64: the lab's trixie rootfs + Debian 13's cloud kernel (6.12, soft-dirty): CRIU 4.2.1, runc, Podman.
# bookworm-amd64: Debian 12 minbase + its cloud kernel (6.1) and CRIU 3.17.
# arm64: Debian 13 arm64 minbase + its cloud kernel, CRIU 4.2 from sid and gcc, under qemu-system-aarch64.
GUESTS = (Guest("amd64", ("criu-chain", "runc-chain", "podman-chain")),
          Guest("bookworm-amd64", ("criu-3.17",), needs_service_binary=True),
          Guest("arm64", ("arm64",), arch="aarch64"))


def ensure_image(guest: Guest) -> Path:
    if not guest.current():
        # Built once, under a lock: the lab's for the amd64 guest (it copies the lab's rootfs, which no lab
        # run may change meanwhile), the guest's own otherwise. Booting needs no lock: the guest sees the
        # image read-only (snapshot=on), and a rebuild replaces it by rename.
        lab.CACHE.mkdir(parents=True, exist_ok=True)
        GUESTS_DIR.mkdir(parents=True, exist_ok=True)
        lockfile = lab.CACHE / "lab.lock" if guest.name == "amd64" else GUESTS_DIR / f"{guest.name}.lock"
        with open(lockfile, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            guest.build()
    kernel = guest.kernel()
    if kernel is None:
        raise SystemExit(f"guest: no kernel in {guest.dir / 'root' / 'boot'}")
    return kernel


def service_binary() -> bytes:
    """The lab's service built with the amd64 guest's own gcc in a chroot of its (private) root."""
    root = ensure_image(GUESTS[0]).parent.parent
    src = root / "lab" / "service"
    src.mkdir(parents=True, exist_ok=True)
    shutil.copy2(HERE / "service" / "service.c", src / "service.c")
    try:
        subprocess.run(["chroot", str(root), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "sh", "-c",
                        "cd / && " + " ".join(SERVICE_BUILD)], check=True)
        return (root / "tmp" / "cf-service").read_bytes()
    finally:  # the tree is the next image's content: leave nothing behind
        shutil.rmtree(root / "lab", ignore_errors=True)
        (root / "tmp" / "cf-service").unlink(missing_ok=True)


def job_tar(scenarios: list[str], service: bytes | None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for rel in JOB_FILES:
            add(f"lab/{rel}", (HERE / rel).read_bytes())
        if service is not None:
            add("bin/service", service, 0o755)
        add("run", RUN_SCRIPT.encode(), 0o755)
        add("scenarios", (" ".join(scenarios) + "\n").encode())
    data = buf.getvalue()
    return data + bytes(-len(data) % 512 or 0)


# The machine each architecture's guest boots on. arm64: qemu's `virt` board (no firmware: -kernel boots
# the Image directly, the device tree comes from qemu). Its CPU: `max` (SVE, pointer authentication; CRIU
# 4.2.1 dumps with all of it, and its cores then hold the PAC keys), with qemu's cheap PAC hash instead of
# QARMA5, which made a run about twice as fast under TCG (docs/lab.md).
ARM64_CPU = "max,pauth-impdef=on"
MACHINE = {
    "x86_64": ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max"],
    "aarch64": ["qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", ARM64_CPU],
}
CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}
QEMU_PACKAGE = {"x86_64": "qemu-system-x86", "aarch64": "qemu-system-arm"}


def boot(guest: Guest, kernel: Path, work: Path, console: Path, timeout: float = BOOT_TIMEOUT) -> int:
    # The job and results disks come first, so they are vda and vdb whatever the root disk is (NVMe).
    append = f"console={CONSOLE[guest.arch]} root=/dev/nvme0n1 rootfstype=ext4 rw init=/cf-init panic=-1"
    cmd = [*MACHINE[guest.arch], "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-kernel", str(kernel),
           "-append", append,
           "-drive", f"file={guest.dir / 'root.img'},if=none,id=r,format=raw,snapshot=on",
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


def run_one(guest: Guest, out: Path, scenarios: list[str]) -> dict:
    """Boot one guest with its scenarios; its /out lands in `out`. Returns its lab.json."""
    kernel = ensure_image(guest)
    service = service_binary() if guest.needs_service_binary else None
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="cf-guest-") as tmp:
        work = Path(tmp)
        (work / "job.img").write_bytes(job_tar(scenarios, service))
        with open(work / "results.img", "wb") as f:
            f.truncate(RESULTS_BYTES)
        t0 = time.time()
        rc = boot(guest, kernel, work, out / "guest-console.log")
        seconds = time.time() - t0
        try:
            with tarfile.open(work / "results.img", mode="r:") as tar:
                tar.extractall(out, filter="data")
        except (tarfile.TarError, OSError) as e:
            return {"failed": [{"scenario": "*", "error": f"no results from the {guest.name} guest (qemu exit "
                                f"{rc}, {seconds:.0f} s): {e}; see {out / 'guest-console.log'}"}]}
    meta = out / "lab.json"
    doc = json.loads(meta.read_text()) if meta.exists() else {"failed": [{"scenario": "*", "error": "no lab.json"}]}
    guest_rc = (out / "rc").read_text().strip() if (out / "rc").exists() else "?"
    doc["guest"] = {"name": guest.name, "kernel": kernel.name, "seconds": round(seconds, 1), "qemu_exit": rc,
                    "job_exit": guest_rc, "machine": " ".join(MACHINE[guest.arch])}
    if service is not None:
        doc["guest"]["service_sha256"] = hashlib.sha256(service).hexdigest()
    if guest_rc != "0" and not doc.get("failed"):
        doc["failed"] = [{"scenario": "*", "error": f"guest job exited {guest_rc}"}]
    print(f"guest {guest.name}: {kernel.name}, {seconds:.0f} s, job exit {guest_rc}, failed {doc.get('failed')}",
          file=sys.stderr)
    return doc


def run_guest(out: Path, scenarios: list[str]) -> int:
    """Every guest that has a wanted scenario (default: all), one after the other; their scenario
    directories, index.json and lab.json merged into `out` (each guest's own files under guests/)."""
    known = [s for g in GUESTS for s in g.scenarios]
    unknown = [s for s in scenarios if s not in known]
    if unknown:
        print(f"guest: unknown scenario(s) {unknown}; known: {known}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        print(f"guest: {out} is not empty; give a new directory", file=sys.stderr)
        return 2
    index: list[dict] = []
    runs: dict[str, dict] = {}
    for guest in GUESTS:
        wanted = [s for s in guest.scenarios if not scenarios or s in scenarios]
        if not wanted:
            continue
        own = out / "guests" / guest.name
        runs[guest.name] = run_one(guest, own, wanted)
        for child in list(own.iterdir()) if own.is_dir() else []:
            if child.is_dir() and child.name not in ("guests",):
                shutil.move(str(child), out / child.name)
        if (own / "index.json").exists():
            index += json.loads((own / "index.json").read_text())
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    failed = [f for doc in runs.values() for f in doc.get("failed", [])]
    (out / "lab.json").write_text(json.dumps({"guests": runs, "failed": failed}, indent=1) + "\n")
    return 1 if failed else 0


# What a guest run adds to samples/: its scenarios and the binaries they ran (for symbols).
BUNDLED = ("criu-chain", "runc-chain", "podman-chain", "criu-3.17", "arm64", "guest-bin")
# Checked, not copied: the guest builds the service exactly as the host lab does.
SAME_AS_HOST = ("service-bin/service",)


def bundle(src: Path, dest: Path) -> None:
    """Copy a complete guest run's scenarios into samples/ and merge its index entries into
    samples/index.json (replacing the entries of the same scenarios; the host lab's stay as they are)."""
    meta = src / "lab.json"
    if not (src / "index.json").exists() or not meta.exists() or json.loads(meta.read_text())["failed"]:
        raise SystemExit(f"guest: {src} is not a complete, successful guest run; nothing bundled")
    for name, doc in json.loads(meta.read_text()).get("guests", {}).items():
        digest = doc.get("guest", {}).get("service_sha256")
        host = hashlib.sha256((dest / "service-bin" / "service").read_bytes()).hexdigest()
        if digest is not None and digest != host:
            raise SystemExit(f"guest: the service binary the {name} guest ran differs from samples/service-bin")
    for rel in SAME_AS_HOST:
        if (src / rel).exists() and (src / rel).read_bytes() != (dest / rel).read_bytes():
            raise SystemExit(f"guest: {rel} built in the guest differs from {dest / rel}; rebundle the host lab first")
    for name in BUNDLED:
        if (src / name).exists():
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            shutil.copytree(src / name, dest / name, symlinks=True)
    kept = dest / "guest-lab.json"
    guests = json.loads(kept.read_text()).get("guests", {}) if kept.exists() else {}
    guests.update(json.loads(meta.read_text()).get("guests", {}))
    kept.write_text(json.dumps({"guests": guests}, indent=1) + "\n")
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
    wanted = [g for g in GUESTS if args.cmd == "image" or not args.scenarios
              or set(g.scenarios) & set(args.scenarios)]
    for g in wanted:
        qemu = MACHINE[g.arch][0]
        if shutil.which(qemu) is None:
            print(f"guest: {qemu} is not installed (Debian: {QEMU_PACKAGE[g.arch]})", file=sys.stderr)
            return 1
    if args.cmd == "image":
        for guest in wanted:
            print(ensure_image(guest))
        return 0
    return run_guest(args.out, args.scenarios)


if __name__ == "__main__":
    sys.exit(main())
