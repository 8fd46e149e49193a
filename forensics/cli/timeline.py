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
from forensics.render.escape import shown
from forensics.render.terminal import make_console


@app.command()
def timeline(
    checkpoints: list[str] = typer.Argument(..., help="Checkpoints of one container, oldest first."),
    address: Optional[str] = typer.Option(None, "--address"),
    pid: Optional[int] = typer.Option(None, "--pid"),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="A global variable of the process's binary."),
    as_: Optional[str] = typer.Option(None, "--as", help="u8..u64, i8..i64, f64, str (default: the symbol's size, or u64)"),
    rootfs: Optional[list[Path]] = typer.Option(None, "--rootfs", help="Where the container's binaries are."),
    binary: Optional[list[str]] = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE."),
    as_json: bool = typer.Option(False, "--json"),
    docker_root: Optional[Path] = typer.Option(None, "--docker-root"),
    container: Optional[str] = typer.Option(None, "--container"),
) -> None:
    """A value across checkpoints: by --address and --pid (or --symbol, with the binary's symbols)."""
    if pid is None or (address is None) == (symbol is None):
        raise ForensicsError("give --pid and one of --address or --symbol")
    cks = [load_checkpoint(c, docker_root=docker_root, container=container) for c in checkpoints]
    if symbol is not None:
        from forensics.symbols.resolve import resolver_for
        from forensics.symbols.stops import symbol_address

        resolver = resolver_for(cks[-1], rootfs, binary)
        proc = next((ck.process(pid) for ck in cks if ck.process(pid) is not None), None)
        found = symbol_address(proc, resolver, symbol) if proc is not None else None
        if found is None:
            raise ForensicsError(f"no symbol {symbol!r} found for pid {pid}"
                                 + (f" (binaries not found: {', '.join(sorted(resolver.missing))})" if resolver.missing else ""))
        addr, size = found
        as_ = as_ or (f"u{size * 8}" if size in (1, 2, 4, 8) else "str")
    else:
        addr = parse_int(address)
    as_ = as_ or "u64"
    points = series(cks, pid, addr, as_)
    trend = monotonic(points)
    if as_json:
        print(json.dumps({"pid": pid, "address": addr, "symbol": symbol, "type": as_, "trend": trend,
                          "points": [{"checkpoint": p.checkpoint, "time": p.time, "value": p.value,
                                      "missing": p.missing} for p in points]}, indent=1))
        return
    t = Table(show_edge=False, header_style="bold")
    for c in ("#", "CHECKPOINT", "VALUE"):
        t.add_column(c, overflow="fold")
    for i, p in enumerate(points, 1):
        t.add_row(str(i), shown(p.checkpoint), shown(p.value) if p.missing is None else shown(f"(none: {p.missing})"))
    console = make_console()
    console.print(t)
    console.print(f"{sparkline(points)}  {trend or ''}".rstrip())
