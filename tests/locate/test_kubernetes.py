"""Kubernetes forensic checkpoints: archives written by containerd 2.1's CRI CheckpointContainer at the
paths kubelet gives it (lab scenario `kubernetes`), read in place, against what the scenario created and
what /proc said when each was taken.

Each test runs on the bundled archives and on a fresh lab run (`run_root`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forensics.diff.compare import diff_checkpoints
from forensics.loader import load_checkpoint
from forensics.locate import find_checkpoints
from forensics.locate.listing import apply_kubelet_name, archive_listing, parse_kubelet_name
from forensics.meta import CheckpointMeta
from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.records import TimeSource
from tests.conftest import REPO, Sample, load_samples
from tests.model.test_inspect_truth import proc_maps_as_criu_saves_them, stable

SC = "kubernetes"
_cache: dict[Path, Checkpoint] = {}


def kube(root: Path) -> dict[str, Sample]:
    found = {s.name: s for s in load_samples(root) if s.scenario == SC}
    assert set(found) == {f"{c}-checkpoint{i}" for c in ("counter", "service") for i in (1, 2)}, sorted(found)
    return found


def model(s: Sample) -> Checkpoint:
    assert s.archive is not None
    if s.archive not in _cache:
        _cache[s.archive] = load_checkpoint(s.archive)
    return _cache[s.archive]


def test_archives_are_kubelet_style_plain_tars(run_root: Path) -> None:
    for s in kube(run_root).values():
        t = s.truth
        assert s.archive is not None and s.archive.parent.parts[-2:] == ("kubelet", "checkpoints")
        assert Path(t["location"]).parent == Path("/var/lib/kubelet/checkpoints")
        assert s.archive.name == Path(t["location"]).name
        assert s.archive.name.startswith(f"checkpoint-{t['pod']}_{t['namespace']}-{t['container']}-")
        head = s.archive.read_bytes()[:512]
        assert head[257:262] == b"ustar", s                      # containerd writes a plain tar
        members = set(t["archive"]["members"])
        assert {"config.dump", "spec.dump", "status.dump", "checkpoint/inventory.img"} <= members, s


def test_metadata_names_pod_namespace_container_image(run_root: Path) -> None:
    """What locate reads from the archive's own config.dump, spec.dump and status.dump, against what the
    scenario asked the CRI for and what containerd wrote."""
    for s in kube(run_root).values():
        t = s.truth
        ck = model(s)
        i = ck.info
        assert (i.engine, i.layout) == ("containerd", "container-archive"), s
        assert (i.pod, i.namespace, i.pod_uid) == (t["pod"], t["namespace"], t["pod_uid"]), s
        assert (i.container_name, i.container_id) == (t["container"], t["container_id"]), s
        assert i.image == t["image"] and i.image_ref == t["image_ref"], s
        assert i.image_ref.startswith(t["image"].rsplit(":", 1)[0] + "@sha256:"), s
        assert i.runtime == "io.containerd.runc.v2" == t["runtime"], s
        when = i.checkpoint_time
        # config.dump's checkpointedTime is stamped inside the CRI call.
        assert when is not None and when.source == TimeSource.ENGINE, s
        assert t["requested_at"] <= when.utc.timestamp() <= t["returned_at"], s
        assert ck.errors == [] and not ck.partial, s
        assert ck.warnings == [], s


def test_inspect_json_carries_pod(run_root: Path) -> None:
    s = kube(run_root)["service-checkpoint2"]
    p = subprocess.run([sys.executable, "-m", "forensics", "inspect", "--json", str(s.archive)],
                       capture_output=True, text=True, cwd=REPO, check=False)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)["checkpoint"]
    c = doc["container"]
    assert (c["pod"], c["namespace"], c["pod_uid"]) == ("cf-web", "forensics-lab", s.truth["pod_uid"])
    assert c["name"] == "service" and c["runtime"] == "io.containerd.runc.v2"
    assert c["image"] == s.truth["image"] and c["image_ref"] == s.truth["image_ref"]
    assert doc["time"]["source"] == "engine metadata"
    assert doc["engine"] == "containerd"


def test_every_process_thread_fd_and_map_against_proc(run_root: Path) -> None:
    for s in kube(run_root).values():
        ck = model(s)
        truth = s.truth
        dumped = {e["pid"] for e in s.crit_json("pstree.img")["entries"]}
        assert {p.pid for p in ck.processes} == dumped, s
        for pid, t in stable(truth).items():
            p = ck.process(pid)
            assert p is not None, f"{s}: pid {pid}"
            assert (p.ppid, p.comm, p.argv, p.env) == (t["ppid"], t["comm"], t["argv"], t["env"]), s
            assert sorted((x.tid, x.comm) for x in p.threads) == sorted((x["tid"], x["comm"]) for x in t["threads"])
            fds = {fd.fd: fd for fd in p.fds}
            assert sorted(fds) == [x["fd"] for x in t["fds"]], f"{s}: fds of {pid}"
            for x in t["fds"]:
                fd, target = fds[x["fd"]], x["target"]
                where = f"{s}: pid {pid} fd {x['fd']} ({target})"
                if target.startswith("socket:["):
                    assert isinstance(fd.file, (f.UnixSocket, f.InetSocket)), where
                    assert fd.file.ino == int(target[8:-1]), where
                elif target.startswith("pipe:["):
                    assert isinstance(fd.file, f.Pipe) and fd.file.pipe_id == int(target[6:-1]), where
                elif target.startswith("anon_inode:"):
                    assert not isinstance(fd.file, (f.RegularFile, f.Pipe)), where
                elif target.startswith("/memfd:"):
                    assert isinstance(fd.file, f.Memfd), where
                else:
                    assert isinstance(fd.file, (f.RegularFile, f.Tty, f.Fifo)), where
                    assert fd.file.path == target, where
                assert fd.cloexec == bool(int(x["fdinfo"]["flags"], 8) & 0o2000000), where
            vmas = [(v.start, v.end, v.prot_str + ("s" if v.shared else "p")) for v in p.vmas if v.kind != "guard"]
            assert vmas == proc_maps_as_criu_saves_them(t["maps"], vmas), f"{s}: maps of {pid}"


def test_service_sockets_and_counters(run_root: Path) -> None:
    """The service in the pod: its listener in the pod's own network namespace, against /proc/net/tcp, and
    the values it set up on purpose."""
    for name in ("service-checkpoint1", "service-checkpoint2"):
        s = kube(run_root)[name]
        st = s.truth["service_state"]
        p = model(s).process(st["pid"])
        fds = {fd.fd: fd.file for fd in p.fds}
        listener = fds[3]
        assert isinstance(listener, f.InetSocket) and listener.state == "LISTEN"
        assert listener.local == "127.0.0.1:8080"
        tcp = [line.split() for line in s.truth["before"]["net"]["tcp"][1:]]
        assert [(c[1], c[3]) for c in tcp if int(c[9]) == listener.ino] == [("0100007F:1F90", "0A")]
        assert isinstance(fds[4], f.UnixSocket) and fds[4].name == "/tmp/svc.sock"
        assert isinstance(fds[5], f.UnixSocket) and fds[5].queued_bytes == 18
        assert isinstance(fds[10], f.EventFd) and fds[10].count == 42
        assert p.env["SERVICE_TOKEN"] == s.truth["service_token"]
    one, two = (kube(run_root)[n].truth["service_state"] for n in ("service-checkpoint1", "service-checkpoint2"))
    assert (one["request_counter"], two["request_counter"]) == (4, 1010)


def test_diff_shows_the_counter_moving(run_root: Path) -> None:
    """The seed's counter: `i` in the shell's heap moved between the two checkpoints, by about the seconds
    between them, and lies between what the container had logged just before and just after each."""
    k = kube(run_root)
    s1, s2 = k["counter-checkpoint1"], k["counter-checkpoint2"]
    d = diff_checkpoints(model(s1), model(s2))
    moved = [v for v in d.values if v.type == "str" and v.noise is None and v.old.startswith("i=")]
    assert len(moved) == 1, d.values
    old, new = int(moved[0].old[2:]), int(moved[0].new[2:])
    t1, t2 = s1.truth, s2.truth
    assert int(t1["last_logged_before"]) <= old <= int(t1["last_logged_after"]) + 1
    assert int(t2["last_logged_before"]) <= new <= int(t2["last_logged_after"]) + 1
    assert new - old >= int(t2["taken_at"] - t1["taken_at"]) - 2
    assert moved[0].pid == 1 and moved[0].where == "[heap]"


def test_diff_shows_the_service_counters_exactly(run_root: Path) -> None:
    k = kube(run_root)
    s1, s2 = k["service-checkpoint1"], k["service-checkpoint2"]
    d = diff_checkpoints(model(s1), model(s2))
    st1, st2 = s1.truth["service_state"], s2.truth["service_state"]
    by_addr = {v.address: v for v in d.values if v.pid == st2["pid"]}
    rc = by_addr[st2["addr"]["request_counter"]]
    assert (rc.old, rc.new) == (st1["request_counter"], st2["request_counter"]) == (4, 1010)
    sc = by_addr[st2["addr"]["shared_counter"]]
    assert (sc.old, sc.new) == (st1["shared_counter"], st2["shared_counter"]) == (12, 15)


def test_restore_through_cri_resumed_the_counter(run_root: Path) -> None:
    """The scenario restored the counter's second archive into a new container with CRI CreateContainer
    (the archive as image): it ran on from the checkpointed value instead of starting again at 0."""
    restore = json.loads((run_root / SC / "restore.json").read_text())
    ck2 = kube(run_root)["counter-checkpoint2"]
    assert restore["archive"] == ck2.truth["location"]
    assert restore["running"] and restore["annotations"]["restored"] == "true"
    after, last = restore["printed_after_restore"], restore["last_in_archived_log"]
    assert restore["resumed_from_checkpoint"] and len(after) >= 2
    assert after == list(range(last + 1, last + 1 + len(after)))
    assert last == int(ck2.truth["last_logged_after"])


def test_ls_reads_kubelets_directory(run_root: Path) -> None:
    k = kube(run_root)
    directory = next(iter(k.values())).archive.parent
    found = list(find_checkpoints([directory]))
    assert len(found) == 4
    times = [m.checkpoint_time for m in found]
    by_path = {m.path.name: m for m in found}
    for s in k.values():
        m = by_path[s.archive.name]
        t = s.truth
        assert (m.pod, m.namespace, m.container_name, m.engine) == (t["pod"], t["namespace"], t["container"],
                                                                    "containerd")
        assert m.warnings == []
    p = subprocess.run([sys.executable, "-m", "forensics", "ls", "--json", str(directory)],
                       capture_output=True, text=True, cwd=REPO, check=False)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["checkpoints"]
    assert [r["time"]["utc"] for r in rows] == sorted(t.utc.isoformat().replace("+00:00", "Z")
                                                      for t in times if t is not None)
    assert {(r["pod"], r["namespace"], r["container"]) for r in rows} == {
        ("cf-web", "forensics-lab", "counter"), ("cf-web", "forensics-lab", "service")}


@pytest.mark.parametrize(("name", "want"), [
    ("checkpoint-cf-web_forensics-lab-counter-2026-12-01T15:04:23Z.tar",
     ("cf-web", None, None, "forensics-lab-counter")),
    ("checkpoint-web_default-nginx-2026-12-01T15:04:23+01:00.tar", ("web", "default", "nginx", "default-nginx")),
    ("checkpoint-my.pod-1_kube-system-app-2025-01-02T03:04:05Z.tar",
     ("my.pod-1", None, None, "kube-system-app")),
])
def test_parse_kubelet_name(name: str, want: tuple) -> None:
    k = parse_kubelet_name(name)
    assert k is not None and (k.pod, k.namespace, k.container, k.namespace_and_container) == want


def test_parse_kubelet_name_split_by_what_the_archive_says() -> None:
    name = "checkpoint-cf-web_forensics-lab-my-app-2026-12-01T15:04:23Z.tar"
    assert parse_kubelet_name(name, namespace="forensics-lab").container == "my-app"
    assert parse_kubelet_name(name, container="lab-my-app").namespace == "forensics"
    assert parse_kubelet_name(name).time == datetime(2026, 12, 1, 15, 4, 23, tzinfo=UTC)
    for other in ("checkpoint-pod_ns-ctr-2025.tar", "checkpoint1", "checkpoint-Pod_ns-c-2026-12-01T15:04:23Z.tar",
                  "checkpoint-pod-ns-c-2026-12-01T15:04:23Z.tar"):
        assert parse_kubelet_name(other) is None, other


def test_file_name_fills_what_metadata_lacks_and_disagreement_is_a_warning() -> None:
    name = "checkpoint-web_prod-api-2026-12-01T15:04:23Z.tar"
    bare = CheckpointMeta(path=Path("/x") / name, kind="tar", layout="criu-tar")
    apply_kubelet_name(bare)
    assert (bare.pod, bare.namespace, bare.container_name) == ("web", "prod", "api")
    assert bare.checkpoint_time is None and bare.warnings == []
    said = CheckpointMeta(path=Path("/x") / name, kind="containerd-archive", layout="container-archive",
                          pod="db", namespace="prod", container_name="api")
    apply_kubelet_name(said)
    assert said.pod == "db" and said.warnings == ["the file name says pod 'web', the archive's metadata says 'db'"]


def test_renamed_archive_still_names_its_pod(run_root: Path, tmp_path: Path) -> None:
    """The pod comes from the archive's own metadata, not from its file name."""
    s = kube(run_root)["counter-checkpoint1"]
    copy = tmp_path / "evidence.tar"
    shutil.copyfile(s.archive, copy)
    m = archive_listing(copy)
    assert m is not None and (m.pod, m.namespace, m.container_name) == ("cf-web", "forensics-lab", "counter")


