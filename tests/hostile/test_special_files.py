"""Special files where evidence should be: FIFOs, sockets, devices and /proc files under image or log
names, as a `parent` link, or as the path given; and files too big to map under an address-space limit.
None is read (a FIFO would block, /proc/self/mem fails with EIO), every command answers at once with a
clear line, and nothing is an "internal error"."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.errors import ForensicsError, ImageError
from forensics.images.decode import open_image
from forensics.loader import load_directory
from forensics.locate.views import open_regular
from tests.hostile import forge
from tests.hostile.test_scale import cli


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_open_regular_refuses_special_files(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    (tmp_path / "mem").symlink_to("/proc/self/mem")
    (tmp_path / "file").write_bytes(b"x")
    for path, follow, expect in [(fifo, False, "is a fifo"), (tmp_path / "sock", False, "cannot open"),
                                 (Path("/dev/zero"), True, "is a device"), (tmp_path / "mem", False, "symbolic link"),
                                 (tmp_path / "mem", True, "running kernel"), (Path("/proc/self/mem"), True, "running kernel"),
                                 (tmp_path, True, "is a directory")]:
        with pytest.raises(ForensicsError, match=expect):
            open_regular(path, follow=follow)
    fd, st = open_regular(tmp_path / "file")
    os.close(fd)
    assert st.st_size == 1
    with pytest.raises(ImageError, match="is a fifo"):
        open_image(fifo)
    sock.close()


@pytest.fixture
def ck(tmp_path: Path) -> Path:
    return forge.copy_service(tmp_path / "ck")


def test_fifo_parent_does_not_hang_report(ck: Path, tmp_path: Path) -> None:
    _fifo(ck / "parent")
    for args in (["inspect", str(ck)], ["report", str(ck), "-o", str(tmp_path / "r.html")], ["doctor", str(ck)],
                 ["diff", str(ck), str(ck)]):
        cli(*args, seconds=30)
    assert "not hashed: is a fifo" in (tmp_path / "r.html").read_text()


def test_fifo_and_proc_links_under_image_and_log_names(ck: Path, tmp_path: Path) -> None:
    os.unlink(ck / "pages-2.img")
    _fifo(ck / "pages-2.img")
    (ck / "dump.log").symlink_to("/proc/self/mem")
    (tmp_path / "ck.dump.log").symlink_to("/proc/self/mem")      # the log beside the images, as runc names it
    loaded = load_directory(ck)
    assert any("'pages-2.img' is not a regular file" in w for w in loaded.warnings), loaded.warnings
    for args in (["inspect", str(ck), "--all"], ["report", str(ck), "-o", str(tmp_path / "r.html")],
                 ["doctor", str(ck)], ["memory", "grep", "x", str(ck)]):
        cli(*args, seconds=30)
    code, _ = cli("doctor", str(ck / "dump.log"), seconds=30)
    assert code == 2


def test_given_path_is_special(tmp_path: Path) -> None:
    (tmp_path / "cp.tar").symlink_to("/proc/self/mem")
    _fifo(tmp_path / "log")
    for args in (["inspect", str(tmp_path / "cp.tar")], ["doctor", str(tmp_path / "log")],
                 ["inspect", "/proc/self/mem"], ["ls", str(tmp_path)]):
        cli(*args, seconds=30)


# ------------------------------------------------------------------ address-space limit

AS_LIMIT = 2 << 30


def _run_limited(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child whose address space is capped at 2 GiB (RLIMIT_AS)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))

    return subprocess.run([sys.executable, "-c", "from forensics.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit, check=False,
                          env={**os.environ, "COLUMNS": "1000"})


def test_sparse_8g_pages_under_address_space_limit(ck: Path) -> None:
    with open(ck / "pages-3.img", "r+b") as f:
        f.truncate(8 << 30)                                      # sparse: no disk used
    p = _run_limited("inspect", str(ck), "--maps")
    assert p.returncode == 2, p.stderr
    assert "internal error" not in p.stderr + p.stdout
    assert "pages-3.img" in p.stderr and "cannot map its 8589934592 bytes" in p.stderr, p.stderr[-3000:]
    assert "address-space limit" in p.stderr


def test_sparse_10g_plain_tar_under_address_space_limit(tmp_path: Path) -> None:
    from tests.locate.conftest import Member, podman_members, write_archive

    archive = write_archive(tmp_path / "cp.tar", podman_members() + [Member("pad", b"x")], "none")
    with open(archive, "r+b") as f:
        f.truncate(10 << 30)
    p = _run_limited("inspect", str(archive))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "internal error" not in p.stderr
    assert "cannot map its 10737418240 bytes" in p.stderr and "address-space limit" in p.stderr, p.stderr
