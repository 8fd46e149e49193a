"""`forensics timeline C1 C2 ...`: one value across checkpoints, as a table and a small chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from forensics.cli import app
from forensics.diff.timeline import monotonic, series, sparkline
from forensics.errors import ForensicsError
from forensics.memory.select import parse_int
from forensics.model.load import load_checkpoint
from forensics.render.terminal import make_console


@app.command()
def timeline(
    checkpoints: list[str] = typer.Argument(..., help="Checkpoints of one container, oldest first."),
    address: Optional[str] = typer.Option(None, "--address"),
    pid: Optional[int] = typer.Option(None, "--pid"),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="A global variable of the process's binary."),
    as_: str = typer.Option("u64", "--as", help="u8..u64, i8..i64, f64, str"),
    as_json: bool = typer.Option(False, "--json"),
    docker_root: Optional[Path] = typer.Option(None, "--docker-root"),
    container: Optional[str] = typer.Option(None, "--container"),
) -> None:
    """A value across checkpoints: by --address and --pid (or --symbol, with the binary's symbols)."""
    if symbol is not None:
        raise ForensicsError("--symbol needs the binary's symbol table; give --address and --pid for now")
    if address is None or pid is None:
        raise ForensicsError("give --address and --pid")
    cks = [load_checkpoint(c, docker_root=docker_root, container=container) for c in checkpoints]
    points = series(cks, pid, parse_int(address), as_)
    trend = monotonic(points)
    if as_json:
        print(json.dumps({"pid": pid, "address": parse_int(address), "type": as_, "trend": trend,
                          "points": [{"checkpoint": p.checkpoint, "time": p.time, "value": p.value,
                                      "missing": p.missing} for p in points]}, indent=1))
        return
    t = Table(show_edge=False, header_style="bold")
    for c in ("#", "CHECKPOINT", "VALUE"):
        t.add_column(c, overflow="fold")
    for i, p in enumerate(points, 1):
        t.add_row(str(i), p.checkpoint, str(p.value) if p.missing is None else f"(none: {p.missing})")
    console = make_console()
    console.print(t)
    console.print(f"{sparkline(points)}  {trend or ''}".rstrip())
