"""Scenario `kubernetes`: a forensic container checkpoint made the way kubelet makes one (KEP-2008).

kubelet's `POST /checkpoint/<namespace>/<pod>/<container>` calls the runtime's CRI `CheckpointContainer`
with a location under /var/lib/kubelet/checkpoints. Here there is no kubelet: a small CRI client (the CRI
api.proto from Debian's golang-github-kubernetes-cri-api-dev, compiled now by grpcio-tools) makes the same
calls kubelet would against containerd 2.1's CRI plugin (sid's containerd, unpacked under /opt/containerd2
by build-rootfs.sh, beside the containerd 1.7 that Docker uses, with its own config, root, state and socket;
it runs the rootfs's runc 1.1 and CRIU 4.2):

1. RunPodSandbox (name, namespace, uid, kubelet's labels) with the pod's own network namespace: loopback
   and a `tap` interface from CNI's tap plugin (the kernel here has no dummy or veth links; nothing is added
   to the host's network);
2. CreateContainer + StartContainer for `counter` (the seed's busybox counter) and `service` (the lab's
   service program), with kubelet's labels; the images are served by a read-only registry on loopback
   (below: containerd's CRI restore pulls the base image by digest) and imported into containerd's k8s.io
   namespace from the same OCI layout;
3. CheckpointContainer of each container to
   /var/lib/kubelet/checkpoints/checkpoint-<pod>_<namespace>-<container>-<RFC 3339 time>.tar, twice,
   some seconds apart, with /proc truth before and after;
4. the restore check: CreateContainer with the counter's second archive as its image (containerd's CRI
   restore path) in the same pod, StartContainer, and the restored counter must go on from where the
   checkpoint left it.

Called from inside.py (`scenario(lab)`, lab being inside.py's module) and uses its helpers.
Standard library plus python3-grpcio/grpc-tools from the rootfs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CTRD = Path("/opt/containerd2/usr/bin")
CNI_BIN = Path("/opt/cni/usr/lib/cni")
CRI_PROTO = Path("/opt/cri-api/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto")
STATE = Path("/run/containerd2")
SOCK = STATE / "containerd.sock"
ROOT = Path("/var/lib/containerd2")
CONF = Path("/etc/containerd2")
CHECKPOINTS = Path("/var/lib/kubelet/checkpoints")
POD, NAMESPACE, POD_UID = "cf-web", "forensics-lab", "5d1c7f3e-9a2b-4c6d-8e0f-1a2b3c4d5e6f"
# containerd 2.1's CRI restore always pulls the checkpoint's base image by the digest reference config.dump
# records (container_checkpoint_linux.go: c.client.Pull(ctx, config.RootfsImageRef)), so the images live in
# a small read-only registry on loopback (below) as a node's images would, and are imported from it.
REGISTRY = "localhost:47231"
PAUSE_IMAGE = f"{REGISTRY}/cf/pause:latest"
IMAGES = {"counter": f"{REGISTRY}/cf/busybox:latest", "service": f"{REGISTRY}/cf/service:latest"}
PAUSE_C = "#include <signal.h>\n#include <unistd.h>\nint main(void){for(;;)pause();}\n"
SC = "kubernetes"

CONFIG = f"""version = 3
root = "{ROOT}"
state = "{STATE}"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]

[grpc]
  address = "{SOCK}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = false
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{CNI_BIN}"]
    conf_dir = "{CONF}/net.d"
