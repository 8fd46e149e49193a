"""The tool's scratch directory is removed on close, at exit, on Ctrl-C and on SIGTERM/SIGHUP, in a real
process that opens a compressed archive and then waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.locate import open_checkpoint
from forensics.locate.scratch import ScratchDir, live_scratch_dirs, remove_live
from tests.locate.conftest import podman_members, write_archive

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_scratch_left_by_earlier_tests() -> None:
    """Tests elsewhere load compressed archives in-process and never close them (exit would); their
    scratch directories keep the signal handlers installed, which these tests check come and go."""
    remove_live()

CHILD = """
import sys, tempfile, time
tempfile.tempdir = sys.argv[2]
from forensics.locate import open_checkpoint
src = open_checkpoint(sys.argv[1])
spilled = src.path_of("pages-1.img")
assert spilled is not None and spilled.is_file()
print(spilled, flush=True)
if sys.argv[3] == "exit":
    sys.exit(0)            # without close(): atexit removes it
time.sleep(60)
"""


def run_child(archive: Path, scratch: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(archive), str(scratch), mode], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    assert line, p.stderr.read() if p.stderr else ""
    spilled = Path(line)
    assert spilled.is_relative_to(scratch)
    return p, spilled


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_removed_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    archive = write_archive(tmp_path / "cp.tar.gz", podman_members(), "zstd")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    p, _ = run_child(archive, scratch, "wait")
    p.send_signal(sig)
    rc = p.wait(timeout=30)
    if sig == signal.SIGINT:
        assert rc != 0                 # KeyboardInterrupt unwinds to exit; atexit cleans up
    else:
        assert rc == -sig              # the process still dies of the signal, as its sender meant
    assert list(scratch.iterdir()) == []


def test_removed_at_exit_without_close(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "cp.tar.gz", podman_members(), "gzip")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    p, _ = run_child(archive, scratch, "exit")
    assert p.wait(timeout=30) == 0
    assert list(scratch.iterdir()) == []


def test_handlers_restored_when_last_scratch_goes() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with ScratchDir() as a:
        assert signal.getsignal(signal.SIGTERM) is not before
        b = ScratchDir()
        assert a.path.is_dir() and b.path.is_dir() and os.stat(a.path).st_mode & 0o777 == 0o700
        b.remove()
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) == before
    assert not a.path.exists() and not b.path.exists()


def test_removed_on_close_and_on_error(tmp_path: Path, scratch_root: Path) -> None:
    archive = write_archive(tmp_path / "cp.tar.gz", podman_members(), "zstd")
    src = open_checkpoint(archive)
    assert len(list(scratch_root.iterdir())) == 1
    src.close()
    src.close()                                         # idempotent
    assert list(scratch_root.iterdir()) == [] and not live_scratch_dirs()
