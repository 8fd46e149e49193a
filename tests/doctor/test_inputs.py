"""What the doctor reads for a path, and how it ends when there is nothing to read or nothing failed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forensics.doctor import diagnose
from forensics.errors import ForensicsError
from tests.conftest import SAMPLES

LOG = SAMPLES / "failures" / "established-tcp.dump.log"


def test_missing_path() -> None:
    with pytest.raises(ForensicsError, match="no such file"):
        diagnose(SAMPLES / "no-such-file.log")


def test_binary_file_is_refused() -> None:
    with pytest.raises(ForensicsError, match="binary"):
        diagnose(SAMPLES / "incremental" / "dump1" / "pages-1.img")


def test_directory_with_nothing_to_read(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hello\n")
    with pytest.raises(ForensicsError, match="no CRIU log"):
        diagnose(tmp_path)


def test_unknown_error_falls_back_to_the_first_real_error(tmp_path: Path) -> None:
    log = tmp_path / "restore.log"
    log.write_text(
        "(00.000010) Version: 3.17.1 (gitid 0)\n"
        "(00.000020) Reading image tree\n"
        "(00.000872) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not "
        "permitted\n"
        "(00.010000)      1: Error (criu/files.c:1196): Unable to open fd=4 id=0x7\n"
        "(00.010001)      1: Error (criu/frobnicate.c:12): Can't frobnicate the widget: Invalid argument\n"
        "(00.020000) Error (criu/cr-restore.c:2294): Restoring FAILED.\n")
    diag = diagnose(log)
    assert diag.outcome == "failed"
    assert [s.action for s in diag.sources] == ["restore"]
    assert diag.cause is not None and diag.cause.rule == "criu-error" and diag.cause.kind == "fallback"
    # "Unable to open fd=..." is a consequence; the fallback quotes the first line that is not one.
    assert diag.cause.lines[0].number == 5 and "frobnicate" in diag.cause.lines[0].text
    assert "line 5" in diag.cause.fix


def test_log_without_verdict_is_unknown(tmp_path: Path) -> None:
    cut = tmp_path / "dump.log"
    cut.write_text("".join(LOG.read_text().splitlines(keepends=True)[:500]))
    diag = diagnose(cut)
    assert diag.outcome == "unknown"
    assert diag.findings == []
    assert "no verdict" in (diag.sources[0].note or "")


def test_log_cut_after_the_cause_still_names_it(tmp_path: Path) -> None:
    cut = tmp_path / "dump.log"
    cut.write_text("".join(LOG.read_text().splitlines(keepends=True)[:561]))
    diag = diagnose(cut)
    assert diag.outcome == "unknown"
    assert diag.cause is not None and diag.cause.rule == "tcp-established"


def test_incomplete_image_directory(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoint1"
    shutil.copytree(SAMPLES / "incremental" / "dump1", ckpt)
    (ckpt / "inventory.img").unlink()
    diag = diagnose(ckpt)
    assert diag.outcome == "failed"
    assert diag.cause is not None and diag.cause.rule == "images-incomplete"
    assert diag.cause.evidence == {"missing": "inventory.img"}


def test_work_directory_log_is_found(tmp_path: Path) -> None:
    """runc's and old Docker's layout: the log sits in criu.work/ under the checkpoint."""
    ckpt = tmp_path / "checkpoint1"
    (ckpt / "criu.work").mkdir(parents=True)
    shutil.copy(LOG, ckpt / "criu.work" / "dump.log")
    diag = diagnose(ckpt)
    assert diag.cause is not None and diag.cause.rule == "tcp-established"


def test_engine_text_names_a_log_that_exists(tmp_path: Path) -> None:
    """When the path an engine names is on this machine, that log is read."""
    log = tmp_path / "run" / "criu-dump.log"
    log.parent.mkdir()
    shutil.copy(SAMPLES / "failures" / "unsupported-fd-io-uring.dump.log", log)
    text = tmp_path / "error.txt"
    text.write_text("Error response from daemon: Cannot checkpoint container x: runc did not terminate "
                    f"successfully: exit status 1: criu failed: type NOTIFY errno 0 path= {log}: unknown\n")
    diag = diagnose(text)
    assert [s.path for s in diag.sources] == [str(text), str(log)]
    assert diag.cause is not None and diag.cause.rule == "unsupported-fd"


def test_podman_text(tmp_path: Path) -> None:
    text = tmp_path / "podman-error.txt"
    text.write_text("2025-10-27T17:48:24.163620Z: CRIU checkpointing failed -52.  Please check CRIU logfile "
                    "/var/lib/containers/storage/overlay-containers/0928/userdata/dump.log: Invalid exchange\n")
    diag = diagnose(text)
    assert diag.cause is not None and diag.cause.rule == "engine-criu-failed"
    assert diag.cause.evidence["log"].endswith("/userdata/dump.log")
    assert diag.cause.evidence["code"] == "-52"
