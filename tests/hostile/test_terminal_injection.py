"""Terminal injection: evidence strings holding escape sequences reach the analyst's terminal escaped.

One checkpoint is forged from the service sample with an attacker's bytes in every channel a program
controls: its name (prctl), argv and environment (in its memory), a file path, a unix socket name, the
hostname, and a line of CRIU's log. Every command is run through the real CLI (typer's runner); text
output must hold no raw ESC, BEL, CSI or OSC and must show the escaped form (so the channel was really
printed), JSON keeps the exact value, HTML escapes markup.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics.cli import _register, app
from forensics.records.escape import shown
from tests.hostile import forge

COMM = "<b>\x1b[31mred\x1b]0;PWND\x07\x1b[2J\u009b6n"
PATH = "/usr/local/bin/\x1b[2Jservice"
SOCK = b"/tmp/\x1b]0;sock\x07\x00"
HOST = "\x1b]2;host\x07"
ARGV_DIR = b"\x1b[2J"                      # replaces argv's "/tmp" (4 bytes) in the stack pages
ENV_HOST = b"\x1b]0;PWND\x07\x1b[H"        # replaces the 12-byte HOSTNAME value in the environment
LOG = "(00.000001) Error (criu/cr-dump.c:1): \x1b]0;log\x07 \x1b[2J dump failed\n"
RAW = ("\x1b", "\x07", "\u009b")


def _replace_in_pages(directory: Path, old: bytes, new: bytes) -> int:
    assert len(old) == len(new)
    n = 0
    for p in directory.glob("pages-*.img"):
        data = p.read_bytes()
        if old in data:
            n += data.count(old)
            p.write_bytes(data.replace(old, new))
    return n


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = forge.copy_service(tmp_path_factory.mktemp("inject") / "ck")
    core = forge.messages(d / "core-1.img")
    core[0].tc.comm = COMM
    core[0].thread_core.comm = COMM
    forge.write_image(d / "core-1.img", core)
    files = forge.messages(d / "files.img")
    for f in files:
        if f.id == 1:
            f.reg.name = PATH
        if f.id == 9:
            f.usk.name = SOCK
    forge.write_image(d / "files.img", files)
    uts = forge.messages(d / "utsns-12.img")
    uts[0].nodename = HOST
    forge.write_image(d / "utsns-12.img", uts)
    assert _replace_in_pages(d, b"--dir\x00/tmp\x00", b"--dir\x00" + ARGV_DIR + b"\x00")
    assert _replace_in_pages(d, b"HOSTNAME=9927c187413f", b"HOSTNAME=" + ENV_HOST)
    (d / "dump.log").write_text("(00.000000) Version: 4.2.1\x1b[2J\n" + LOG)
    return d


def run(*args: str) -> str:
    _register([])
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    return result.stdout


def assert_clean(out: str, *expected: str) -> None:
    for ch in RAW:
        assert ch not in out, (repr(ch), out[:2000])
    for e in expected:
        assert shown(e) in out, (shown(e), out[:3000])


def test_escape_function() -> None:
    assert shown("a\x1b[2Jb\x07\x00\x7f\u009b\u009d\n\t") == "a\\x1b[2Jb\\x07\\x00\\x7f\\x9b\\x9d\\x0a\\x09"
    assert shown("ok /usr/bin/x é ü 日本") == "ok /usr/bin/x é ü 日本"
    assert shown("x\udcff\ud800y") == "x\\xff\\ud800y"
    assert shown("\u202eevil\u2066") == "\\u202eevil\\u2066"


def test_inspect_all_terminal(hostile: Path) -> None:
    out = run("inspect", str(hostile), "--all")
    assert_clean(out, COMM, PATH, HOST, "/tmp/\x1b]0;sock\x07", "\x1b[2J", ENV_HOST.decode(), "4.2.1\x1b[2J")


def test_inspect_findings_terminal(hostile: Path) -> None:
    out = run("inspect", str(hostile), "--findings")
    assert_clean(out, COMM)


def test_inspect_json_keeps_exact_values(hostile: Path) -> None:
    out = run("inspect", str(hostile), "--json")
    assert "\x1b" not in out and "\x07" not in out          # JSON escapes controls as \u001b
    doc = json.loads(out)
    procs = {p["pid"]: p for p in doc["processes"]}
    assert procs[1]["comm"] == COMM
    text = json.dumps(doc)
    assert all(json.dumps(v)[1:-1] in text for v in (PATH, HOST))


def test_memory_commands(hostile: Path) -> None:
    assert_clean(run("memory", "map", str(hostile)), PATH)
    grep = run("memory", "grep", "HOSTNAME=", str(hostile), "-C", "24")
    assert_clean(grep)
    assert "|=.]0;PWND..[H.SE|" in grep
    assert_clean(run("memory", "strings", str(hostile), "--min-len", "6", "--pid", "1"))
    assert_clean(run("memory", "read", str(hostile), "--pid", "1", "--address", _env_address(hostile),
                     "--as", "str"), ENV_HOST.decode())


def _env_address(hostile: Path) -> str:
    from forensics.loader import load_directory

    ck = load_directory(hostile)
    space = ck.memory[1]
    for addr, data, _v in space.segments():
        i = bytes(data).find(b"HOSTNAME=")
        if i >= 0:
            return hex(addr + i)
    raise AssertionError("no HOSTNAME= in memory")


def test_diff_terminal(hostile: Path) -> None:
    out = run("diff", str(forge.service_images()), str(hostile))
    assert_clean(out, COMM)


def test_doctor_terminal_and_json(hostile: Path) -> None:
    out = run("doctor", str(hostile / "dump.log"))
    assert_clean(out, "\x1b]0;log\x07 \x1b[2J dump failed")
    assert json.dumps("\x1b]0;log")[1:-1] in json.dumps(json.loads(run("doctor", str(hostile / "dump.log"), "--json")))


def test_html_escapes_markup(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    run("report", str(hostile), "-o", str(out))
    page = out.read_text()
    assert "<b>\x1b[31mred" not in page and "&lt;b&gt;" in page


def test_ls_terminal(hostile: Path, tmp_path: Path) -> None:
    import shutil

    name = "ck\x1b]0;ls\x07"
    shutil.copytree(hostile, tmp_path / name)
    assert_clean(run("ls", str(tmp_path)), name)
