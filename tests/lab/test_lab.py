"""The lab makes real checkpoints: right magics, process trees that match /proc, a restore that resumes.

Every test runs twice: on the bundled samples and on a fresh lab run made during this test session.
The process tree is read here from the lab's own `crit decode` output (the reference), so these tests
check the lab and its ground truth independently of the project's decoder.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import zstandard

from tests.conftest import SAMPLES, Sample, load_samples

INVENTORY_MAGIC = bytes.fromhex("16313158")
COMMON_MAGIC = bytes.fromhex("19435654")
SERVICE_MAGIC = bytes.fromhex("40591055")
RAW_PREFIXES = ("pages-", "tmpfs-", "ifaddr-", "route", "rule-", "iptables-", "ip6tables-", "nftables-",
                "netns-ct-", "netns-exp-")
EXPECTED_SCENARIOS = {"counter", "service", "service-tcp", "incremental", "podman", "shell", "goservice",
                      "python", "python311", "kubernetes"}
NOT_BUNDLED = {"python", "python311"}


def samples_of(root: Path) -> list[Sample]:
    return load_samples(root)


def image_heads(sample: Sample) -> dict[str, bytes]:
    """First 8 bytes of every file in the CRIU image set, from a directory or from inside an archive."""
    if sample.images is not None:
        return {p.name: p.read_bytes()[:8] for p in sample.images.iterdir() if p.is_file()}
    data = sample.archive.read_bytes()
    if data[:4] == bytes.fromhex("28b52ffd"):
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    heads = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.startswith(("checkpoint/", "pre-checkpoint/")):
                heads[m.name.split("/", 1)[1]] = tar.extractfile(m).read(8)
    return heads


def test_every_scenario_was_made(run_root: Path) -> None:
    made = {s.scenario for s in samples_of(run_root)}
    # The Python scenarios are made and checked on every fresh run but not bundled (an interpreter binary
    # and its heap are 12 MiB each: samples stay under 20 MiB).
    expected = EXPECTED_SCENARIOS - (NOT_BUNDLED if run_root == SAMPLES else set())
    assert expected <= made
    lab = json.loads((run_root / "lab.json").read_text())
    assert lab["failed"] == []
    assert lab["versions"]["criu"].startswith("Version: 4.2")


def test_images_carry_criu_magics(run_root: Path) -> None:
    for sample in samples_of(run_root):
        heads = image_heads(sample)
        assert heads["inventory.img"][:4] == INVENTORY_MAGIC, sample
        # A pre-dump (guest lab) has pages only: no process tree.
        assert ("pstree.img" in heads) == (sample.entry.get("action") != "pre-dump"), sample
        for name, head in heads.items():
            if name == "inventory.img" or not name.endswith(".img") or name.startswith(RAW_PREFIXES):
                continue
            assert head[:4] in (COMMON_MAGIC, SERVICE_MAGIC), f"{sample}: {name} starts {head.hex()}"


def _stable_processes(truth: dict) -> dict[int, dict]:
    """Processes alive with the same pid both just before and just after the checkpoint."""
    before = {p["pid"]: p for p in truth["before"]["processes"]}
    after = {p["pid"]: p for p in (truth.get("after") or truth["before"])["processes"]}
    return {pid: p for pid, p in before.items() if pid in after and after[pid]["comm"] == p["comm"]}


def test_process_tree_matches_proc(run_root: Path) -> None:
    for sample in samples_of(run_root):
        if sample.entry.get("action") == "pre-dump":
            continue  # no process tree in a pre-dump; tests/guest checks its pids against the truth
        truth = sample.truth
        pstree = sample.crit_json("pstree.img")["entries"]
        dumped = {e["pid"]: e for e in pstree}
        stable = _stable_processes(truth)
        seen = {p["pid"] for p in truth["before"]["processes"]}
        seen |= {p["pid"] for p in (truth.get("after") or truth["before"])["processes"]}
        assert set(stable) <= set(dumped), f"{sample}: {sorted(stable)} vs {sorted(dumped)}"
        # A short-lived child (the counter's `sleep`, replaced every second) may have been born and died
        # between the two /proc captures: it must then be a child of a stable process and run a command
        # /proc saw there, never something unexplained.
        seen_comms = {p["comm"] for t in (truth["before"], truth.get("after") or truth["before"]) for p in t["processes"]}
        for pid in set(dumped) - seen:
            comm = sample.crit_json(f"core-{pid}.img")["entries"][0]["tc"]["comm"]
            assert dumped[pid]["ppid"] in stable and comm in seen_comms, f"{sample}: pid {pid} ({comm}) unexplained"
        for pid, proc in stable.items():
            entry = dumped[pid]
            assert entry["ppid"] == proc["ppid"], f"{sample}: ppid of {pid}"
            assert sorted(entry["threads"]) == sorted(t["tid"] for t in proc["threads"]), f"{sample} {pid}"
            core = sample.crit_json(f"core-{pid}.img")["entries"][0]
            assert core["tc"]["comm"] == proc["comm"], f"{sample}: comm of {pid}"


def test_counter_restore_resumes(run_root: Path) -> None:
    ck2 = next(s for s in samples_of(run_root) if s.scenario == "counter" and s.name == "checkpoint2")
    truth = ck2.truth
    restore = truth["restore"]
    assert restore["running_after_restore"]
    resumed = [int(line.split()[-1]) for line in restore["log_after_restore"]]
    assert resumed, "no output after restore"
    # The shell was frozen between printing last_logged_before and last_logged_after; it resumes with
    # the next number, far below where the killed container had got to.
    lo, hi = int(truth["last_logged_before"]), int(truth["last_logged_after"])
    assert lo + 1 <= resumed[0] <= hi + 1
    killed_at = int(restore["log_before_kill"][-1].split()[-1])
    assert resumed[0] <= killed_at
    assert resumed == list(range(resumed[0], resumed[0] + len(resumed)))


def test_service_counters_in_truth(run_root: Path) -> None:
    svc = {s.name: s.truth for s in samples_of(run_root) if s.scenario == "service"}
    assert svc["checkpoint1"]["service_state"]["request_counter"] == 4
    assert svc["checkpoint2"]["service_state"]["request_counter"] == 1010
    assert svc["checkpoint2"]["service_state"]["shared_counter"] == 7 + 5 + 3


def test_failures_are_real(run_root: Path) -> None:
    cases = {c["case"]: c for c in json.loads((run_root / "failures" / "cases.json").read_text())}
    for case in ("established-tcp", "unsupported-fd-io-uring", "inotify-on-overlayfs", "container-not-running"):
        assert cases[case]["returncode"] != 0, case
        assert cases[case]["docker_error"], case
    tcp = cases["established-tcp"]
    assert tcp["dump_log"], "CRIU's dump.log of the failed TCP checkpoint was not kept"
    log = (run_root / "failures" / tcp["dump_log"]).read_text()
    assert "tcp-established" in log or "Connected TCP socket" in log
    # The seed lists `docker run -t` as unsupported; whatever happened here is recorded, not assumed.
    assert "external-terminal" in cases


def test_incremental_attempts_fail_without_soft_dirty(run_root: Path) -> None:
    """This kernel cannot track dirty memory: the lab records how CRIU refuses each incremental path."""
    attempts = json.loads((run_root / "incremental" / "attempts.json").read_text())
    assert attempts["pre_dump"]["returncode"] != 0
    log = (run_root / "incremental" / attempts["dump2"]["log"]).read_text()
    assert "Pid-reuse detection failed: no parent inventory" in log
    dump1 = next(s for s in samples_of(run_root) if s.scenario == "incremental" and s.name == "dump1")
    assert dump1.images is not None and (dump1.images / "inventory.img").exists()
