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
    assert {d["ref"] for d in docs if d["hit"]} == FLEET.planted
    assert all(d["hit"]["pid"] == 1 and d["hit"]["kind"] == "grep" for d in docs if d["hit"])
    assert p.stderr == ""


def test_per_checkpoint_counts_sorted() -> None:
    p = forensics("--grep", "svc-", *FLEET.paths, "--per-checkpoint", "--sort", "-time", "--json",
                  "--jobs", "1")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["rows"]
    assert len(rows) == len(FLEET.entries)
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True) and all(times)
    assert all(r["count"] > 0 and r["hit"] is None for r in rows)
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
