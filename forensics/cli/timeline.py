"""`forensics timeline C1 C2 ...`: one value across checkpoints, as a table and a small chart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.cli.common import (
    BinaryOpt, ContainerOpt, DockerRootOpt, Format, FormatOpt, JsonOpt, RevealOpt, RootfsOpt, check_binaries,
    check_paths, check_pids, chosen, emit, warn,
)
from forensics.errors import UsageError

EXAMPLES = """
Examples:

  forensics timeline ck1 ck2 ck3 --pid 1 --symbol request_counter --binary /usr/local/bin/service=./service
  forensics timeline ck1 ck2 --pid 1 --address 0x4c8f20 --as u64 --json
"""


@app.command(epilog=EXAMPLES)
def timeline(
    checkpoints: list[str] = typer.Argument(..., help="Checkpoints of one container, oldest first."),
    address: Optional[str] = typer.Option(None, "--address", help="The value's virtual address (hex)."),
    pid: Optional[int] = typer.Option(None, "--pid", "-p", help="The process (pid inside the container)."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="A global variable of the process's binary."),
    as_: Optional[str] = typer.Option(None, "--as", help="u8..u64, i8..i64, f64 or str (default: the symbol's "
                                      "size; for --address, str when the bytes there are text, else u64)."),
    rootfs: Optional[list[Path]] = RootfsOpt,
    binary: Optional[list[str]] = BinaryOpt,
    as_json: bool = JsonOpt, fmt: Format = FormatOpt,
    docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
    reveal: bool = RevealOpt,
) -> None:
    """A value across checkpoints: by --address and --pid (or --symbol, with the binary's symbols)."""
    from forensics.diff.timeline import guess_kind, monotonic, series, sparkline
    from forensics.loader import load_checkpoint
    from forensics.memory.select import parse_int
    from forensics.records import Table
    from forensics.records.kinds import TIMELINE_POINT
    from forensics.tables.order import order_problems
    from forensics.tables.secrets import masker_for

    if pid is None or (address is None) == (symbol is None):
        raise UsageError("give --pid and one of --address or --symbol", "e.g. --pid 1 --symbol request_counter")
    check_paths(rootfs, "--rootfs")
    check_binaries(binary)
    cks = [load_checkpoint(c, docker_root=docker_root, container=container) for c in checkpoints]
    check_pids([pid], cks)
    for problem in order_problems(cks):
        warn(problem)
    if symbol is not None:
        from forensics.symbols.resolve import resolver_for
        from forensics.symbols.stops import symbol_address

        resolver = resolver_for(cks[-1], rootfs, binary)
        proc = next((ck.process(pid) for ck in cks if ck.process(pid) is not None), None)
        found = symbol_address(proc, resolver, symbol) if proc is not None else None
        if found is None:
            raise UsageError(f"no symbol {symbol!r} found for pid {pid}"
                             + (f" (binaries not found: {', '.join(sorted(resolver.missing))})" if resolver.missing else ""),
                             "give --rootfs DIR or --binary PATH=FILE")
        addr, size = found
        as_ = as_ or (f"u{size * 8}" if size in (1, 2, 4, 8) else "str")
    else:
        addr = parse_int(address or "")
        if as_ is None:
            as_ = guess_kind(cks, pid, addr)
            warn(f"reading 0x{addr:x} as {as_} (the bytes there {'are text' if as_ == 'str' else 'are not text'}; "
                 "--as chooses)")
    points = series(cks, pid, addr, as_)
    trend = monotonic(points)
    masker = masker_for(cks, reveal)
    table = Table(TIMELINE_POINT)
    for i, p in enumerate(points, 1):
        table.add(i, p.checkpoint, p.time, masker.text(p.value) if isinstance(p.value, str) else p.value, p.missing)
    fmt = chosen(fmt, as_json)
    if fmt is Format.TEXT:
        emit([table], fmt)
        line = f"{sparkline(points)}  {trend or ''}".rstrip()
        if line:
            sys.stdout.write(line + "\n")
    else:
        emit([table], fmt, {"pid": pid, "address": addr, "symbol": symbol, "type": as_, "trend": trend})