"""

CNI_CONF = {"cniVersion": "1.0.0", "name": "cf-pod", "plugins": [
    {"type": "tap", "ipam": {"type": "host-local", "subnet": "10.250.0.0/24",
                               "dataDir": str(ROOT / "cni-ipam")}}]}


def cri_modules() -> tuple[Any, Any]:
    """api_pb2 / api_pb2_grpc compiled from Debian's CRI api.proto (gogoproto options dropped: they only
    steer Go code generation)."""
    work = Path("/tmp/cri-api")
    work.mkdir(exist_ok=True)
    text = "".join(line for line in CRI_PROTO.read_text().splitlines(keepends=True) if "gogoproto" not in line)
    (work / "api.proto").write_text(text)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{work}", f"--python_out={work}",
                    f"--grpc_python_out={work}", str(work / "api.proto")], check=True)
    sys.path.insert(0, str(work))
    import api_pb2  # type: ignore[import-not-found]
    import api_pb2_grpc  # type: ignore[import-not-found]
    return api_pb2, api_pb2_grpc


class Kubelet:
    """The CRI calls kubelet makes, nothing more."""

    def __init__(self, lab: Any) -> None:
        import grpc
        self.lab = lab
        self.pb, pbg = cri_modules()
        self.channel = grpc.insecure_channel(f"unix://{SOCK}")
        self.rt = pbg.RuntimeServiceStub(self.channel)
        self.img = pbg.ImageServiceStub(self.channel)

    def call(self, stub: Any, method: str, request: Any, timeout: float = 120) -> Any:
        self.lab.log(f"CRI {method}")
        return getattr(stub, method)(request, timeout=timeout)

    def version(self) -> Any:
        return self.call(self.rt, "Version", self.pb.VersionRequest(version="v1"))

    def sandbox_config(self) -> Any:
        pb = self.pb
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=POD, namespace=NAMESPACE, uid=POD_UID, attempt=0),
            hostname=POD,
            log_directory=str(POD_LOGS),
            labels={"io.kubernetes.pod.name": POD, "io.kubernetes.pod.namespace": NAMESPACE,
                    "io.kubernetes.pod.uid": POD_UID, "app": POD},
            annotations={"kubernetes.io/config.source": "api", "kubernetes.io/config.seen": "lab"},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=f"/kubepods/besteffort/pod{POD_UID}",
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD))))

    def run_pod(self) -> tuple[str, Any]:
        cfg = self.sandbox_config()
        r = self.call(self.rt, "RunPodSandbox", self.pb.RunPodSandboxRequest(config=cfg))
        return r.pod_sandbox_id, cfg

    def container_config(self, name: str, image: str, command: list[str], envs: dict[str, str]) -> Any:
        pb = self.pb
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0),
            image=pb.ImageSpec(image=image),
            command=command,
            envs=[pb.KeyValue(key=k, value=v) for k, v in envs.items()],
            labels={"io.kubernetes.container.name": name, "io.kubernetes.pod.name": POD,
                    "io.kubernetes.pod.namespace": NAMESPACE, "io.kubernetes.pod.uid": POD_UID},
            annotations={"io.kubernetes.container.hash": "0", "io.kubernetes.container.restartCount": "0",
                         "io.kubernetes.pod.terminationGracePeriod": "30"},
            log_path=f"{name}/0.log",
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD),
                seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined))))

    def create_start(self, pod_id: str, pod_cfg: Any, cfg: Any) -> str:
        r = self.call(self.rt, "CreateContainer", self.pb.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=cfg, sandbox_config=pod_cfg))
        self.call(self.rt, "StartContainer", self.pb.StartContainerRequest(container_id=r.container_id))
        return r.container_id

    def status(self, cid: str) -> tuple[Any, dict]:
        r = self.call(self.rt, "ContainerStatus", self.pb.ContainerStatusRequest(container_id=cid, verbose=True))
        info = json.loads(r.info["info"]) if "info" in r.info else {}
        return r.status, info

    def pid(self, cid: str) -> int:
        return int(self.status(cid)[1]["pid"])

    def checkpoint(self, cid: str, location: Path) -> None:
        self.call(self.rt, "CheckpointContainer", self.pb.CheckpointContainerRequest(
            container_id=cid, location=str(location), timeout=120), timeout=180)

    def stop_pod(self, pod_id: str) -> None:
        for method, req in (("StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=pod_id)),
                            ("RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))):
            try:
                self.call(self.rt, method, req, timeout=60)
            except Exception as e:  # noqa: BLE001 - clean-up goes on; the sweep below stops the rest
                self.lab.log(f"CRI {method} failed: {e}")


def kubelet_location(container: str, when: float) -> Path:
    """kubelet's name: checkpoint-<pod full name>-<container>-<time.Now().Format(time.RFC3339)>.tar,
    the pod full name being <pod>_<namespace> (pkg/kubelet/kubelet.go, CheckpointContainer)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    return CHECKPOINTS / f"checkpoint-{POD}_{NAMESPACE}-{container}-{stamp}.tar"


