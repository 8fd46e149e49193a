"""`forensics doctor LOG|DIR`: why a checkpoint or restore failed, in plain words, and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from forensics.cli import app
from forensics.doctor import diagnose, render_terminal, to_json
from forensics.render.terminal import make_console


@app.command(epilog="Examples:\n\n  forensics doctor /var/lib/docker/containers/ID/checkpoints/ck1/dump.log\n"
             "  docker checkpoint create cr ck1 2> err.txt; forensics doctor err.txt\n"
             "  forensics doctor ./failed-checkpoint-dir --json")
def doctor(
    target: Path = typer.Argument(..., help="CRIU's dump.log/restore.log, Docker's error text, or a checkpoint dir."),
    as_json: bool = typer.Option(False, "--json", help="The diagnosis as one JSON document."),
) -> None:
    """Explain a failed checkpoint or restore from CRIU's log and the engine's error text."""
    diag = diagnose(target)
    if as_json:
        print(json.dumps(to_json(diag), indent=1, default=str))
    else:
        render_terminal(diag, make_console())
