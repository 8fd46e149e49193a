"""Scale attacks: checkpoints made from the service sample with huge tables (VMAs, fds, processes), a
deep ppid chain, a huge descriptors.json and a gzip-bomb tmpfs image. Every command answers (full, or
partial and marked) within its time cap, without recursion over the evidence's depth.

The sizes here keep CI short (about 20 s); bench/run.py has the million-VMA / 200,000-fd /
100,000-process rows with their ratio to crit."""

from __future__ import annotations

import gzip
import signal
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics.cli import _register, app
from forensics.errors import ForensicsError
from forensics.loader import load_directory
from forensics.locate.scratch import remove_live
from forensics.render import json as json_render
from tests.hostile import forge


@contextmanager
def within(seconds: int, what: str) -> Iterator[None]:
    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(*args: str, seconds: int = 60) -> tuple[int, str]:
    _register([])
    try:
        with within(seconds, " ".join(args)):
            result = CliRunner().invoke(app, list(args))
    finally:
        remove_live()      # in-process: what exit does for an archive's scratch directory
    if isinstance(result.exception, ForensicsError):       # forensics.cli.main prints it as one line, exit 2
        return 2, result.stdout
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output[-2000:]
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output[-2000:])
    return result.exit_code, result.stdout


def test_200k_vmas(tmp_path: Path) -> None:
    d = forge.copy_service(tmp_path / "ck")
    forge.scale_vmas(d, 1, 200_000)
    _, out = cli("inspect", str(d), "--maps")          # into a pipe: every row, at its natural width
    assert out.count("\n0x1") >= 200_000 or out.count("0x1") >= 200_000, out[-500:]


def test_terminal_tables_are_capped() -> None:
    """On a terminal rich lays the table out (about 1,000 rows a second): at most FORENSICS_MAX_ROWS rows,
    and a line says how many more there are; a pipe gets every row."""
    import io

    from forensics.records import Table
    from forensics.records.kinds import MAPPING
    from forensics.render import table as text

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    table = Table(MAPPING)
    for i in range(text.MAX_ROWS + 7):
        table.add(1, 0x1000 * i, 0x1000 * i + 0x1000, "rw-p", 0, "anon", 1, 1, 0, 0, None)
    tty, pipe = Tty(), io.StringIO()
    with within(120, "a capped terminal table"):
        text.write([table], tty)
    text.write([table], pipe)
    assert "... 7 more" in tty.getvalue() and "FORENSICS_MAX_ROWS" in tty.getvalue()
    assert pipe.getvalue().count("\n") >= text.MAX_ROWS + 7


def test_200k_fds(tmp_path: Path) -> None:
    d = forge.copy_service(tmp_path / "ck")
    forge.scale_fds(d, 1, 200_000)
    with within(60, "load + JSON of 200,000 fds"):
        ck = load_directory(d)
        assert len(ck.process(1).fds) == 200_000
        assert json_render.render(ck).count('"fd": ') >= 200_000


@pytest.mark.parametrize("deep", [False, True], ids=["wide", "deep"])
def test_10k_processes(tmp_path: Path, deep: bool) -> None:
    """10,000 processes under pid 1, side by side or as one ppid chain 10,000 deep (the recursion limit is
    1,000): inspect, report and diff answer, the tree drawn flat past its depth limit."""
    d = forge.copy_service(tmp_path / "ck")
    forge.pstree(d, 10_000, deep=deep)
    # Each forged process lacks its core image: one shape of warning, said 3 times and then counted.
    missing = [w for w in load_directory(d).warnings if "core-" in w]
    assert missing[:3] == [f"core-{t}.img is missing: thread {t} of pid {t} has no registers"
                           for t in (100_000, 100_001, 100_002)], missing[:4]
    assert missing[3:] == ["9,997 more warnings like: core-N.img is missing: thread N of pid N has no registers"]
    _, out = cli("inspect", str(d), "--ps", "--findings")
    assert max(len(line) for line in out.splitlines()) < 1000   # the tree's indentation stops at its depth cap
    if deep:
        assert "[depth 10000] 109999 ?" in out, out[-2000:]
    cli("report", str(d), "-o", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "more processes have no section" in page
    if deep:
        assert "child of 100062" in page                       # drawn flat below depth 64
        assert page.count("<ul") < 200
    cli("diff", str(forge.service_images()), str(d), "--json")


def test_huge_descriptors_json(tmp_path: Path) -> None:
    d = forge.copy_service(tmp_path / "ck")
    with open(d / "descriptors.json", "wb") as f:
        f.write(b'["' + b"x" * (100 << 20) + b'"]')
    with within(30, "a 100 MB descriptors.json"):
        ck = load_directory(d)
    assert ck.stdio is None
    assert any("descriptors.json is 104857604 bytes" in w for w in ck.warnings), ck.warnings


def test_nested_descriptors_json(tmp_path: Path) -> None:
    d = forge.copy_service(tmp_path / "ck")
    (d / "descriptors.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    ck = load_directory(d)
    assert ck.stdio is None and any("more than 64 levels deep" in w for w in ck.warnings), ck.warnings


def _gzip_bomb(path: Path, gib: int) -> None:
    """A tar.gz of one file of `gib` GiB of zeros, a few MB on disk: gzip members concatenated."""
    head = tarfile.TarInfo("bomb")
    head.size = gib << 30
    chunk = gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(head.tobuf(format=tarfile.GNU_FORMAT), mtime=0))
        f.writelines(chunk for _ in range(gib * 16))


def test_tmpfs_gzip_bomb(tmp_path: Path) -> None:
    d = forge.copy_service(tmp_path / "ck")
    _gzip_bomb(d / "tmpfs-dev-48.tar.gz.img", 4)
    with within(30, "a 4 GiB tmpfs gzip bomb"):
        ck = load_directory(d)
    assert ck.partial
    assert any("tmpfs-dev-48.tar.gz.img: tmpfs archive listing stopped" in e and "decompression bomb" in e
               for e in ck.errors), ck.errors
    code, _ = cli("inspect", str(d))
    assert code == 2
