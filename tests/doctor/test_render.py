"""Rendering: every diagnosis of the samples lays out on a terminal and as JSON; log text is never markup."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from forensics.doctor import diagnose, render_terminal, to_json
from tests.conftest import SAMPLES

INPUTS = [
    SAMPLES / "failures",
    SAMPLES / "failures" / "established-tcp.docker-error.txt",
    SAMPLES / "failures" / "external-terminal.docker-error.txt",
    SAMPLES / "incremental",
    SAMPLES / "incremental" / "dump1",
]


def _render(path: Path, width: int = 100) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, markup=True, highlight=False, color_system=None)
    render_terminal(diagnose(path), console)
    return buf.getvalue()


@pytest.mark.parametrize("path", INPUTS, ids=[str(p.relative_to(SAMPLES)) for p in INPUTS])
def test_terminal(path: Path) -> None:
    out = _render(path)
    diag = diagnose(path)
    assert diag.outcome.upper() in out
    for finding in diag.findings:
        assert f"[{finding.rule}]" in out
    if not diag.findings:
        assert "Nothing failed" in out


def test_terminal_fits_80_columns() -> None:
    out = _render(SAMPLES / "failures" / "inotify-on-overlayfs.dump.log", width=80)
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    inode = diagnose(SAMPLES / "failures" / "inotify-on-overlayfs.dump.log").cause.evidence["inode"]
    assert "fsnotify-handle" in out and inode in out


def test_log_text_is_not_markup(tmp_path: Path) -> None:
    log = tmp_path / "dump.log"
    log.write_text("(00.000075) Version: 4.2.1 (gitid 0)\n"
                   "(00.010000) Error (criu/x.c:1): [bold]weird[/bold] thing [/]\n"
                   "(00.020000) Error (criu/cr-dump.c:1975): Dumping FAILED.\n")
    out = _render(log)
    assert "[bold]weird[/bold] thing [/]" in out


@pytest.mark.parametrize("path", INPUTS, ids=[str(p.relative_to(SAMPLES)) for p in INPUTS])
def test_json(path: Path) -> None:
    diag = diagnose(path)
    doc = json.loads(json.dumps(to_json(diag)))
    assert doc["schema"] == 1
    assert doc["outcome"] == diag.outcome
    assert doc["cause"] == (diag.findings[0].rule if diag.findings else None)
    assert [f["rule"] for f in doc["findings"]] == [f.rule for f in diag.findings]
    for f in doc["findings"]:
        assert {"rule", "title", "kind", "explanation", "fix", "lines", "context", "evidence", "notes",
                "sources"} <= f.keys()
        for line in f["lines"]:
            assert {"source", "number", "text"} == line.keys()
    assert all({"path", "kind", "outcome"} <= s.keys() for s in doc["sources"])
