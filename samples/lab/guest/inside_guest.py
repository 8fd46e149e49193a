"""The guest lab's scenarios, run inside the qemu guest (a kernel with soft-dirty tracking).

Incremental chains, made the three ways they are made in the field, each restored afterwards so the
ground truth is what the restored process really holds:
  criu-chain    plain `criu pre-dump` -> `criu pre-dump --prev-images-dir ../pre1` -> `criu dump
                --prev-images-dir ../pre2 --track-mem` of the chain program (chain.c)
  runc-chain    `runc checkpoint --pre-dump` then `runc checkpoint --parent-path ../pre1` of the lab's
                service in a runc container
  podman-chain  `podman container checkpoint --pre-checkpoint --export` then `--with-previous --export`
                of the chain program in a Podman container, restored with --import-previous
Truth per checkpoint: /proc around it (truth.capture), and after the restore the restored memory
(`restored`: per process, every readable mapping's non-zero pages as hashes, and every CF- marker with its
address). Standard library only; runs with the guest rootfs's python3 as a child of the guest's init.

and, in the bookworm guest (Debian 12, CRIU 3.17):
  criu-3.17     plain `criu dump --leave-running` of the service and of the seed's busybox counter
and, in the arm64 guest (Debian 13 arm64, CRIU 4.2 from sid):
  arm64         the same two dumps, of the service built by the guest's gcc and of busybox's counter, and
                `runc checkpoint --leave-running` of that service in a runc container

Usage: inside_guest.py [SCENARIO ...]
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(LAB))
import inside
import truth

OUT = inside.OUT
INDEX: list[dict] = inside.INDEX
run, log = inside.run, inside.log
PAGE = os.sysconf("SC_PAGE_SIZE")
MARKER = re.compile(rb"CF-[A-Za-z0-9_-]{3,80}")
PODMAN = ("podman", "--runtime", "runc", "--root", "/var/tmp/cf-podman/root", "--runroot", "/run/cf-podman",
          "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file")
CHAIN_BIN = Path("/tmp/cf-bin/chain")
SERVICE_BIN = Path("/tmp/cf-bin/service")


def build_programs() -> None:
    """The service exactly as the host lab builds it (same compiler, flags, source path /lab/..., working
    directory /), so it is the same binary as samples/service-bin/service; and the chain program."""
    if not Path("/lab").exists():
        os.symlink(LAB, "/lab")
    elif Path("/lab").resolve() != LAB:
        run("mount", "--bind", str(LAB), "/lab")
    CHAIN_BIN.parent.mkdir(parents=True, exist_ok=True)
    run("gcc", "-static", "-O1", "-g", "-Wall", "-Wextra", "-o", str(CHAIN_BIN), "/lab/guest/chain.c", timeout=600)
    run("gcc", "-static", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-Wall", "-Wextra",
        "-o", str(SERVICE_BIN), "/lab/service/service.c", timeout=600)
    for b, keep in ((CHAIN_BIN, OUT / "guest-bin"), (SERVICE_BIN, OUT / "service-bin")):
        keep.mkdir(exist_ok=True)
        shutil.copy2(b, keep / b.name)


CRIT_ALL = r"""
import json, sys, traceback
from pathlib import Path
import pycriu
src, dest = Path(sys.argv[1]), Path(sys.argv[2])
for img in sorted(src.iterdir()):
    if not img.is_file() or img.is_symlink():
        continue
    try:
        with open(img, "rb") as f:
            doc = pycriu.images.load(f, False, False)
    except pycriu.images.MagicException as exc:
        (dest / (img.name + ".error")).write_text("Unknown magic %#x.\nMaybe you are feeding me an image with "
                                                  "raw data(i.e. pages.img)?\n" % exc.magic)
        continue
    except Exception:
        (dest / (img.name + ".error")).write_text(traceback.format_exc().strip()[-2000:] + "\n")
        continue
    with open(dest / (img.name + ".json"), "w") as out:
        json.dump(doc, out)
        out.write("\n")
