"""`forensics inspect`: one checkpoint, decoded and reported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.findings.rules import findings
from forensics.render.terminal import make_console
from forensics.model.load import load_checkpoint
from forensics.render import json as json_render
from forensics.render import terminal
from forensics.render.escape import shown


@app.command()
def inspect(
    target: str = typer.Argument(..., help="A CRIU image dir, a Docker checkpoint name, or a checkpoint archive."),
    docker_root: Optional[Path] = typer.Option(None, help="Docker data root to find checkpoints by name in."),
    container: Optional[str] = typer.Option(None, help="Container name or id, when a checkpoint name is ambiguous."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document (docs/json.md)."),
    ps: bool = typer.Option(False, "--ps", help="Process table: ids, state, creds, seccomp."),
    threads: bool = typer.Option(False, "--threads", help="Threads with registers and syscalls."),
    fds: bool = typer.Option(False, "--fds", help="File descriptors of every kind."),
    sockets: bool = typer.Option(False, "--sockets", help="Sockets with addresses, states, queues."),
    mounts: bool = typer.Option(False, "--mounts", help="Mount points."),
    maps: bool = typer.Option(False, "--maps", help="Memory maps with dumped pages."),
    env: bool = typer.Option(False, "--env", help="Environment variables read from memory."),
    all_: bool = typer.Option(False, "--all", help="Every section."),
    pid: Optional[int] = typer.Option(None, "--pid", help="Only this process (pid inside the container)."),
    rootfs: Optional[list[Path]] = typer.Option(None, "--rootfs", help="Where the container's binaries are (repeatable)."),
    binary: Optional[list[str]] = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE (repeatable)."),
    show_findings: bool = typer.Option(False, "--findings", help="What to look at first, ranked."),
    reveal: bool = typer.Option(False, "--reveal", help="Show secret-looking values instead of masking them."),
) -> None:
    """Decode a checkpoint and report what CRIU saved: processes, threads, fds, sockets, mounts, memory."""
    from forensics.symbols.resolve import resolver_for  # capstone and pyelftools load only when used
    from forensics.symbols.stops import stops_for

    ck = load_checkpoint(target, docker_root=docker_root, container=container)
    resolver = resolver_for(ck, rootfs, binary)
    found = findings(ck, reveal, resolver=None if resolver.empty else resolver)
    stops = stops_for(ck, resolver) if (threads or all_ or as_json) else {}
    if as_json:
        sys.stdout.write(json_render.render(ck, found, stops) + "\n")
    else:
        sections = terminal.Sections.everything(pid) if all_ else terminal.Sections(
            ps, threads, fds, sockets, mounts, maps, env, pid)
        console = make_console()
        terminal.render(ck, sections, console, stops)
        if resolver.missing and stops:
            console.print(f"binaries not found (raw addresses shown): {shown(', '.join(sorted(resolver.missing)))}; "
                          "give --rootfs DIR or --binary PATH=FILE", style="yellow")
        if show_findings or all_:
            terminal.render_findings(found, console)
    if ck.partial:
        raise typer.Exit(2)


