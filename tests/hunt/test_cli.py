"""`forensics hunt` from the command line: formats, sorting, errors as rows, and a page that escapes
what the evidence says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLES
from tests.hunt.conftest import load_fleet

FLEET = load_fleet(SAMPLES)


def forensics(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "forensics", "hunt", *args], capture_output=True, text=True)


def test_jsonl_streams_one_row_per_checkpoint_and_hit() -> None:
    p = forensics("--grep", FLEET.ioc, *FLEET.paths, "--jsonl", "--all", "--jobs", "2")
    assert p.returncode == 0, p.stderr
    docs = [json.loads(line) for line in p.stdout.splitlines()]
    assert sorted(d["ref"] for d in docs) == sorted(FLEET.paths)
    assert all(d["record"] == "hunt" for d in docs)
    assert {d["ref"] for d in docs if d["kind"]} == FLEET.planted
    assert all(d["pid"] == 1 and d["kind"] == "grep" and d["what"] for d in docs if d["kind"])
    assert all(d["pid"] is None and d["detail"] == "(no hits)" for d in docs if not d["kind"])
    assert p.stderr == ""


def test_per_checkpoint_counts_sorted() -> None:
    p = forensics("--grep", "svc-", *FLEET.paths, "--per-checkpoint", "--sort", "-time", "--json",
                  "--jobs", "1")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["rows"]
    assert len(rows) == len(FLEET.entries)
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True) and all(times)
    assert all(r["count"] > 0 and r["time_source"] for r in rows)
    assert "pid" not in rows[0]   # the per-checkpoint record has no hit columns
    engines = {r["checkpoint"]: r["engine"] for r in rows}
    assert set(engines.values()) == {"docker", "podman"}


def test_failed_checkpoints_are_rows_and_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.zst"
    junk.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100))
    p = forensics("--findings", FLEET.paths[0], str(junk), str(tmp_path / "missing"), "--json")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    doc = json.loads(p.stdout)
    assert doc["partial"] and doc["failed"] == 2 and doc["checkpoints"] == 3
    failed = {r["ref"]: r for r in doc["rows"] if r["status"] == "failed"}
    assert set(failed) == {str(junk), str(tmp_path / "missing")}
    assert all(r["error"] for r in failed.values())


def test_page_escapes_evidence_and_names_the_report_command(tmp_path: Path) -> None:
    hostile = tmp_path / "<script>alert(1)<\u202eb>.tar.zst"
    shutil.copy(FLEET.path(FLEET.by_name("fleet-p2/ck05")), hostile)
    page = tmp_path / "hunt.html"
    p = forensics("--grep", FLEET.ioc, str(hostile), "-o", str(page))
    assert p.returncode == 0, p.stderr
    text = page.read_text()
    assert "<script>" not in text and "\u202e" not in text
    assert "&lt;script&gt;alert(1)" in text
    assert "forensics report " in text and "report-1.html#pid-1" in text
    assert 'href="#ck-1"' in text and 'id="ck-1"' in text


def test_one_question_needed() -> None:
    p = forensics(*FLEET.paths[:1])
    assert p.returncode == 2 and p.stderr.startswith("forensics: give exactly one question")
    p = forensics("--grep", "x", "--findings", *FLEET.paths[:1])
    assert p.returncode == 2


def test_page_links_rows_to_generated_reports(tmp_path: Path) -> None:
    page = tmp_path / "out" / "hunt.html"
    page.parent.mkdir()
    p = forensics("--grep", FLEET.ioc, "--from", str(FLEET.root / "fleet"), "-o", str(page),
                  "--reports", str(tmp_path / "out" / "reports"))
    assert p.returncode == 0, p.stderr
    made = sorted((tmp_path / "out" / "reports").iterdir())
    assert len(made) == len(FLEET.planted)
    text = page.read_text()
    for report in made:
        assert f'href="reports/{report.name}#pid-1"' in text
        assert 'id="pid-1"' in report.read_text()


def test_secrets_are_masked_unless_revealed() -> None:
    token = "cf-token-3a9d0c5e7b214f68"      # the service's SERVICE_TOKEN, in every fleet checkpoint
    base = str(FLEET.path(FLEET.baseline))
    for args in (["--findings"], ["--diff-against", base, "--grep", "x"][:2]):
        p = forensics(*args, *FLEET.paths, "--json", "--jobs", "1")
        assert p.returncode == 0, p.stderr
        assert token not in p.stdout
    p = forensics("--findings", *FLEET.paths[:1], "--json", "--reveal")
    assert token in p.stdout
    masked = forensics("--findings", *FLEET.paths[:1], "--json")
    assert "env-secret" in masked.stdout and token not in masked.stdout


def test_json_jsonl_and_csv_carry_the_same_declared_rows() -> None:
    """One declared record (records.kinds HUNT_COUNT) behind every format: same keys, same values."""
    import csv
    import io

    from forensics.records.kinds import HUNT_COUNT

    args = ("--grep", "svc-", *FLEET.paths, "--per-checkpoint", "--sort", "checkpoint", "--jobs", "1")
    outs = {fmt: forensics(*args, "--format", fmt) for fmt in ("json", "jsonl", "csv")}
    assert all(p.returncode == 0 for p in outs.values()), {f: p.stderr for f, p in outs.items()}
    from_json = json.loads(outs["json"].stdout)["rows"]
    from_jsonl = [json.loads(line) for line in outs["jsonl"].stdout.splitlines()]
    from_csv = list(csv.DictReader(io.StringIO(outs["csv"].stdout)))
    keys = [c.key for c in HUNT_COUNT.columns]
    assert len(from_json) == len(FLEET.entries) and all(list(r) == keys for r in from_json)
    assert [{k: v for k, v in r.items() if k != "record"} for r in from_jsonl] == from_json
    assert all(r["record"] == "hunt_counts" for r in from_jsonl)
    assert [list(r) for r in from_csv] == [keys] * len(from_json)
    assert [(r["checkpoint"], int(r["count"]), r["time_source"]) for r in from_csv] == \
        [(r["checkpoint"], r["count"], r["time_source"]) for r in from_json]