def test_status_dump_labels_fill_and_disagreements_are_warnings(run_root: Path) -> None:
    """containerd names pod and container twice: spec.dump's annotations (used) and kubelet's labels in
    status.dump (used when the annotations are missing; a label that contradicts them is a warning)."""
    from forensics.locate import engines

    facts = kube(run_root)["counter-checkpoint1"].truth["archive"]
    config, spec, status = facts["config.dump"], facts["spec.dump"], facts["status.dump"]
    meta = CheckpointMeta(path=Path("x.tar"), kind="tar", layout="container-archive")
    engines.fill_from_container_dumps(meta, config, {"annotations": {}}, True, status)
    assert (meta.pod, meta.namespace, meta.container_name) == ("cf-web", "forensics-lab", "counter")
    assert meta.image_ref == status["image_ref"] and meta.warnings == []
    forged = json.loads(json.dumps(status))
    forged["labels"]["io.kubernetes.pod.namespace"] = "kube-system"
    meta = CheckpointMeta(path=Path("x.tar"), kind="tar", layout="container-archive")
    engines.fill_from_container_dumps(meta, config, spec, True, forged)
    assert meta.namespace == "forensics-lab"
    assert meta.warnings == [("status.dump's label io.kubernetes.pod.namespace says 'kube-system', spec.dump's "
                              "annotations say 'forensics-lab'; the annotation is shown")]
