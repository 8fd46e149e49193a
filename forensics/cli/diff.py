"""`forensics diff A B`: what changed between two checkpoints of one container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.render.terminal import make_console
from forensics.diff.compare import diff_checkpoints
from forensics.memory.grep import scan_size
from forensics.memory.select import VmaFilter
from forensics.model.load import load_checkpoint
from forensics.render import json as json_render
from forensics.render import terminal
from forensics.render.progress import scan_progress


@app.command()
def diff(
    a: str = typer.Argument(..., help="The earlier checkpoint (any form inspect takes)."),
    b: str = typer.Argument(..., help="The later checkpoint."),
    as_json: bool = typer.Option(False, "--json"),
    show_all: bool = typer.Option(False, "--all", help="Also the changes every checkpoint makes (stacks, vDSO)."),
    rootfs: Optional[list[Path]] = typer.Option(None, "--rootfs", help="Where the container's binaries are."),
    binary: Optional[list[str]] = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE."),
    docker_root: Optional[Path] = typer.Option(None, "--docker-root"),
    container: Optional[str] = typer.Option(None, "--container"),
) -> None:
    """Processes, fds, sockets, mounts, mappings and memory values that changed from A to B."""
    from forensics.symbols.resolve import resolver_for
    from forensics.symbols.stops import make_namer

    ca = load_checkpoint(a, docker_root=docker_root, container=container)
    cb = load_checkpoint(b, docker_root=docker_root, container=container)
    with scan_progress(scan_size(cb, VmaFilter()), "diff", enabled=not as_json) as progress:
        d = diff_checkpoints(ca, cb, namer=make_namer(cb, resolver_for(cb, rootfs, binary)),
                             progress=progress)
    if as_json:
        print(json.dumps(json_render.diff_document(d, show_all), indent=1, default=str))
    else:
        terminal.render_diff(d, make_console(), show_all)