"""


def crit_reference(images: Path, dest: Path) -> None:
    """What `crit decode -i IMG` writes for each image (crit's own decode: pycriu.images.load, then
    json.dump), in one python3 for the whole directory: under TCG a crit start-up costs two seconds."""
    dest.mkdir(parents=True, exist_ok=True)
    run("python3", "-c", CRIT_ALL, str(images), str(dest), timeout=600)


def restored_memory(host_pid: int) -> dict:
    """What a live (restored) process holds: for each readable mapping, the sha256 (16 hex digits) of every
    page that is not all zeros, and every CF- marker with its address."""
    maps, markers = [], []
    zero = bytes(PAGE)
    with open(f"/proc/{host_pid}/mem", "rb", buffering=0) as mem:
        for line in Path(f"/proc/{host_pid}/maps").read_text().splitlines():
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms, path = parts[1], parts[5] if len(parts) > 5 else ""
            if perms[0] != "r" or path in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            pages = {}
            for addr in range(lo, hi, PAGE):
                try:
                    mem.seek(addr)
                    data = mem.read(PAGE)
                except OSError:
                    continue
                if data != zero:
                    pages[f"{addr:x}"] = hashlib.sha256(data).hexdigest()[:16]
                    for m in MARKER.finditer(data):
                        markers.append({"address": addr + m.start(), "text": m.group().decode()})
            maps.append({"start": lo, "end": hi, "perms": perms, "path": path, "pages": pages})
    return {"maps": maps, "markers": markers}


def restored_tree(init_host_pid: int) -> dict:
    pids = truth.container_pids(init_host_pid)
    out = {}
    for pid in pids:
        ns_pid = int(truth._status(truth._read(f"/proc/{pid}/status"))["NSpid"].split()[-1])
        out[str(ns_pid)] = restored_memory(pid)
    return out


CONTROL = (f"import socket,sys;s=socket.create_connection(('127.0.0.1',{inside.SERVICE_PORT}),5);"
           "s.sendall(sys.argv[1].encode()+b'\\n');print(s.makefile().readline(),end='')")


def wait_file(path: Path, text: str, timeout: float = 60) -> None:
    inside.wait_for(lambda: path.exists() and path.read_text().strip() == text, f"{path} to say {text}", timeout)


def record(sc: str, name: str, images: Path | None, doc: dict, **extra) -> None:
    truth_path = OUT / sc / "truth" / f"{name}.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    entry = {"scenario": sc, "name": name, "images": str(images.relative_to(OUT)) if images else None,
             "truth": str(truth_path.relative_to(OUT))}
    if images is not None:
        crit_dir = OUT / sc / "crit" / name
        crit_reference(images, crit_dir)
        entry["crit"] = str(crit_dir.relative_to(OUT))
    entry.update(extra)
    INDEX.append(entry)


def finish_truth(sc: str, docs: dict[str, dict], restored: dict, **extra_by_name) -> None:
    for name, doc in docs.items():
        doc["restored"] = restored
        record(sc, name, doc.pop("_images", None), doc, **extra_by_name.get(name, {}))


# ---------------------------------------------------------------- criu-chain

def scenario_criu_chain() -> None:
    sc, tag = "criu-chain", "c7e1"
    out = OUT / sc
    work = Path("/tmp/cf-chain")
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(CHAIN_BIN), str(work), tag], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    inside.DAEMONS.pids.append(proc.pid)
    wait_file(work / "chain.step", "0")
    facts = json.loads((work / "chain.json").read_text())
    levels = [("pre1", "pre-dump", None), ("pre2", "pre-dump", "../pre1"), ("dump", "dump", "../pre2")]
    docs: dict[str, dict] = {}
    for i, (name, action, parent) in enumerate(levels):
        dest = out / name
        dest.mkdir(parents=True)
        before = truth.capture(proc.pid)
        args = ["criu", action, "-t", str(proc.pid), "-D", str(dest), "-o", f"{action}.log", "-v4", "--track-mem"]
        if parent:
            args += ["--prev-images-dir", parent]
        t0 = time.time()
        run(*args)
        t1 = time.time()
        after = truth.capture(proc.pid) if action == "pre-dump" else None
        docs[name] = {"scenario": sc, "checkpoint": name, "engine": "criu", "action": action, "parent": parent,
                      "taken_at": (t0 + t1) / 2, "before": before, "after": after, "facts": facts, "step": i,
                      "tag": tag, "_images": dest}
        if action == "pre-dump":
            os.kill(proc.pid, 10)
            wait_file(work / "chain.step", str(i + 1))
    proc.wait(timeout=30)  # the final dump (no --leave-running) ended it
    restored = restore_criu(out / "dump", "criu-chain")
    finish_truth(sc, docs, restored, **{n: {"engine": "criu", "action": a, "parent": p and p[3:],
                                            "binary": "guest-bin/chain"} for n, a, p in levels})


def restore_criu(images: Path, what: str) -> dict:
    work = Path(f"/tmp/cf-restore-{what}")
    work.mkdir(parents=True, exist_ok=True)
    run("criu", "restore", "-D", str(images), "-W", str(work), "-o", "restore.log", "-v4", "--restore-detached",
        "--pidfile", str(work / "pid"))
    pid = int((work / "pid").read_text())
    try:
        return {"how": f"criu restore -D {images.name}", "pid": pid, "memory": restored_tree(pid)}
    finally:
        inside._stop_pid(pid)


# ---------------------------------------------------------------- runc-chain

def bundle(path: Path, args: list[str], env: list[str]) -> None:
    inside.busybox_rootfs(path / "rootfs")
    shutil.copy2(SERVICE_BIN, path / "rootfs/usr/local/bin/service")
    shutil.copy2(CHAIN_BIN, path / "rootfs/usr/local/bin/chain")
    run("runc", "spec", "--bundle", str(path))
    spec = json.loads((path / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    spec["process"]["env"] += env
    spec["root"]["readonly"] = False
    spec["hostname"] = "cf-guest"
    (path / "config.json").write_text(json.dumps(spec, indent=1))


def runc_detached(*args: str) -> None:
    """runc with its stdio on /dev/null: in the guest, inherited pipes make CRIU fail ("Can't lookup
    mount") on the container's stdio."""
    log("$ " + " ".join(args))
    with open("/dev/null", "r+b") as null:
        p = subprocess.run(args, stdin=null, stdout=null, stderr=null, timeout=300, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({p.returncode})")


def runc_pid(name: str) -> int:
    return int(json.loads(run("runc", "state", name).stdout)["pid"])


def scenario_runc_chain() -> None:
    sc, name = "runc-chain", "svc-chain"
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    b = Path("/tmp/cf-bundle-svc")
    bundle(b, ["/usr/local/bin/service", "--port", str(inside.SERVICE_PORT), "--dir", "/tmp"],
           [f"SERVICE_TOKEN={inside.SERVICE_TOKEN}"])
    runc_detached("runc", "run", "-d", "--bundle", str(b), name)
    pid = runc_pid(name)
    probe = f"import socket;socket.create_connection(('127.0.0.1',{inside.SERVICE_PORT}),2)"
    inside.wait_for(lambda: run("nsenter", "-t", str(pid), "-n", "python3", "-c", probe,
                                check=False).returncode == 0, "the service")
    startup = json.loads(inside.control(pid, "state"))
    plan = [("pre1", ["add 4", "shared 5"], ["--pre-dump"]), ("dump", ["add 1006", "shared 3"],
                                                             ["--parent-path", "../pre1"])]
    docs: dict[str, dict] = {}
    for name_, cmds, opts in plan:
        replies = [inside.control(pid, c) for c in cmds]
        state = json.loads(inside.control(pid, "state"))
        dest = out / name_
        work = Path("/tmp/cf-runc-work") / name_
        work.mkdir(parents=True, exist_ok=True)
        before = truth.capture(pid)
        t0 = time.time()
        runc_detached("runc", "checkpoint", "--image-path", str(dest), "--work-path", str(work), *opts, name)
        t1 = time.time()
        after = truth.capture(pid) if "--pre-dump" in opts else None
        shutil.copy2(work / "dump.log", out / f"{name_}.dump.log")
        docs[name_] = {"scenario": sc, "checkpoint": name_, "engine": "runc", "container": name,
                       "taken_at": (t0 + t1) / 2, "before": before, "after": after, "startup": startup,
                       "service_state": state, "control_replies": replies, "options": opts,
                       "service_token": inside.SERVICE_TOKEN, "heap_secret": "CF-HEAP-SECRET-5f2a9c71d3e84b06",
                       "_images": dest}
    run("runc", "delete", "-f", name, check=False)
    runc_detached("runc", "restore", "-d", "--image-path", str(out / "dump"), "--work-path",
                  "/tmp/cf-runc-work/restore", "--bundle", str(b), name + "-r")
    rpid = runc_pid(name + "-r")
    try:
        restored = {"how": "runc restore --image-path dump", "pid": rpid, "memory": restored_tree(rpid)}
        # runc leaves the container's own (loopback-only) netns out of the checkpoint: the restored one
        # starts with lo down. Up, the restored service answers its control port again.
        run("nsenter", "-t", str(rpid), "-n", "ip", "link", "set", "lo", "up", check=False)
        reply = run("nsenter", "-t", str(rpid), "-n", "python3", "-c", CONTROL, "state", check=False)
        restored["service_state"] = json.loads(reply.stdout) if reply.returncode == 0 else reply.stderr[-300:]
    finally:
        if Path("/tmp/cf-runc-work/restore/restore.log").exists():
            shutil.copy2("/tmp/cf-runc-work/restore/restore.log", out / "restore.log")
        run("runc", "delete", "-f", name + "-r", check=False)
    finish_truth(sc, docs, restored, pre1={"engine": "runc", "action": "pre-dump", "binary": "service-bin/service"},
                 dump={"engine": "runc", "action": "dump", "parent": "pre1", "binary": "service-bin/service"})


# ---------------------------------------------------------------- podman-chain

def scenario_podman_chain() -> None:
    sc, name, tag = "podman-chain", "pchain", "p3d9"
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    img = Path("/tmp/cf-img-chain")
    inside.busybox_rootfs(img)
    shutil.copy2(CHAIN_BIN, img / "usr/local/bin/chain")
    inside.DAEMONS.podman_used = True
    inside.PODMAN = PODMAN  # Daemons.stop removes podman containers with these options
    run("sh", "-c", f"tar -C {img} -c . | {' '.join(PODMAN)} import - localhost/cf-chain:latest")
    run(*PODMAN, "run", "-d", "--network", "none", "--security-opt", "seccomp=unconfined", "--name", name,
        "localhost/cf-chain", "/usr/local/bin/chain", "/tmp", tag)
    pid = int(run(*PODMAN, "inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
    step = Path(f"/proc/{pid}/root/tmp/chain.step")
    wait_file(step, "0")
    facts = json.loads(Path(f"/proc/{pid}/root/tmp/chain.json").read_text())
    docs: dict[str, dict] = {}
    plan = [("pre-checkpoint", "pre.tar.gz", ["--pre-checkpoint"]),
            ("with-previous", "final.tar.gz", ["--with-previous"])]
    for i, (ck, fname, opts) in enumerate(plan):
        before = truth.capture(pid)
        t0 = time.time()
        run(*PODMAN, "container", "checkpoint", *opts, "--export", str(out / fname), name)
        t1 = time.time()
        after = truth.capture(pid) if Path(f"/proc/{pid}").exists() else None
        unpack = Path("/tmp/cf-podman-unpack") / ck
        unpack.mkdir(parents=True, exist_ok=True)
        run("tar", "-C", str(unpack), "-xf", str(out / fname))
        crit_dir = out / "crit" / ck
        # A --pre-checkpoint export holds its images under pre-checkpoint/, a full one under checkpoint/.
        images = unpack / "pre-checkpoint" if (unpack / "pre-checkpoint").is_dir() else unpack / "checkpoint"
        crit_reference(images, crit_dir)
        docs[ck] = {"scenario": sc, "checkpoint": ck, "engine": "podman", "container": name, "options": opts,
                    "taken_at": (t0 + t1) / 2, "before": before, "after": after, "facts": facts, "step": i,
                    "tag": tag, "archive": fname, "members": sorted(str(p.relative_to(unpack))
                                                                    for p in unpack.rglob("*"))}
        if i == 0:
            os.kill(pid, 10)
            wait_file(step, "1")
    run(*PODMAN, "rm", "-f", "-t", "0", name, check=False)
    run(*PODMAN, "container", "restore", "--import", str(out / "final.tar.gz"), "--import-previous",
        str(out / "pre.tar.gz"), "--name", name + "-r")
    rpid = int(run(*PODMAN, "inspect", "-f", "{{.State.Pid}}", name + "-r").stdout.strip())
    try:
        restored = {"how": "podman container restore --import final.tar.gz --import-previous pre.tar.gz",
                    "pid": rpid, "memory": restored_tree(rpid)}
    finally:
        run(*PODMAN, "rm", "-f", "-t", "0", name + "-r", check=False)
    for ck, doc in docs.items():
        doc["restored"] = restored
        truth_path = out / "truth" / f"{ck}.json"
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        truth_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        entry = {"scenario": sc, "name": ck, "archive": f"{sc}/{doc['archive']}", "images": None,
                 "crit": f"{sc}/crit/{ck}", "truth": str(truth_path.relative_to(OUT)), "engine": "podman",
                 "container": name, "action": "pre-dump" if ck == "pre-checkpoint" else "dump"}
        if ck == "with-previous":
            entry["parent_archive"] = f"{sc}/pre.tar.gz"
        INDEX.append(entry)


def cleanup() -> None:
    """Stop what the scenarios started (by pid), and Podman's containers. Not inside.Daemons.stop: in
    the guest every process, init included, shares one mount namespace."""
    if inside.DAEMONS.podman_used:
        run(*PODMAN, "rm", "-af", "-t", "0", check=False, timeout=120)
    for pid in reversed(inside.DAEMONS.pids):
        inside._stop_pid(pid)


# ---------------------------------------------------------------- criu-3.17 (the bookworm guest)

JOB_SERVICE = Path("/job/bin/service")  # the host lab's service binary, brought in the job (no gcc here)


def scenario_old_criu() -> None:
    """Checkpoints in an older CRIU's format: Debian 12's CRIU 3.17 on Debian 12's kernel, plain
    `criu dump --leave-running` of the lab's service run directly and of the seed's busybox counter;
    the reference is crit 3.17's JSON."""
    plain_dumps("criu-3.17", JOB_SERVICE, "service-bin/service", {"criu": "3.17"})


# ---------------------------------------------------------------- arm64 (the arm64 guest)

ARM64_SERVICE = Path("/tmp/cf-bin/service-arm64")


def scenario_arm64() -> None:
    """Checkpoints of another architecture: the arm64 guest's CRIU 4.2 (Debian sid), plain `criu dump
    --leave-running` of the lab's service, built here by the guest's own gcc from the same source with the
    host lab's flags, and of the seed's busybox counter (Debian's arm64 busybox-static)."""
    sc = "arm64"
    keep = OUT / sc / "bin"
    keep.mkdir(parents=True, exist_ok=True)
    if not Path("/lab").exists():
        os.symlink(LAB, "/lab")
    ARM64_SERVICE.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    run("gcc", "-static", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-Wall", "-Wextra",
        "-o", str(ARM64_SERVICE), "/lab/service/service.c", timeout=900)
    log(f"arm64: gcc built the service in {time.time() - t0:.1f} s")
    shutil.copy2(ARM64_SERVICE, keep / "service")
    plain_dumps(sc, ARM64_SERVICE, f"{sc}/bin/service", {"arch": "aarch64"})
    runc_service(sc, ARM64_SERVICE, f"{sc}/bin/service", {"arch": "aarch64"})


def runc_service(sc: str, service_bin: Path, binary: str, extra: dict) -> None:
    """`runc checkpoint --leave-running` of the service in a runc container (busybox rootfs, its own
    namespaces, the container's loopback-only network): checkpoint `runc-service`, images and CRIU's
    dump.log in one directory (runc's default work path), /proc around it, crit's JSON."""
    name = "cf-svc"
    b = Path(f"/tmp/cf-bundle-{sc}")
    inside.busybox_rootfs(b / "rootfs")
    shutil.copy2(service_bin, b / "rootfs/usr/local/bin/service")
    run("runc", "spec", "--bundle", str(b))
    spec = json.loads((b / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/usr/local/bin/service", "--port", str(inside.SERVICE_PORT), "--dir", "/tmp"]
    spec["process"]["env"] += [f"SERVICE_TOKEN={inside.SERVICE_TOKEN}"]
    spec["root"]["readonly"] = False
    spec["hostname"] = "cf-arm64"
    (b / "config.json").write_text(json.dumps(spec, indent=1))
    runc_detached("runc", "run", "-d", "--bundle", str(b), name)
    try:
        pid = runc_pid(name)
        probe = f"import socket;socket.create_connection(('127.0.0.1',{inside.SERVICE_PORT}),2)"
        inside.wait_for(lambda: run("nsenter", "-t", str(pid), "-n", "python3", "-c", probe,
                                    check=False).returncode == 0, "the service in runc", 120)
        startup = json.loads(inside.control(pid, "state"))
        replies = [inside.control(pid, c) for c in ("add 4", "add 1006", "shared 5")]
        dest = OUT / sc / "runc-service"
        before = truth.capture(pid)
        t0 = time.time()
        runc_detached("runc", "checkpoint", "--leave-running", "--image-path", str(dest), name)
        t1 = time.time()
        after = truth.capture(pid)
        doc = {"scenario": sc, "checkpoint": "runc-service", "engine": "runc", "container": name,
               "taken_at": (t0 + t1) / 2, "before": before, "after": after, "startup": startup,
               "service_state": json.loads(inside.control(pid, "state")), "control_replies": replies,
               "service_token": inside.SERVICE_TOKEN, "heap_secret": "CF-HEAP-SECRET-5f2a9c71d3e84b06",
               **machine_truth(before)}
        record(sc, "runc-service", dest, doc, engine="runc", container=name, binary=binary, **extra)
    finally:
        run("runc", "delete", "-f", name, check=False)


def machine_truth(before: dict) -> dict:
    """What /proc says about the machine and each process's auxiliary vector (the kernel's AT_* pairs, as
    native words: AT_PAGESZ, AT_HWCAP...), by pid as CRIU numbers them: a reader must take the page size
    and the CPU's features from there, not assume x86-64's."""
    auxv = {}
    for proc in before["processes"]:
        try:
            raw = Path(f"/proc/{proc['host_pid']}/auxv").read_bytes()
        except OSError:
            continue
        words = [int.from_bytes(raw[i:i + 8], sys.byteorder) for i in range(0, len(raw) - len(raw) % 8, 8)]
        auxv[str(proc["pid"])] = [words[i:i + 2] for i in range(0, len(words) - 1, 2)]
    return {"machine": os.uname().machine, "page_size": PAGE, "kernel": os.uname().release, "auxv": auxv}


def dump_leaving_running(pid: int, dest: Path) -> tuple[dict, float, dict]:
    """`criu dump --leave-running --shell-job` of `pid` into `dest`: (/proc before, the time halfway through
    the dump, /proc after)."""
    before = truth.capture(pid)
    t0 = time.time()
    run("criu", "dump", "-t", str(pid), "-D", str(dest), "-o", "dump.log", "-v4", "--leave-running",
        "--shell-job", timeout=600)
    t1 = time.time()
    return before, (t0 + t1) / 2, truth.capture(pid)


def plain_dumps(sc: str, service_bin: Path, binary: str, extra: dict) -> None:
    """Plain `criu dump --leave-running --shell-job` of the lab's service run directly (checkpoint
    `service`) and of the seed's busybox counter (`counter`), each with /proc around it and crit's JSON.
    `binary` is where the service's executable lies in the bundle; `extra` goes into both index entries."""
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    work = Path(f"/tmp/cf-plain-{sc}")
    work.mkdir(exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "SERVICE_TOKEN": inside.SERVICE_TOKEN}
    with open(out / "service.stdout", "wb") as stdout:
        svc = subprocess.Popen([str(service_bin), "--port", str(inside.SERVICE_PORT), "--dir", str(work)],
                               stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True, cwd=str(work))
    inside.DAEMONS.pids.append(svc.pid)
    inside.wait_for(lambda: b"READY" in (out / "service.stdout").read_bytes(), "the service to be ready", 120)
    startup = json.loads((out / "service.stdout").read_text().splitlines()[0])

    def ctl(cmd: str) -> str:
        return run("python3", "-c", CONTROL, cmd).stdout.strip()

    replies = [ctl("add 4"), ctl("shared 5")]
    dest = out / "service"
    dest.mkdir()
    before, taken_at, after = dump_leaving_running(svc.pid, dest)
    doc = {"scenario": sc, "checkpoint": "service", "engine": "criu", "taken_at": taken_at,
           "service_state": json.loads(ctl("state")), "control_replies": replies, "before": before,
           "after": after, "startup": startup, "service_token": inside.SERVICE_TOKEN,
           "heap_secret": "CF-HEAP-SECRET-5f2a9c71d3e84b06"}
    doc.update(machine_truth(before))
    record(sc, "service", dest, doc, engine="criu", binary=binary, **extra)

    with open(out / "counter.log", "wb") as log_out:
        counter = subprocess.Popen(["busybox", "sh", "-c", inside.SEED_CMD], stdin=subprocess.DEVNULL,
                                   stdout=log_out, stderr=subprocess.STDOUT, start_new_session=True)
    inside.DAEMONS.pids.append(counter.pid)
    inside.wait_for(lambda: len((out / "counter.log").read_bytes().split()) >= 3, "the counter to print", 120)
    dest = out / "counter"
    # The loop starts a new `sleep 1` every second: a dump during which it did is made again, so that
    # the processes /proc showed before and after it are the ones the checkpoint holds.
    for attempt in range(1, 4):
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        before, taken_at, after = dump_leaving_running(counter.pid, dest)
        if [q["pid"] for q in before["processes"]] == [q["pid"] for q in after["processes"]]:
            break
        log(f"{sc}: the counter's processes changed during dump {attempt}; dumping again")
    logged = (out / "counter.log").read_text().split()
    doc = {"scenario": sc, "checkpoint": "counter", "engine": "criu", "command": inside.SEED_CMD,
           "taken_at": taken_at, "before": before, "after": after, "last_logged_after": logged[-1],
           "attempts": attempt}
    doc.update(machine_truth(before))
    record(sc, "counter", dest, doc, engine="criu", **extra)
    for p in (counter, svc):
        for child in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split():
            inside._stop_pid(int(child))


SCENARIOS = {"criu-chain": scenario_criu_chain, "runc-chain": scenario_runc_chain,
             "podman-chain": scenario_podman_chain, "criu-3.17": scenario_old_criu, "arm64": scenario_arm64}
# Which scenarios build the lab's programs with the guest's gcc (the bookworm guest has none).
BUILDS = {"criu-chain", "runc-chain", "podman-chain"}


def main(argv: list[str]) -> int:
    # Restored trees are re-parented to the nearest subreaper: us, so they are ours to stop and reap.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    wanted = argv or list(SCENARIOS)
    unknown = [w for w in wanted if w not in SCENARIOS]
    if unknown:
        print(f"unknown guest scenario(s): {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2
    versions = {}
    for cmd in (["criu", "--version"], ["runc", "--version"], ["podman", "--version"], ["uname", "-r"]):
        if shutil.which(cmd[0]):
            p = subprocess.run(cmd, capture_output=True, text=True, check=False)
            versions[cmd[0]] = (p.stdout or p.stderr).strip()
    check = run("criu", "check", "--feature", "mem_dirty_track", check=False)
    failed = []
    try:
        if BUILDS & set(wanted):
            build_programs()
        for w in wanted:
            log(f"guest scenario {w}")
            t0 = time.time()
            try:
                SCENARIOS[w]()
            except Exception as e:  # noqa: BLE001 - one scenario's failure is reported, the rest still run
                log(f"guest scenario {w} FAILED: {e}")
                failed.append({"scenario": w, "error": str(e)[-3000:]})
            log(f"guest scenario {w} took {time.time() - t0:.1f} s")
    finally:
        cleanup()
        (OUT / "index.json").write_text(json.dumps(INDEX, indent=1) + "\n")
        (OUT / "lab.json").write_text(json.dumps({"versions": versions, "scenarios": wanted, "failed": failed,
                                                  "mem_dirty_track": check.returncode == 0,
                                                  "made_at": time.time()}, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
