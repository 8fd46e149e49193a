"""`forensics diff A B`: what changed between two checkpoints of one container."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.cli.common import (
    BinaryOpt, ContainerOpt, DockerRootOpt, Format, FormatOpt, JsonOpt, RevealOpt, RootfsOpt, check_binaries,
    check_paths, chosen, emit, warn,
)

EXAMPLES = """
Examples:

  forensics diff checkpoint1 checkpoint2                    # what changed, values that moved first
  forensics diff ck1 ck2 --binary /app/svc=./svc            # values named by the binary's symbols
  forensics diff ck1 ck2 --json | jq '.values[] | select(.trend == "grew")'
  forensics diff ck1 ck2 --all --limit 0                    # every row, the noise too
"""


@app.command(epilog=EXAMPLES)
def diff(
    a: str = typer.Argument(..., help="The earlier checkpoint (any form inspect takes)."),
    b: str = typer.Argument(..., help="The later checkpoint."),
    as_json: bool = JsonOpt,
    fmt: Format = FormatOpt,
    show_all: bool = typer.Option(False, "--all", "-a", help="Also the changes every checkpoint makes (stacks, vDSO)."),
    limit: int = typer.Option(50, "--limit", "-n", help="Rows per table on text output (0: all); JSON has all."),
    rootfs: Optional[list[Path]] = RootfsOpt,
    binary: Optional[list[str]] = BinaryOpt,
    docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
    reveal: bool = RevealOpt,
) -> None:
    """Processes, fds, sockets, mounts, mappings and memory values that changed from A to B."""
    from forensics.diff.compare import diff_checkpoints
    from forensics.loader import load_checkpoint
    from forensics.memory.grep import scan_size
    from forensics.memory.select import VmaFilter
    from forensics.render.progress import scan_progress
    from forensics.symbols.resolve import resolver_for
    from forensics.symbols.stops import make_namer
    from forensics.tables import diff as tables
    from forensics.tables.order import order_problems, related
    from forensics.tables.secrets import masker_for

    fmt = chosen(fmt, as_json)
    check_paths(rootfs, "--rootfs")
    check_binaries(binary)
    ca = load_checkpoint(a, docker_root=docker_root, container=container)
    cb = load_checkpoint(b, docker_root=docker_root, container=container)
    for problem in order_problems([ca, cb]):
        warn(problem)
    unrelated = related(ca, cb)
    if unrelated:
        warn(unrelated)
    with scan_progress(scan_size(cb, VmaFilter()), "diff", enabled=fmt is Format.TEXT) as progress:
        d = diff_checkpoints(ca, cb, namer=make_namer(cb, resolver_for(cb, rootfs, binary)), progress=progress)
    masker = masker_for([ca, cb], reveal)
    out = [tables.changes(d, masker), tables.pages(d), tables.values(d, masker, show_all)]
    folded = tables.folded(d, show_all)
    rules = sorted({p.rule for p in d.pairs})
    if fmt is Format.TEXT:
        sys.stdout.write(f"A  {a}\nB  {b}\nmatched  {len(d.pairs)} processes (by {', '.join(rules) or 'nothing'})\n")
        more = "--limit 0 or --json shows all"
        emit([t.limited(limit or None, more) for t in out], fmt)
        if folded:
            sys.stdout.write(f"\n{folded} changes in thread stacks and vDSO data folded away (--all shows them)\n")
    else:
        extra = {"schema": 2, "a": ca.info.path, "b": cb.info.path,
                 "matched": [{"a_pid": p.a.pid, "b_pid": p.b.pid, "rule": p.rule} for p in d.pairs],
                 "noise_folded": folded}
        emit(out, fmt, extra)
    if not d.pairs:
        warn("no process of A matched one of B")
    if ca.partial or cb.partial:
        raise typer.Exit(2)
