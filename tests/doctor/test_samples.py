"""The doctor on every real failure and success kept in samples/: the right rule ranks first, evidence
comes out of the log, successes say so with no finding, and CRIU's noise is never the cause.

`run_root` runs the case tests on the bundled samples and on a fresh lab run (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics.doctor import diagnose
from forensics.doctor.model import Diagnosis
from tests.conftest import SAMPLES

FAILURES = SAMPLES / "failures"
INCREMENTAL = SAMPLES / "incremental"

# case in cases.json -> the rule that must rank first
CASE_RULE = {
    "established-tcp": "tcp-established",
    "unsupported-fd-io-uring": "unsupported-fd",
    "inotify-on-overlayfs": "fsnotify-handle",
    "container-not-running": "container-not-running",
}

# Evidence that differs between lab runs (pids, inodes, device numbers, container ids): it must be
# extracted, and be found verbatim in the files the diagnosis read, not be a fixed value.
RUN = object()

FAILED_FILES = [
    # (file, top rule, evidence that must be extracted, action)
    (FAILURES / "established-tcp.dump.log", "tcp-established",
     {"socket": RUN, "fd": "18", "pid": RUN, "family": "2"}, "dump"),
    (FAILURES / "established-tcp.docker-error.txt", "tcp-established", {"socket": RUN}, "dump"),
    (FAILURES / "unsupported-fd-io-uring.dump.log", "unsupported-fd", {"errno": "-22", "pid": RUN}, "dump"),
    (FAILURES / "unsupported-fd-io-uring.docker-error.txt", "unsupported-fd", {"pid": RUN}, "dump"),
    (FAILURES / "inotify-on-overlayfs.dump.log", "fsnotify-handle",
     {"dev": RUN, "inode": RUN, "fd": "15", "pid": RUN, "mnt_id": RUN}, "dump"),
    (FAILURES / "inotify-on-overlayfs.docker-error.txt", "fsnotify-handle", {"inode": RUN}, "dump"),
    (FAILURES / "container-not-running.docker-error.txt", "container-not-running",
     {"container": RUN}, None),
    (INCREMENTAL / "pre-dump.failed-dump.log", "dirty-tracking", {"bug_line": "46"}, "pre-dump"),
    (INCREMENTAL / "dump2.failed-dump.log", "dirty-tracking", {}, "dump"),
]

SUCCEEDED_FILES = [
    FAILURES / "external-terminal.docker-error.txt",
    INCREMENTAL / "dump1.dump.log",
    SAMPLES / "service-tcp" / "checkpoint1.dump.log",
    SAMPLES / "service-tcp" / "checkpoint2.dump.log",
]

EVERY_FILE = [f for f, *_ in FAILED_FILES] + SUCCEEDED_FILES


def _name(p: Path) -> str:
    return str(p.relative_to(SAMPLES))


def _assert_noise_apart(diag: Diagnosis) -> None:
    for finding in diag.findings:
        for line in finding.lines + finding.context:
            assert "RLIMIT_NOFILE" not in line.text and "Unable to create tun" not in line.text, finding.rule


@pytest.mark.parametrize(("path", "rule", "evidence", "action"), FAILED_FILES,
                         ids=[_name(f) for f, *_ in FAILED_FILES])
def test_failure_ranks_the_real_cause_first(path: Path, rule: str, evidence: dict[str, str],
                                            action: str | None) -> None:
    diag = diagnose(path)
    assert diag.outcome == "failed"
    assert diag.cause is not None and diag.cause.rule == rule, [f.rule for f in diag.findings]
    assert diag.cause.kind == "cause"
    fixed = {k: v for k, v in evidence.items() if v is not RUN}
    assert fixed.items() <= diag.cause.evidence.items()
    text = "".join(Path(src.path).read_text(errors="replace") for src in diag.sources)
    for key in (k for k, v in evidence.items() if v is RUN):
        value = diag.cause.evidence.get(key)
        assert value and str(value) in text, (key, value)
    assert diag.cause.lines, "the matched log lines are quoted"
    assert all(ln.number > 0 and ln.text for ln in diag.cause.lines)
    assert "{" not in diag.cause.fix, "every placeholder of the fix is filled"
    assert action is None or action in {s.action for s in diag.sources}
    _assert_noise_apart(diag)


@pytest.mark.parametrize("path", [f for f, *_ in FAILED_FILES if f.suffix == ".log"],
                         ids=[_name(f) for f, *_ in FAILED_FILES if f.suffix == ".log"])
def test_failed_logs_state_version_kernel_and_list_the_noise(path: Path) -> None:
    diag = diagnose(path)
    assert diag.criu_version == "4.2.1"
    assert diag.kernel == "6.18.44-fc-v595"
    benign = {b.id: b for b in diag.benign}
    assert "rlimit-nofile" in benign
    assert benign["rlimit-nofile"].lines[0].text.endswith("Operation not permitted")


@pytest.mark.parametrize("path", SUCCEEDED_FILES, ids=[_name(f) for f in SUCCEEDED_FILES])
def test_success_says_succeeded_with_no_finding(path: Path) -> None:
    diag = diagnose(path)
    assert diag.outcome == "succeeded"
    assert diag.findings == []
    assert diag.notes


def test_external_terminal_is_not_invented() -> None:
    """`docker run -t` checkpointed fine here: Docker printed only the checkpoint's name."""
    diag = diagnose(FAILURES / "external-terminal.docker-error.txt")
    assert diag.outcome == "succeeded"
    assert not any(f.rule == "external-terminal" for f in diag.findings)
    assert "ttyckpt" in (diag.sources[0].note or "")