def start_containerd(lab: Any) -> int:
    # CNI's tap plugin opens /dev/net/tun; the lab's /dev is the rootfs's own small one.
    tun = Path("/dev/net/tun")
    if not tun.exists():
        tun.parent.mkdir(exist_ok=True)
        os.mknod(tun, 0o666 | 0o020000, os.makedev(10, 200))
    (CONF / "net.d").mkdir(parents=True, exist_ok=True)
    (CONF / "config.toml").write_text(CONFIG)
    (CONF / "net.d" / "10-cf-pod.conflist").write_text(json.dumps(CNI_CONF, indent=1) + "\n")
    logs = lab.OUT / "daemon-logs"
    logs.mkdir(exist_ok=True)
    # Its own shim first in PATH (the 1.7 shim is in /usr/bin); runc and criu from the rootfs.
    env = {"PATH": f"{CTRD}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
    with open(logs / "containerd2.log", "ab") as f:
        p = subprocess.Popen([str(CTRD / "containerd"), "--config", str(CONF / "config.toml")], stdout=f,
                             stderr=f, stdin=subprocess.DEVNULL, close_fds=True, start_new_session=True, env=env)
    lab.DAEMONS.pids.append(p.pid)
    lab.log(f"started containerd 2 pid {p.pid}")
    lab.wait_for(lambda: SOCK.exists(), "containerd 2's socket")
    return p.pid


def ctr(lab: Any, *args: str, input_cmd: str | None = None) -> Any:
    base = f"{CTRD}/ctr --address {SOCK} -n k8s.io"
    if input_cmd:
        return lab.run("sh", "-c", f"{input_cmd} | {base} {' '.join(args)}", timeout=300)
    return lab.run(*base.split(), *args, timeout=300)


class Registry:
    """A read-only OCI distribution endpoint on 127.0.0.1 serving an OCI image layout (what `docker save`
    writes): GET/HEAD /v2/, /v2/<name>/manifests/<tag or digest>, /v2/<name>/blobs/<digest>. Enough for
    containerd to pull by digest; nothing can be pushed."""

    def __init__(self, layout: Path) -> None:
        import http.server
        import threading
        index = json.loads((layout / "index.json").read_text())
        tags = {}
        for m in index.get("manifests", []):
            name = m.get("annotations", {}).get("io.containerd.image.name", "")
            if name.startswith(REGISTRY + "/"):
                tags[name[len(REGISTRY) + 1:]] = m["digest"]
        blobs = layout / "blobs" / "sha256"

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.answer(body=False)

            def do_GET(self) -> None:
                self.answer(body=True)

            def answer(self, body: bool) -> None:
                m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", self.path)
                if self.path == "/v2/":
                    data, ctype, digest = b"{}", "application/json", None
                elif m:
                    ref = m[3] if m[3].startswith("sha256:") else tags.get(f"{m[1]}:{m[3]}")
                    f = blobs / ref.split(":", 1)[1] if ref and re.fullmatch(r"sha256:[0-9a-f]{64}", ref) else None
                    if f is None or not f.is_file():
                        self.send_error(404)
                        return
                    data, digest = f.read_bytes(), ref
                    ctype = "application/octet-stream"
                    if m[2] == "manifests":
                        ctype = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if body:
                    self.wfile.write(data)

        port = REGISTRY.rsplit(":", 1)[1]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build_images(lab: Any) -> Path:
    """The pause image (a static `for(;;) pause();`) and the lab's busybox and service images, named for
    the loopback registry and saved from the lab's dockerd as an OCI layout."""
    base = Path("/tmp/img-pause")
    (base / "dev").mkdir(parents=True, exist_ok=True)
    (base / "proc").mkdir(exist_ok=True)
    Path("/tmp/pause.c").write_text(PAUSE_C)
    lab.run("gcc", "-static", "-O2", "-o", str(base / "pause"), "/tmp/pause.c")
    lab.run("sh", "-c", f"tar -C {base} -c . | docker import -c 'ENTRYPOINT [\"/pause\"]' - {PAUSE_IMAGE}")
    lab.run("docker", "tag", "busybox:latest", IMAGES["counter"])
    lab.run("docker", "tag", "cf-service:latest", IMAGES["service"])
    layout = Path("/tmp/k8s-oci")
    layout.mkdir(exist_ok=True)
    lab.run("sh", "-c", f"docker save {PAUSE_IMAGE} {' '.join(IMAGES.values())} | tar -C {layout} -x")
    return layout


def import_images(lab: Any, layout: Path) -> None:
    """Into containerd's k8s.io namespace (CRI's), from the same OCI layout the registry serves."""
    ctr(lab, "images", "import", "-", input_cmd=f"tar -C {layout} -c .")
    # A pull would also have named each image by its digest (name@sha256:...); the CRI then reports that
    # as the container's image_ref, which config.dump keeps and containerd's restore looks up. Without it
    # the ref is the bare image id, which the restore tries to pull from a registry.
    for line in ctr(lab, "images", "ls").stdout.splitlines()[1:]:
        ref, _, digest = line.split()[:3]
        if ref in (PAUSE_IMAGE, *IMAGES.values()):
            ctr(lab, "images", "tag", ref, f"{ref.rsplit(':', 1)[0]}@{digest}")
    ctr(lab, "images", "ls")


def log_lines(path: Path) -> list[str]:
    """The container's output from its CRI log (`<time> stdout F <line>` per line)."""
    try:
        return [line.split(" ", 3)[3] for line in path.read_text().splitlines() if line.count(" ") >= 3]
    except OSError:
        return []


def archive_facts(archive: Path, dest: Path) -> dict:
    """Unpack the archive (here in the lab only) for crit's reference decoding and the truth file."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(dest), "-xf", str(archive)], check=True)
    facts: dict = {"members": sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()),
                   "magic": archive.read_bytes()[:8].hex()}
    for name in ("config.dump", "status.dump", "spec.dump"):
        try:
            doc = json.loads((dest / name).read_text())
        except (OSError, ValueError):
            continue
        if name == "spec.dump":
            doc = {"annotations": doc.get("annotations", {})}
        facts[name] = doc
    return facts


POD_LOGS = Path(f"/var/log/pods/{NAMESPACE}_{POD}_{POD_UID}")


def scenario(lab: Any) -> None:
    out = lab.OUT / SC
    # These live on the rootfs's disk, not on the lab's tmpfs: a previous run's containerd state, pod logs
    # (which the archive's container.log copies) and archives must not leak into this one.
    for stale in (ROOT, CHECKPOINTS, POD_LOGS, CONF):
        shutil.rmtree(stale, ignore_errors=True)
    (out / "kubelet" / "checkpoints").mkdir(parents=True, exist_ok=True)
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    start_containerd(lab)
    kubelet = Kubelet(lab)
    v = kubelet.version()
    versions = {"runtime_name": v.runtime_name, "runtime_version": v.runtime_version,
                "runtime_api_version": v.runtime_api_version}
    lab.log(f"CRI runtime {versions}")
    layout = build_images(lab)
    registry = Registry(layout)
    import_images(lab, layout)
    pod_id = None
    try:
        pod_id, pod_cfg = kubelet.run_pod()
        ids = {
            "counter": kubelet.create_start(pod_id, pod_cfg, kubelet.container_config(
                "counter", IMAGES["counter"], ["/bin/sh", "-c", lab.SEED_CMD], {})),
            "service": kubelet.create_start(pod_id, pod_cfg, kubelet.container_config(
                "service", IMAGES["service"], ["/usr/local/bin/service", "--port", str(lab.SERVICE_PORT),
                                               "--dir", "/tmp"], {"SERVICE_TOKEN": lab.SERVICE_TOKEN})),
        }
        logs = {n: POD_LOGS / n / "0.log" for n in ids}
        lab.wait_for(lambda: len(log_lines(logs["counter"])) >= 3, "the counter to print")
        lab.wait_for(lambda: any(x.endswith("READY") for x in log_lines(logs["service"])), "the service")
        startup = json.loads(next(x for x in log_lines(logs["service"]) if x.startswith("{")))
        pids = {n: kubelet.pid(cid) for n, cid in ids.items()}
        plan = {"checkpoint1": ["add 4", "shared 5"], "checkpoint2": ["add 1006", "shared 3"]}
        archives: dict[str, dict[str, Path]] = {n: {} for n in ids}
        for step, cmds in plan.items():
            replies = [lab.control(pids["service"], c) for c in cmds]
            for name, cid in ids.items():
                status, info = kubelet.status(cid)
                lines_before = log_lines(logs[name])
                before = lab.truth.capture(pids[name])
                t0 = time.time()
                location = kubelet_location(name, t0)
                kubelet.checkpoint(cid, location)
                t1 = time.time()
                after = lab.truth.capture(pids[name])
                lines_after = log_lines(logs[name])
                kept = out / "kubelet" / "checkpoints" / location.name
                shutil.copy2(location, kept)
                archives[name][step] = location
                ck = f"{name}-{step}"
                unpacked = Path("/tmp/k8s-unpack") / ck
                facts = archive_facts(location, unpacked)
                doc = {"scenario": SC, "checkpoint": ck, "container": name, "container_id": cid,
                       "engine": "containerd", "pod": POD, "namespace": NAMESPACE, "pod_uid": POD_UID,
                       "pod_sandbox_id": pod_id, "image": IMAGES[name], "image_ref": status.image_ref,
                       "runtime": info.get("runtimeType"), "cri": versions, "location": str(location),
                       "taken_at": (t0 + t1) / 2, "requested_at": t0, "returned_at": t1,
                       "before": before, "after": after, "archive": facts}
                if name == "counter":
                    doc.update(command=lab.SEED_CMD, last_logged_before=lines_before[-1],
                               last_logged_after=lines_after[-1])
                else:
                    doc.update(service_state=json.loads(lab.control(pids[name], "state")),
                               control_replies=replies, startup=startup, service_token=lab.SERVICE_TOKEN,
                               heap_secret="CF-HEAP-SECRET-5f2a9c71d3e84b06")
                crit_dir = out / "crit" / ck
                lab.crit_reference(unpacked / "checkpoint", crit_dir)
                truth_path = out / "truth" / f"{ck}.json"
                truth_path.parent.mkdir(parents=True, exist_ok=True)
                truth_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
                entry = {"scenario": SC, "name": ck, "archive": str(kept.relative_to(lab.OUT)), "images": None,
                         "crit": str(crit_dir.relative_to(lab.OUT)), "truth": str(truth_path.relative_to(lab.OUT)),
                         "engine": "containerd", "container": name, "pod": POD, "namespace": NAMESPACE}
                if name == "service":
                    entry["binary"] = "service-bin/service"
                lab.INDEX.append(entry)
            time.sleep(5 if step == "checkpoint1" else 1)
        restore = restore_check(lab, kubelet, pod_id, pod_cfg, archives["counter"]["checkpoint2"])
        (out / "restore.json").write_text(json.dumps(restore, indent=1) + "\n")
        if not restore["resumed_from_checkpoint"]:
            raise RuntimeError(f"the restored counter did not resume from the checkpoint: {restore}")
    finally:
        if pod_id:
            kubelet.stop_pod(pod_id)
        kubelet.channel.close()
        registry.close()
        ensure_clean(lab)


def restore_check(lab: Any, kubelet: Any, pod_id: str, pod_cfg: Any, archive: Path) -> dict:
    """containerd's CRI restore: CreateContainer whose image is the checkpoint archive (as kubelet does
    for a pod spec naming a checkpoint), in the same pod; the restored shell must go on counting from the
    value it had at the checkpoint, not from 0."""
    truth = json.loads((lab.OUT / SC / "truth" / "counter-checkpoint2.json").read_text())
    # The pod spec's container, as kubelet would send it, with the archive as its image.
    cfg = kubelet.container_config("counter-restored", str(archive), ["/bin/sh", "-c", lab.SEED_CMD], {})
    started = time.time()
    cid = kubelet.create_start(pod_id, pod_cfg, cfg)
    log = POD_LOGS / "counter-restored" / "0.log"
    # containerd copies the archive's container.log to the new container's log; what the restored shell
    # printed follows the last value it holds. A fresh start would print 0, 1, ... instead.
    archived = [int(x) for x in log_lines(Path("/tmp/k8s-unpack/counter-checkpoint2/container.log"))
                if re.fullmatch(r"\d+", x)]
    last = archived[-1] if archived else None

    def printed_after() -> list[int]:
        numbers = [int(x) for x in log_lines(log) if re.fullmatch(r"\d+", x)]
        start = max((i for i, n in enumerate(numbers) if n == last), default=-1) + 1
        return numbers[start:]

    try:
        lab.wait_for(lambda: len(printed_after()) >= 3, "the restored counter to print", timeout=30)
    except RuntimeError as e:
        lab.log(str(e))
    status, info = kubelet.status(cid)
    lines = log_lines(log)
    at_checkpoint = truth["last_logged_after"]
    after = printed_after()
    resumed = last is not None and len(after) >= 2 and after == list(range(last + 1, last + 1 + len(after)))
    return {"archive": str(archive), "container_id": cid, "started": started,
            "state": kubelet.pb.ContainerState.Name(status.state), "annotations": dict(status.annotations),
            "pid": info.get("pid"), "log_tail": lines[-20:], "last_logged_at_checkpoint": at_checkpoint,
            "last_in_archived_log": last,
            "printed_after_restore": after, "resumed_from_checkpoint": resumed,
            "running": status.state == kubelet.pb.CONTAINER_RUNNING}


def ensure_clean(lab: Any) -> None:
    """Nothing of the scenario may outlive it: the pod's containers were stopped through CRI; the shims
    and containerd itself are stopped by inside.py's sweep of the lab's mount namespace."""
    left = [p for p in os.listdir("/proc") if p.isdigit() and _in_pod_cgroup(p)]
    for pid in left:
        lab._stop_pid(int(pid))
    # The pod's cgroup directory (cgroup_parent above), emptied by runc, then its parents if they are empty
    # (rmdir refuses a cgroup with processes or children).
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        pod = hierarchy / "kubepods" / "besteffort" / f"pod{POD_UID}"
        leftovers = sorted((p for p in pod.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for d in (*leftovers, pod, pod.parent, pod.parent.parent):
            try:
                d.rmdir()
            except OSError:
                pass


def _in_pod_cgroup(pid: str) -> bool:
    try:
        return f"pod{POD_UID}" in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
