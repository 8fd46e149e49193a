"""The lab's scenarios, run inside the lab rootfs after pivot_root (see enter.sh).

Starts containerd and dockerd (experimental), imports a static-busybox image, runs each scenario's
containers, checkpoints them with the real `docker checkpoint create` (or runc/podman where Docker cannot
express the option), captures /proc ground truth around each checkpoint, stores `crit decode` of every
image with the CRIU that made it, and writes everything under /out. Every process it starts is stopped by
pid before it exits. Standard library only: this runs with the rootfs's python3.

Usage: inside.py [SCENARIO ...]    (default: all)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, "/lab")
import truth  # noqa: E402

OUT = Path("/out")
DOCKER_ROOT = Path("/var/lib/docker")
LOG = open(OUT / "lab.log", "a", buffering=1)
INDEX: list[dict] = []

SEED_CMD = "i=0; while true; do echo $i; i=$(expr $i + 1); sleep 1; done"
SERVICE_TOKEN = "cf-token-3a9d0c5e7b214f68"
SERVICE_PORT = 8080


def log(msg: str) -> None:
    LOG.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def run(*cmd: str, check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
    if p.stdout.strip():
        LOG.write(p.stdout if len(p.stdout) < 4000 else p.stdout[:4000] + "...\n")
    if p.stderr.strip():
        LOG.write(p.stderr if len(p.stderr) < 4000 else p.stderr[:4000] + "...\n")
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return p


# ---------------------------------------------------------------- daemons

class Daemons:
    """containerd + dockerd, stopped by pid on exit, with everything they left running."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.podman_used = False

    def start(self) -> None:
        logs = OUT / "daemon-logs"
        logs.mkdir(exist_ok=True)
        self._spawn(["containerd"], logs / "containerd.log")
        for _ in range(50):
            if Path("/run/containerd/containerd.sock").exists():
                break
            time.sleep(0.2)
        self._spawn(["dockerd", "--experimental", "--iptables=false", "--ip6tables=false",
                     "--bridge=none", "--storage-driver=overlay2"], logs / "dockerd.log")
        for _ in range(150):
            if run("docker", "info", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("dockerd did not come up; see daemon-logs/dockerd.log")

    def _spawn(self, cmd: list[str], logfile: Path) -> None:
        f = open(logfile, "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=f, stdin=subprocess.DEVNULL, close_fds=True,
                             start_new_session=True)
        self.pids.append(p.pid)
        log(f"started {cmd[0]} pid {p.pid}")

    def stop(self) -> None:
        run("sh", "-c", "docker ps -aq | xargs -r docker rm -f", check=False, timeout=60)
        if self.podman_used:
            run(*PODMAN, "rm", "-af", "-t", "0", check=False, timeout=60)
        for pid in reversed(self.pids):
            _stop_pid(pid)
        # containerd's shims (and conmon) outlive a stopped containerd; they run in our mount
        # namespace, which no process outside the lab shares, so that is how they are told apart.
        mine = os.readlink("/proc/self/ns/mnt")
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") == mine:
                        _stop_pid(int(entry))
                except OSError:
                    pass


def _gone(pid: int) -> bool:
    """Exited: no /proc entry, or a zombie its own parent has yet to reap (not ours to wait for)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].startswith(("Z", "X"))


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            if _gone(pid):
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    log(f"stopped pid {pid}")


# ---------------------------------------------------------------- images

def busybox_rootfs(dest: Path) -> None:
    (dest / "bin").mkdir(parents=True)
    for d in ("tmp", "etc", "proc", "sys", "dev", "root", "usr/local/bin"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    shutil.copy2("/bin/busybox", dest / "bin/busybox")
    applets = run("/bin/busybox", "--list").stdout.split()
    for a in applets:
        if a != "busybox":
            (dest / "bin" / a).symlink_to("busybox")


NEEDS_SERVICE = {"service", "service-tcp", "incremental", "failures", "serve", "fleet", "kubernetes"}


def import_images(wanted: list[str]) -> None:
    base = Path("/tmp/img-busybox")
    busybox_rootfs(base)
    run("sh", "-c", f"tar -C {base} -c . | docker import - busybox:latest")
    if NEEDS_SERVICE.isdisjoint(w.split(":")[0] for w in wanted):
        return
    svc = Path("/tmp/img-service")
    busybox_rootfs(svc)
    binary = OUT / "service-bin" / "service"
    binary.parent.mkdir(exist_ok=True)
    run("gcc", "-static", "-O1", "-g", "-fno-omit-frame-pointer", "-pthread", "-Wall", "-Wextra",
        "-o", str(binary), "/lab/service/service.c")
    shutil.copy2(binary, svc / "usr/local/bin/service")
    run("sh", "-c", f"tar -C {svc} -c . | docker import - cf-service:latest")


def import_goservice() -> None:
    """The Go scenario's image: busybox and the static Go service, built here with the rootfs's Go."""
    img = Path("/tmp/img-goservice")
    if img.exists():
        return
    busybox_rootfs(img)
    binary = OUT / "goservice-bin" / "goservice"
    binary.parent.mkdir(exist_ok=True)
    run("env", "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false", "HOME=/tmp",
        "GOCACHE=/tmp/gocache", "GOPATH=/tmp/gopath", "go", "build", "-trimpath", "-o", str(binary),
        "/lab/goservice/main.go", timeout=600)
    shutil.copy2(binary, img / "usr/local/bin/goservice")
    run("sh", "-c", f"tar -C {img} -c . | docker import - cf-goservice:latest")


# ---------------------------------------------------------------- helpers

def inspect(name: str, fmt: str) -> str:
    return run("docker", "inspect", "-f", fmt, name).stdout.strip()


def container_id(name: str) -> str:
    return inspect(name, "{{.Id}}")


def init_pid(name: str) -> int:
    return int(inspect(name, "{{.State.Pid}}"))


def docker_logs(name: str) -> list[str]:
    p = run("docker", "logs", "-t", name, check=False)
    return (p.stdout + p.stderr).splitlines()


def control(pid: int, command: str) -> str:
    """One command to the service, from inside the container's network namespace."""
    code = ("import socket,sys;s=socket.create_connection(('127.0.0.1',%d),5);"
            "s.sendall(sys.argv[1].encode()+b'\\n');print(s.makefile().readline(),end='')") % SERVICE_PORT
    return run("nsenter", "-t", str(pid), "-n", "python3", "-c", code, command).stdout.strip()


def wait_for(predicate, what: str, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def crit_reference(images: Path, dest: Path) -> None:
    """`crit decode` of every image, by the CRIU that made them: the reference decoder for the tests."""
    dest.mkdir(parents=True, exist_ok=True)
    for img in sorted(images.iterdir()):
        if not img.is_file() or img.is_symlink():
            continue
        p = subprocess.run(["crit", "decode", "-i", str(img)], capture_output=True, text=True)
        if p.returncode == 0:
            (dest / (img.name + ".json")).write_text(p.stdout)
        else:
            (dest / (img.name + ".error")).write_text((p.stderr or p.stdout).strip()[-2000:] + "\n")


def copy_docker_checkpoint(scenario: str, name: str, ckpt: str) -> Path:
    """The container's config and the checkpoint, in Docker's own layout under <scenario>/docker-root."""
    cid = container_id(name)
    src = DOCKER_ROOT / "containers" / cid
    dst = OUT / scenario / "docker-root" / "containers" / cid
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("config.v2.json", "hostconfig.json"):
        if (src / f).exists():
            shutil.copy2(src / f, dst / f)
    target = dst / "checkpoints" / ckpt
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(src / "checkpoints" / ckpt, target, symlinks=True)
    return target


def keep_criu_log(text: str, dest: Path) -> Path | None:
    """Copy the CRIU log a failed checkpoint names ("path= /run/.../criu-dump.log" from Docker,
    "log file: /tmp/.../dump.log" from runc) to dest."""
    for word in text.replace("\\n", " ").replace(":", " ").replace('"', " ").split():
        if word.endswith(".log") and Path(word).is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(word, dest)
            return dest
    return None


def docker_checkpoint(scenario: str, name: str, ckpt: str) -> None:
    p = run("docker", "checkpoint", "create", "--leave-running", name, ckpt, check=False)
    for attempt in range(5):
        # Docker 26 hands checkpoints through containerd's content store; two checkpoints of one container
        # in quick succession can meet a blob of the previous one still being released ("content
        # sha256:...: already exists"). Seen once in ~60 lab runs: wait, drop the half-made one, try again.
        if p.returncode == 0 or "already exists" not in p.stderr or "content sha256" not in p.stderr:
            break
        time.sleep(1 + attempt)
        run("docker", "checkpoint", "rm", name, ckpt, check=False)
        p = run("docker", "checkpoint", "create", "--leave-running", name, ckpt, check=False)
    if p.returncode != 0:
        kept = keep_criu_log(p.stderr + p.stdout, OUT / scenario / f"{ckpt}.failed-dump.log")
        raise RuntimeError(f"docker checkpoint create {name} {ckpt} failed: {p.stderr.strip()[-1500:]} "
                           f"(CRIU log kept: {kept})")


def record(scenario: str, ckpt: str, images: Path, truth_doc: dict, **extra) -> None:
    rel = images.relative_to(OUT)
    crit_dir = OUT / scenario / "crit" / ckpt
    crit_reference(images, crit_dir)
    truth_path = OUT / scenario / "truth" / f"{ckpt}.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(truth_doc, indent=1, sort_keys=True) + "\n")
    entry = {"scenario": scenario, "name": ckpt, "images": str(rel),
             "crit": str(crit_dir.relative_to(OUT)), "truth": str(truth_path.relative_to(OUT))}
    entry.update(extra)
    INDEX.append(entry)


def checkpoint_with_truth(name: str, take) -> tuple[dict, dict, float]:
    """Ground truth just before and just after the checkpoint command (an idle service is identical in
    both; a busy shell may have replaced its `sleep` child in between)."""
    pid = init_pid(name)
    before = truth.capture(pid)
    t0 = time.time()
    take()
    t1 = time.time()
    after = truth.capture(pid) if Path(f"/proc/{pid}").exists() else None
    return before, after, (t0 + t1) / 2


def runc_root_for(cid: str) -> str:
    for root in ("/run/docker/runtime-runc/moby", "/run/containerd/runc/moby"):
        if Path(root, cid, "state.json").exists():
            return root
    raise RuntimeError(f"no runc state for {cid}")


# ---------------------------------------------------------------- scenarios

def scenario_counter() -> None:
    """The seed's example, exactly: a shell counting once a second, checkpointed twice while running,
    then restored from the second checkpoint."""
    sc, name = "counter", "cr"
    run("docker", "run", "--security-opt=seccomp:unconfined", "--name", name, "-d", "busybox",
        "/bin/sh", "-c", SEED_CMD)
    wait_for(lambda: len(docker_logs(name)) >= 3, "the counter to print")
    docs = {}
    for ckpt in ("checkpoint1", "checkpoint2"):
        logs_before = docker_logs(name)
        before, after, t = checkpoint_with_truth(name, lambda: docker_checkpoint(sc, name, ckpt))
        logs_after = docker_logs(name)
        images = copy_docker_checkpoint(sc, name, ckpt)
        docs[ckpt] = {"scenario": sc, "checkpoint": ckpt, "container": name, "engine": "docker",
                      "command": SEED_CMD, "taken_at": t, "before": before, "after": after,
                      "last_logged_before": logs_before[-1].split()[-1],
                      "last_logged_after": logs_after[-1].split()[-1]}
        time.sleep(5 if ckpt == "checkpoint1" else 2)
    run("docker", "checkpoint", "ls", name)
    run("docker", "kill", name)
    run("docker", "wait", name, check=False)
    killed_logs = docker_logs(name)
    restore_started = time.time()
    run("docker", "start", "--checkpoint", "checkpoint2", name)
    time.sleep(3)
    all_logs = docker_logs(name)
    resumed = all_logs[len(killed_logs):]
    restore = {"log_before_kill": killed_logs, "log_after_restore": resumed,
               "restored_from": "checkpoint2", "restore_started": restore_started,
               "running_after_restore": inspect(name, "{{.State.Running}}") == "true"}
    for ckpt, doc in docs.items():
        doc["restore"] = restore
        record(sc, ckpt, OUT / sc / "docker-root" / "containers" / container_id(name) / "checkpoints" / ckpt,
               doc, engine="docker", container=name, docker_root=f"{sc}/docker-root")
    run("docker", "rm", "-f", name)


def start_service(name: str, extra: tuple[str, ...] = (), cmd_extra: tuple[str, ...] = ()) -> tuple[int, dict]:
    run("docker", "run", "--security-opt=seccomp:unconfined", "--name", name, "-d",
        "-e", f"SERVICE_TOKEN={SERVICE_TOKEN}", *extra, "cf-service",
        "/usr/local/bin/service", "--port", str(SERVICE_PORT), "--dir", "/tmp", *cmd_extra)
    wait_for(lambda: any(l.endswith("READY") for l in docker_logs(name)), "the service to be ready")
    startup = json.loads(next(l.split(" ", 1)[1] for l in docker_logs(name) if " {" in l))
    return init_pid(name), startup


def service_truth(sc: str, name: str, ckpt: str, pid: int, replies: list, before, after, t,
                  engine: str) -> dict:
    state = json.loads(control(pid, "state"))
    return {"scenario": sc, "checkpoint": ckpt, "container": name, "engine": engine, "taken_at": t,
            "service_state": state, "control_replies": replies, "before": before, "after": after,
            "service_token": SERVICE_TOKEN, "heap_secret": "CF-HEAP-SECRET-5f2a9c71d3e84b06"}


def scenario_service() -> None:
    """The project's own service: threads, children, every kind of fd, counters that move between two
    `docker checkpoint create --leave-running` checkpoints."""
    sc, name = "service", "svc"
    pid, startup = start_service(name, ("--tmpfs", "/scratch"))
    run("docker", "exec", name, "/bin/sh", "-c", "echo tmpfs-file-content > /scratch/note.txt")
    plan = {"checkpoint1": ["add 4", "shared 5"], "checkpoint2": ["add 1006", "shared 3"]}
    for ckpt, cmds in plan.items():
        replies = [control(pid, c) for c in cmds]
        before, after, t = checkpoint_with_truth(name, lambda: docker_checkpoint(sc, name, ckpt))
        images = copy_docker_checkpoint(sc, name, ckpt)
        doc = service_truth(sc, name, ckpt, pid, replies, before, after, t, "docker")
        doc["startup"] = startup
        record(sc, ckpt, images, doc, engine="docker", container=name, docker_root=f"{sc}/docker-root",
               binary="service-bin/service")
    run("docker", "rm", "-f", name)


def runc_checkpoint(name: str, dest: Path, *opts: str) -> subprocess.CompletedProcess:
    cid = container_id(name)
    work = Path("/tmp/runc-work") / dest.name
    work.mkdir(parents=True, exist_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    p = run("runc", "--root", runc_root_for(cid), "checkpoint", "--image-path", str(dest),
            "--work-path", str(work), *opts, cid, check=False)
    if p.returncode != 0 and (work / "dump.log").exists():
        shutil.copy2(work / "dump.log", dest.parent / f"{dest.name}.failed-dump.log")
    return p


def scenario_service_tcp() -> None:
    """The service with an established TCP connection, checkpointed with CRIU's --tcp-established
    through runc (Docker has no way to pass it)."""
    sc, name = "service-tcp", "svc-tcp"
    pid, startup = start_service(name)
    steps = {"checkpoint1": ["add 4"], "checkpoint2": ["connect", "add 10"]}
    for ckpt, cmds in steps.items():
        replies = [control(pid, c) for c in cmds]
        dest = OUT / sc / ckpt
        holder = {}
        before, after, t = checkpoint_with_truth(
            name, lambda: holder.setdefault("p", runc_checkpoint(
                name, dest, "--leave-running", "--tcp-established")))
        if holder["p"].returncode != 0:
            raise RuntimeError(f"runc checkpoint --tcp-established failed: {holder['p'].stderr[-1500:]}")
        shutil.copy2(Path("/tmp/runc-work") / ckpt / "dump.log", OUT / sc / f"{ckpt}.dump.log")
        doc = service_truth(sc, name, ckpt, pid, replies, before, after, t, "runc")
        doc["startup"] = startup
        record(sc, ckpt, dest, doc, engine="runc", container=name, binary="service-bin/service")
    run("docker", "rm", "-f", name)


INC_PORT = 28080


def scenario_incremental() -> None:
    """A parent chain from plain `criu dump` (no container engine), of the service run directly in the
    lab. This kernel has no CONFIG_MEM_SOFT_DIRTY: CRIU refuses --track-mem, hence `pre-dump` (kept as a
    real failure) and runc's --parent-path (which always adds --track-mem). What CRIU does offer is
    `criu dump --prev-images-dir`, which writes the `parent` link but, without tracking, every page again."""
    sc = "incremental"
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path("/tmp/svc-inc")
    workdir.mkdir(exist_ok=True)
    stdout = open(out / "service.stdout", "wb")
    env = {"PATH": "/usr/bin:/bin", "SERVICE_TOKEN": SERVICE_TOKEN}
    proc = subprocess.Popen([str(OUT / "service-bin" / "service"), "--port", str(INC_PORT), "--dir", str(workdir)],
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT, env=env,
                            close_fds=True, start_new_session=True, cwd=str(workdir))
    DAEMONS.pids.append(proc.pid)
    try:
        wait_for(lambda: b"READY" in (out / "service.stdout").read_bytes(), "the plain service to be ready")
        startup = json.loads((out / "service.stdout").read_text().splitlines()[0])

        def ctl(cmd: str) -> str:
            with socket.create_connection(("127.0.0.1", INC_PORT), 5) as s:
                s.sendall(cmd.encode() + b"\n")
                return s.makefile().readline().strip()

        outcome = {}
        pre = out / "pre-dump"
        pre.mkdir()
        p = run("criu", "pre-dump", "-t", str(proc.pid), "-D", str(pre), "-o", "pre-dump.log", "-v4", check=False)
        outcome["pre_dump"] = {"returncode": p.returncode, "stderr": p.stderr[-2000:]}
        if (pre / "pre-dump.log").exists():
            shutil.copy2(pre / "pre-dump.log", out / "pre-dump.failed-dump.log")
        shutil.rmtree(pre)
        if p.returncode == 0:
            raise RuntimeError("criu pre-dump worked: this kernel tracks dirty memory; update the lab")
        # dump1: a full plain dump. dump2: the same with --prev-images-dir, which CRIU refuses here
        # because the parent inventory has no dump_uptime (written only with --track-mem).
        steps = [("dump1", ["add 4"], []), ("dump2", ["add 1006", "shared 3"], ["--prev-images-dir", "../dump1"])]
        for name, cmds, extra in steps:
            replies = [ctl(c) for c in cmds]
            dest = out / name
            dest.mkdir()
            before = truth.capture(proc.pid)
            t0 = time.time()
            p = run("criu", "dump", "-t", str(proc.pid), "-D", str(dest), "-o", "dump.log", "-v4",
                    "--leave-running", "--shell-job", *extra, check=False)
            t1 = time.time()
            if p.returncode != 0:
                shutil.move(str(dest / "dump.log"), out / f"{name}.failed-dump.log")
                shutil.rmtree(dest)
                outcome[name] = {"returncode": p.returncode, "args": extra,
                                 "log": f"{name}.failed-dump.log"}
                continue
            after = truth.capture(proc.pid)
            state = json.loads(ctl("state"))
            shutil.move(str(dest / "dump.log"), out / f"{name}.dump.log")
            doc = {"scenario": sc, "checkpoint": name, "engine": "criu", "taken_at": (t0 + t1) / 2,
                   "service_state": state, "control_replies": replies, "before": before, "after": after,
                   "startup": startup, "service_token": SERVICE_TOKEN,
                   "heap_secret": "CF-HEAP-SECRET-5f2a9c71d3e84b06",
                   "parent": extra[1].split("/")[-1] if extra else None}
            record(sc, name, dest, doc, engine="criu", binary="service-bin/service", parent=doc["parent"])
        (out / "attempts.json").write_text(json.dumps(outcome, indent=1) + "\n")
    finally:
        for pid in (startup_child(proc.pid), proc.pid):
            if pid:
                _stop_pid(pid)


def startup_child(pid: int) -> int | None:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def scenario_failures() -> None:
    """Checkpoints that really fail, with Docker's error text and CRIU's dump.log kept, plus the
    external-terminal case the seed lists as unsupported (recorded as what happened)."""
    sc = "failures"
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    cases = []

    # 1. Established TCP: Docker never passes --tcp-established.
    name = "fail-tcp"
    pid, _ = start_service(name)
    control(pid, "connect")
    p = run("docker", "checkpoint", "create", "--leave-running", name, "tcpfail", check=False)
    cases.append(_failure_case(out, "established-tcp", name, p))
    run("docker", "rm", "-f", name)

    # 2. External terminal: `docker run -t` (the seed lists it as unsupported).
    name = "fail-tty"
    run("docker", "run", "-t", "--security-opt=seccomp:unconfined", "--name", name, "-d", "busybox",
        "/bin/sh", "-c", SEED_CMD)
    time.sleep(2)
    p = run("docker", "checkpoint", "create", "--leave-running", name, "ttyckpt", check=False)
    cases.append(_failure_case(out, "external-terminal", name, p))
    run("docker", "rm", "-f", name)

    # 3. A file descriptor CRIU cannot dump: the service holding an io_uring instance.
    name = "fail-uring"
    pid, _ = start_service(name, cmd_extra=("--io-uring",))
    p = run("docker", "checkpoint", "create", "--leave-running", name, "uringckpt", check=False)
    cases.append(_failure_case(out, "unsupported-fd-io-uring", name, p))
    run("docker", "rm", "-f", name)

    # 4. An inotify watch on the container's overlayfs: CRIU cannot make a file handle for it.
    name = "fail-inotify"
    pid, _ = start_service(name, cmd_extra=("--watch", "/tmp"))
    p = run("docker", "checkpoint", "create", "--leave-running", name, "inotifyckpt", check=False)
    cases.append(_failure_case(out, "inotify-on-overlayfs", name, p))
    run("docker", "rm", "-f", name)

    # 5. A container that is not running.
    name = "fail-stopped"
    run("docker", "run", "--name", name, "-d", "busybox", "/bin/true")
    run("docker", "wait", name, check=False)
    p = run("docker", "checkpoint", "create", name, "stoppedckpt", check=False)
    cases.append(_failure_case(out, "container-not-running", name, p))
    run("docker", "rm", "-f", name)

    (out / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")


def _failure_case(out: Path, case: str, name: str, p: subprocess.CompletedProcess) -> dict:
    text = (p.stdout + p.stderr).strip()
    (out / f"{case}.docker-error.txt").write_text(text + "\n")
    kept = keep_criu_log(text, out / f"{case}.dump.log")
    dump_log = kept.name if kept else None
    log(f"failure case {case}: rc={p.returncode}")
    return {"case": case, "container": name, "returncode": p.returncode, "docker_error": text,
            "dump_log": dump_log, "succeeded": p.returncode == 0}


PODMAN = ("podman", "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime=runc")


def scenario_podman() -> None:
    """The seed's counter under Podman, exported as the archives Podman writes (zstd by default, also an
    uncompressed tar), so archive inputs are real."""
    sc, name = "podman", "pcr"
    if shutil.which("podman") is None:
        log("podman not installed in the rootfs; skipping")
        return
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    DAEMONS.podman_used = True
    run("sh", "-c", f"tar -C /tmp/img-busybox -c . | {' '.join(PODMAN)} import - localhost/busybox:latest")
    run(*PODMAN, "run", "--network", "none", "--security-opt", "seccomp=unconfined", "--name", name, "-d",
        "localhost/busybox", "/bin/sh", "-c", SEED_CMD)
    cpid = int(run(*PODMAN, "inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
    time.sleep(3)
    for fname, comp in (("checkpoint.tar.gz", None), ("checkpoint.tar", "none")):
        before = truth.capture(cpid)
        t0 = time.time()
        args = [*PODMAN, "container", "checkpoint", "--leave-running", "--export", str(out / fname)]
        if comp:
            args += ["--compress", comp]
        run(*args, name)
        t1 = time.time()
        after = truth.capture(cpid)
        # The reference: crit on the images inside the archive, unpacked only here in the lab.
        tmp = Path("/tmp/podman-unpack") / fname
        tmp.mkdir(parents=True, exist_ok=True)
        run("tar", "-C", str(tmp), "-xf", str(out / fname))
        doc = {"scenario": sc, "checkpoint": fname, "container": name, "engine": "podman",
               "command": SEED_CMD, "taken_at": (t0 + t1) / 2, "before": before, "after": after,
               "compression_requested": comp or "default (zstd)",
               "magic": (out / fname).read_bytes()[:8].hex()}
        ck = fname.replace(".", "-")
        crit_dir = out / "crit" / ck
        crit_reference(tmp / "checkpoint", crit_dir)
        truth_path = out / "truth" / f"{ck}.json"
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        truth_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        INDEX.append({"scenario": sc, "name": ck, "archive": f"{sc}/{fname}", "images": None,
                      "crit": str(crit_dir.relative_to(OUT)), "truth": str(truth_path.relative_to(OUT)),
                      "engine": "podman", "container": name})
        time.sleep(2)
    run(*PODMAN, "rm", "-f", "-t", "0", name)


def scenario_bench(arg: str = "1024") -> None:
    """Benchmark inputs (not part of the default run): `bench:MIB` dumps memhog holding MIB MiB of
    incompressible memory with planted needles twice (before and after it rewrites every 10th page);
    `bench:procs` dumps 200 processes holding 10,000 fds. Plain `criu dump`, no engine."""
    import subprocess as sp
    binary = Path("/tmp/memhog")
    if not binary.exists():
        run("gcc", "-static", "-O2", "-o", str(binary), "/lab/bench/memhog.c")
    procs = arg == "procs"
    name = "bench-procs" if procs else f"bench-{arg}"
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    args = ["16", "4", "200", "50"] if procs else [arg, "64"]
    proc = sp.Popen([str(binary), *args], stdin=sp.DEVNULL, stdout=sp.PIPE, stderr=sp.STDOUT,
                    close_fds=True, start_new_session=True)
    DAEMONS.pids.append(proc.pid)
    facts: dict = {}
    try:
        facts = json.loads(proc.stdout.readline())
        if proc.stdout.readline().strip() != b"READY":
            raise RuntimeError("memhog did not get ready")
        steps = ["ck1"] if procs else ["ck1", "ck2"]
        for step in steps:
            if step == "ck2":
                os.kill(proc.pid, signal.SIGUSR1)
                if proc.stdout.readline().strip() != b"CHANGED":
                    raise RuntimeError("memhog did not rewrite its pages")
            dest = out / step
            dest.mkdir()
            t0 = time.time()
            run("criu", "dump", "-t", str(proc.pid), "-D", str(dest), "-o", "dump.log", "--leave-running",
                "--shell-job", timeout=1800)
            facts[f"{step}_seconds"] = time.time() - t0
        (out / "facts.json").write_text(json.dumps(facts) + "\n")
    finally:
        for child in facts.get("children", []):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _stop_pid(proc.pid)


def scenario_serve() -> None:
    """Not part of the default run: a service container left running for a test that drives this dockerd
    from the host (`forensics capture`). Writes /out/serve.json with dockerd's pid (the lab shares the
    host's pid namespace, so from the host the daemon is at unix:///proc/<pid>/root/run/docker.sock) and
    the container's name, then waits (at most 300 s) until /out/serve.done exists."""
    name = "serve"
    start_service(name)
    dockerd = next(pid for pid in DAEMONS.pids
                   if Path(f"/proc/{pid}/comm").exists() and Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd")
    tmp = OUT / "serve.json.tmp"
    tmp.write_text(json.dumps({"dockerd_pid": dockerd, "container": name}) + "\n")
    tmp.rename(OUT / "serve.json")
    log(f"serve: container {name} running, dockerd pid {dockerd}; waiting for /out/serve.done")
    wait_for(lambda: (OUT / "serve.done").exists(), "/out/serve.done", timeout=300)
    run("docker", "rm", "-f", name)


SHELL_COMMANDS = ["cd /tmp", "echo hello-from-bash", "export API_TOKEN=tok-7f3a9b2c51d0", "ls -la /tmp > /dev/null",
                  "cat /etc/hostname"]


def scenario_shell() -> None:
    """An interactive bash (bash-static) that was typed into: its history lives only in its heap. The
    commands arrive through a FIFO the shell reads (bash -i keeps history for non-tty input too), one
    `docker exec` each, then `docker checkpoint create --leave-running`."""
    sc, name = "shell", "bsh"
    base = Path("/tmp/img-bash")
    if not base.exists():
        busybox_rootfs(base)
        shutil.copy2("/bin/bash-static", base / "bin/bash")
        run("sh", "-c", f"tar -C {base} -c . | docker import - cf-bash:latest")
    run("docker", "run", "--security-opt=seccomp:unconfined", "--name", name, "-d", "-e", "HOME=/root", "cf-bash",
        "/bin/sh", "-c", "mkfifo /dev/shm/in && exec /bin/bash -i 0<>/dev/shm/in")
    wait_for(lambda: run("docker", "exec", name, "test", "-p", "/dev/shm/in", check=False).returncode == 0,
             "the shell's fifo")
    time.sleep(1)
    typed = []
    for cmd in SHELL_COMMANDS:
        run("docker", "exec", name, "sh", "-c", f"printf '%s\\n' '{cmd}' > /dev/shm/in")
        typed.append({"command": cmd, "at": time.time()})
        time.sleep(1.1)  # distinct history timestamps
    before, after, t = checkpoint_with_truth(name, lambda: docker_checkpoint(sc, name, "checkpoint1"))
    images = copy_docker_checkpoint(sc, name, "checkpoint1")
    record(sc, "checkpoint1", images, {"scenario": sc, "checkpoint": "checkpoint1", "container": name,
                                        "engine": "docker", "taken_at": t, "before": before, "after": after,
                                        "typed": typed}, engine="docker", container=name,
           docker_root=f"{sc}/docker-root")
    run("docker", "rm", "-f", name)


PYTHON_PORT = 8081


def python_image(tag: str, root: Path, version: str) -> None:
    """An image holding CPython `version` taken from `root` (the lab rootfs itself, or another Debian rootfs
    inside it): the interpreter, the shared libraries it links, its standard library (without tests), and the
    lab's Python service at /app/pysvc.py; on a busybox base."""
    base = Path(f"/tmp/img-{tag}")
    if base.exists():
        return
    busybox_rootfs(base)
    exe = root / "usr/bin" / f"python{version}"
    libs = run("chroot", str(root), "ldd", f"/usr/bin/python{version}").stdout if root != Path("/") else \
        run("ldd", str(exe)).stdout
    for line in libs.splitlines():
        path = next((w for w in line.split() if w.startswith("/")), None)
        if path:
            dest = base / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(inside_root(root, path), dest)
    (base / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(exe, base / "usr/bin" / f"python{version}")
    (base / "usr/bin/python3").symlink_to(f"python{version}")
    shutil.copytree(root / "usr/lib" / f"python{version}", base / "usr/lib" / f"python{version}", symlinks=True,
                    ignore=shutil.ignore_patterns("test", "idlelib", "tkinter", "turtledemo", "ensurepip"))
    (base / "app").mkdir()
    shutil.copy2("/lab/python/pysvc.py", base / "app/pysvc.py")
    run("sh", "-c", f"tar -C {base} -c . | docker import - {tag}:latest")


def inside_root(root: Path, path: str) -> Path:
    """`path` under `root` with symlinks followed inside it: bookworm's /lib64/ld-linux-x86-64.so.2 links to
    an absolute path, which must not land on the lab rootfs's own (newer) loader."""
    current = root
    parts = [p for p in path.split("/") if p]
    for _ in range(40):
        if not parts:
            return current
        candidate = current / parts.pop(0)
        if candidate.is_symlink():
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p] + parts
            current = root if target.startswith("/") else current
        else:
            current = candidate
    raise RuntimeError(f"too many links resolving {path} in {root}")


def python_request(pid: int, text: str) -> str:
    code = ("import socket,sys;s=socket.create_connection(('127.0.0.1',%d),5);"
            "s.sendall(sys.argv[1].encode()+b'\\n');print(s.makefile().readline(),end='')") % PYTHON_PORT
    return run("nsenter", "-t", str(pid), "-n", "python3", "-c", code, text).stdout.strip()


def python_scenario(sc: str, tag: str, root: Path, version: str) -> None:
    """A CPython service (samples/lab/python/pysvc.py) with threads parked at known places: it writes its own
    sys._current_frames() view (the truth) on SIGUSR1, then `docker checkpoint create --leave-running`."""
    name = sc
    python_image(tag, root, version)
    run("docker", "run", "--security-opt=seccomp:unconfined", "--name", name, "-d", tag,
        f"/usr/bin/python{version}", "-u", "/app/pysvc.py")
    wait_for(lambda: any(l.endswith("READY") for l in docker_logs(name)), "the Python service to be ready")
    pid = init_pid(name)
    reply = python_request(pid, "first-request")
    truth_file = Path(f"/proc/{pid}/root/tmp/pytruth.json")
    run("docker", "kill", "-s", "USR1", name)
    wait_for(truth_file.exists, "the Python service's truth file")
    time.sleep(0.5)  # the handler has returned: the main thread is back in accept
    stacks = json.loads(truth_file.read_text())
    before, after, t = checkpoint_with_truth(name, lambda: docker_checkpoint(sc, name, "checkpoint1"))
    images = copy_docker_checkpoint(sc, name, "checkpoint1")
    keep_python_layers(sc, name, version)
    record(sc, "checkpoint1", images, {"scenario": sc, "checkpoint": "checkpoint1", "container": name,
                                        "engine": "docker", "taken_at": t, "before": before, "after": after,
                                        "python": stacks, "reply": reply},
           engine="docker", container=name, docker_root=f"{sc}/docker-root")
    run("docker", "rm", "-f", name)


def keep_python_layers(sc: str, name: str, version: str) -> None:
    """The container's overlay2 layers as Docker stores them, holding only the interpreter: enough for a reader
    to find `_PyRuntime` through the Docker data root, and small (no standard library, no shared libraries)."""
    cid = container_id(name)
    out = OUT / sc / "docker-root"
    mounts = Path("image/overlay2/layerdb/mounts") / cid
    (out / mounts).mkdir(parents=True, exist_ok=True)
    shutil.copy2(DOCKER_ROOT / mounts / "mount-id", out / mounts / "mount-id")
    mount_id = (DOCKER_ROOT / mounts / "mount-id").read_text().strip()
    upper = Path("overlay2") / mount_id
    (out / upper / "diff").mkdir(parents=True, exist_ok=True)
    shutil.copy2(DOCKER_ROOT / upper / "lower", out / upper / "lower")
    for short in filter(None, (DOCKER_ROOT / upper / "lower").read_text().strip().split(":")):
        link = DOCKER_ROOT / "overlay2" / short
        (out / "overlay2" / short).parent.mkdir(parents=True, exist_ok=True)
        target = os.readlink(link)
        (out / "overlay2" / short).symlink_to(target)
        layer = (link.parent / target).resolve()
        exe = layer / "usr/bin" / f"python{version}"
        if exe.is_file():
            real = out / "overlay2" / layer.parent.name / "diff" / "usr/bin"
            real.mkdir(parents=True, exist_ok=True)
            shutil.copy2(exe, real / exe.name)
        else:
            (out / "overlay2" / layer.parent.name / "diff").mkdir(parents=True, exist_ok=True)


def scenario_python() -> None:
    """CPython 3.13 from the lab rootfs (Debian trixie)."""
    python_scenario("python", "cf-python", Path("/"), "3.13")


def scenario_python311() -> None:
    """CPython 3.11 from Debian bookworm (a minimal bookworm root the lab rootfs holds at /opt/bookworm)."""
    python_scenario("python311", "cf-python311", Path("/opt/bookworm"), "3.11")


def scenario_kubernetes() -> None:
    """kubelet's forensic checkpoint through containerd 2's CRI CheckpointContainer (kubernetes.py)."""
    import kubernetes
    kubernetes.scenario(sys.modules[__name__])
FLEET_IOC = "cf-ioc-beacon-91d2e7a4c3b8f065.evil.example"
# (container, engine, checkpoints): 2 Docker containers and 2 Podman ones, 8 checkpoints each.
FLEET = [("fleet-d1", "docker", 8), ("fleet-d2", "docker", 8), ("fleet-p1", "podman", 8), ("fleet-p2", "podman", 8)]
# Which checkpoints carry the IOC: (container, 1-based checkpoint number).
FLEET_PLANTED = {("fleet-d1", 3), ("fleet-d2", 6), ("fleet-p2", 5)}


def scenario_fleet() -> None:
    """A fleet for `forensics hunt`: 32 checkpoints of the service, 16 by Docker (directories in its data
    root) and 16 Podman exports (zstd archives), each after a different `add N`. In 3 of them the last
    control line the service received before the checkpoint was FLEET_IOC (an unknown command: it stays
    in the handler's stack buffer); right after those checkpoints a 128-byte filler line overwrites that
    buffer, so the IOC is in exactly those 3. Ground truth per checkpoint is the service's own `state`
    and whether it was planted: fleet/index.json (this scenario's own index; it has no crit reference
    and no /proc capture, so the per-sample tests of the other scenarios do not iterate over it)."""
    sc = "fleet"
    out = OUT / sc
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    podman = shutil.which("podman") is not None
    if podman:
        DAEMONS.podman_used = True
        run("sh", "-c", f"tar -C /tmp/img-service -c . | {' '.join(PODMAN)} import - localhost/cf-service:latest")
    step = 0
    for name, engine, count in FLEET:
        if engine == "podman" and not podman:
            raise RuntimeError("podman is not installed in the rootfs: the fleet needs it")
        if engine == "docker":
            pid, _ = start_service(name)
        else:
            run(*PODMAN, "run", "--network", "none", "--security-opt", "seccomp=unconfined", "--name", name, "-d",
                "-e", f"SERVICE_TOKEN={SERVICE_TOKEN}", "localhost/cf-service",
                "/usr/local/bin/service", "--port", str(SERVICE_PORT), "--dir", "/tmp")
            wait_for(lambda: "READY" in run(*PODMAN, "logs", name, check=False).stdout, "the podman service")
            pid = int(run(*PODMAN, "inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
        for i in range(1, count + 1):
            step += 1
            replies = [control(pid, f"add {step * 7 + i}")]
            planted = (name, i) in FLEET_PLANTED
            if planted:
                replies.append(control(pid, FLEET_IOC))
            ckpt = f"ck{i:02d}"
            t0 = time.time()
            if engine == "docker":
                docker_checkpoint(sc, name, ckpt)
                t1 = time.time()
                images = copy_docker_checkpoint(sc, name, ckpt)
                where = {"images": str(images.relative_to(OUT)), "archive": None,
                         "docker_root": f"{sc}/docker-root"}
            else:
                archive = out / f"{name}-{ckpt}.tar.zst"
                run(*PODMAN, "container", "checkpoint", "--leave-running", "--export", str(archive), name)
                t1 = time.time()
                where = {"images": None, "archive": str(archive.relative_to(OUT))}
            if planted:
                control(pid, "x" * 127)
            state = json.loads(control(pid, "state"))
            entries.append({"scenario": sc, "name": f"{name}/{ckpt}", "engine": engine, "container": name,
                            "checkpoint": ckpt, "taken_at": (t0 + t1) / 2, "planted": planted,
                            "service_state": state, "control_replies": replies, **where})
        if engine == "docker":
            run("docker", "rm", "-f", name)
        else:
            run(*PODMAN, "rm", "-f", "-t", "0", name)
    (out / "index.json").write_text(json.dumps({"ioc": FLEET_IOC, "baseline": "fleet-d1/ck01",
                                                "checkpoints": entries}, indent=1) + "\n")
def scenario_goservice() -> None:
    """A static Go service (lab/goservice): goroutines that logged their ids and functions (the truth),
    checkpointed once by `docker checkpoint create --leave-running`."""
    sc, name = "goservice", "gosvc"
    import_goservice()
    # Go >= 1.24 listens with MPTCP, which CRIU 4.2 cannot dump ("Unsupported proto 262"): plain TCP.
    run("docker", "run", "--security-opt=seccomp:unconfined", "--name", name, "-d",
        "-e", "GODEBUG=multipathtcp=0", "cf-goservice", "/usr/local/bin/goservice")
    wait_for(lambda: any(l.endswith("READY") for l in docker_logs(name)), "the Go service to be ready")
    state = json.loads(next(l.split(" ", 1)[1] for l in docker_logs(name) if " {" in l))
    before, after, t = checkpoint_with_truth(name, lambda: docker_checkpoint(sc, name, "checkpoint1"))
    images = copy_docker_checkpoint(sc, name, "checkpoint1")
    record(sc, "checkpoint1", images, {"scenario": sc, "checkpoint": "checkpoint1", "container": name,
                                        "engine": "docker", "taken_at": t, "before": before, "after": after,
                                        "go_state": state}, engine="docker", container=name,
           docker_root=f"{sc}/docker-root", binary="goservice-bin/goservice")
    run("docker", "rm", "-f", name)


SCENARIOS = {
    "counter": scenario_counter,
    "service": scenario_service,
    "service-tcp": scenario_service_tcp,
    "incremental": scenario_incremental,
    "failures": scenario_failures,
    "podman": scenario_podman,
    "shell": scenario_shell,
    "python": scenario_python,
    "python311": scenario_python311,
    "kubernetes": scenario_kubernetes,
    "fleet": scenario_fleet,
    "goservice": scenario_goservice,
    "bench": scenario_bench,
    "serve": scenario_serve,
}
# Run only when named (e.g. `bench:1024`, `bench:procs`); `main([])` leaves them out.
OPTIONAL = {"bench", "serve"}
DAEMONS = Daemons()


def _terminate(signum: int, frame: object) -> None:
    # A SIGTERM (a timeout, Ctrl-C upstream) must still run the clean-up in main's `finally`.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    wanted = argv or [s for s in SCENARIOS if s not in OPTIONAL]
    unknown = [w for w in wanted if w.split(":")[0] not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {unknown}; known: {list(SCENARIOS)}", file=sys.stderr)
        return 2
    versions = {}
    for cmd in (["criu", "--version"], ["runc", "--version"], ["containerd", "--version"],
                ["dockerd", "--version"], ["podman", "--version"], ["uname", "-r"]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        versions[cmd[0]] = (p.stdout or p.stderr).strip()
    failed = []
    try:
        DAEMONS.start()
        import_images(wanted)
        for w in wanted:
            log(f"scenario {w}")
            try:
                name, _, arg = w.partition(":")
                SCENARIOS[name](*([arg] if arg else []))
            except Exception as e:  # noqa: BLE001 - one scenario's failure is reported, the rest still run
                log(f"scenario {w} FAILED: {e}")
                failed.append({"scenario": w, "error": str(e)[-3000:]})
                run("sh", "-c", "docker ps -aq | xargs -r docker rm -f", check=False)
    finally:
        DAEMONS.stop()
        (OUT / "index.json").write_text(json.dumps(INDEX, indent=1) + "\n")
        (OUT / "lab.json").write_text(json.dumps({"versions": versions, "scenarios": wanted,
                                                  "failed": failed, "made_at": time.time()}, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