def test_docker_text_reads_the_log_saved_next_to_it() -> None:
    diag = diagnose(FAILURES / "established-tcp.docker-error.txt")
    kinds = [(Path(s.path).name, s.kind) for s in diag.sources]
    assert kinds == [("established-tcp.docker-error.txt", "engine-error"), ("established-tcp.dump.log", "criu-log")]
    assert diag.sources[0].log_paths[0].endswith("/criu-dump.log")
    # The engine's pointer to the log is moot once the log explains the failure.
    assert [f.rule for f in diag.findings] == ["tcp-established"]


def test_docker_text_alone_points_at_the_log(tmp_path: Path) -> None:
    """Without CRIU's log, Docker's text can only say where the log was."""
    text = tmp_path / "fail.docker-error.txt"
    text.write_text((FAILURES / "inotify-on-overlayfs.docker-error.txt").read_text())
    diag = diagnose(text)
    assert diag.outcome == "failed"
    assert diag.cause is not None and diag.cause.rule == "engine-criu-failed"
    assert diag.cause.evidence["type"] == "NOTIFY"
    log = diag.cause.evidence["log"]
    assert log.startswith("/run/containerd/") and log.endswith("/criu-dump.log")
    assert log in diag.cause.fix


def test_pre_dump_and_dump2_carry_their_supporting_lines() -> None:
    pre = diagnose(INCREMENTAL / "pre-dump.failed-dump.log")
    assert pre.cause is not None
    assert any("Enforcing memory tracking for pre-dump" in ln.text for ln in pre.cause.context)
    assert pre.sources[0].note is not None and "BUG at criu/mem.c:46" in pre.sources[0].note
    dump2 = diagnose(INCREMENTAL / "dump2.failed-dump.log")
    assert dump2.cause is not None
    assert any("Pid-reuse detection failed" in ln.text for ln in dump2.cause.lines)
    assert any("Parent pre-dump inventory has no uptime" in ln.text for ln in dump2.cause.context)


def test_incremental_attempts_match_attempts_json() -> None:
    attempts = json.loads((INCREMENTAL / "attempts.json").read_text())
    assert attempts["pre_dump"]["returncode"] != 0
    assert diagnose(INCREMENTAL / attempts["dump2"]["log"]).cause.rule == "dirty-tracking"  # type: ignore[union-attr]


def test_incremental_directory_reports_both_failures_and_the_success() -> None:
    diag = diagnose(INCREMENTAL)
    outcomes = {Path(s.path).name: s.outcome for s in diag.sources}
    assert outcomes == {"dump1.dump.log": "succeeded", "dump2.failed-dump.log": "failed",
                        "pre-dump.failed-dump.log": "failed"}
    assert diag.outcome == "failed"
    assert [f.rule for f in diag.findings] == ["dirty-tracking"]
    assert len(diag.findings[0].sources) == 2


@pytest.mark.parametrize("directory", [INCREMENTAL / "dump1", SAMPLES / "service-tcp" / "checkpoint1",
                                       SAMPLES / "service-tcp" / "checkpoint2"],
                         ids=["incremental/dump1", "service-tcp/checkpoint1", "service-tcp/checkpoint2"])
def test_complete_checkpoint_with_its_log_says_succeeded(directory: Path) -> None:
    diag = diagnose(directory)
    assert diag.outcome == "succeeded"
    assert diag.findings == []
    kinds = {s.kind: s for s in diag.sources}
    assert kinds["criu-log"].path.endswith(f"{directory.name}.dump.log")
    assert kinds["images"].outcome == "succeeded"
    assert "look complete" in (kinds["images"].note or "")


def test_docker_checkpoint_without_log_looks_complete() -> None:
    ckpts = sorted((SAMPLES / "counter" / "docker-root" / "containers").glob("*/checkpoints/checkpoint1"))
    assert ckpts
    diag = diagnose(ckpts[0])
    assert diag.outcome == "succeeded"
    assert [s.kind for s in diag.sources] == ["images"]
    assert diag.findings == []


def test_stats_are_read() -> None:
    diag = diagnose(INCREMENTAL / "dump1")
    dump = diag.stats["dump"]
    # The reference: the lab's crit decoding of the same stats-dump.
    crit = json.loads((INCREMENTAL / "crit" / "dump1" / "stats-dump.json").read_text())["entries"][0]["dump"]
    assert dump["pages_written"] == crit["pages_written"] > 0 and dump["frozen_time"] == crit["frozen_time"]


def test_failures_directory_explains_every_case() -> None:
    diag = diagnose(FAILURES)
    assert diag.outcome == "failed"
    rules = [f.rule for f in diag.findings]
    assert set(rules) == set(CASE_RULE.values())
    assert all(f.kind == "cause" for f in diag.findings)


@pytest.mark.parametrize("path", EVERY_FILE, ids=[_name(f) for f in EVERY_FILE])
def test_noise_is_never_a_finding(path: Path) -> None:
    _assert_noise_apart(diagnose(path))


def test_cases_json_of_every_run(run_root: Path) -> None:
    """Each case the lab recorded: Docker's text (with the log kept next to it) gives the case's rule, and
    a case that succeeded gives no finding."""
    failures = run_root / "failures"
    cases = json.loads((failures / "cases.json").read_text())
    assert {c["case"] for c in cases} >= set(CASE_RULE) | {"external-terminal"}
    for case in cases:
        diag = diagnose(failures / f"{case['case']}.docker-error.txt")
        if case["succeeded"]:
            assert diag.outcome == "succeeded" and diag.findings == [], case["case"]
            continue
        assert diag.outcome == "failed", case["case"]
        assert diag.cause is not None and diag.cause.rule == CASE_RULE[case["case"]], case["case"]
        if case["dump_log"]:
            assert any(Path(s.path).name == case["dump_log"] for s in diag.sources), case["case"]
