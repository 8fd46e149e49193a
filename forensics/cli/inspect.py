"""`forensics inspect`: one checkpoint, decoded and reported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.records.format import printable
from forensics.cli.common import (
    BinaryOpt, ContainerOpt, DockerRootOpt, Format, FormatOpt, PidsOpt, RevealOpt, RootfsOpt, check_binaries,
    check_paths, check_pids, emit, parse_pids, warn,
)

EXAMPLES = """
Examples:

  forensics inspect checkpoint1 --all                        # everything, on a terminal or into a pipe
  forensics inspect checkpoint1 --fds --sockets --pid 1,7    # two sections, two processes
  forensics inspect export.tar.zst --json | jq .processes    # the model as one JSON document (docs/json.md)
  forensics inspect checkpoint1 --maps --format csv > maps.csv
  forensics inspect checkpoint1 --threads --rootfs ./unpacked-image   # symbolized stops
"""


@app.command(epilog=EXAMPLES)
def inspect(
    target: str = typer.Argument(..., help="A CRIU image dir, a Docker checkpoint name, or a checkpoint archive."),
    docker_root: Optional[Path] = DockerRootOpt,
    container: Optional[str] = ContainerOpt,
    as_json: bool = typer.Option(False, "--json", help="The whole model as one JSON document (docs/json.md in the source). For tables in JSON, JSON Lines or CSV use --format; `forensics columns` lists their keys."),
    fmt: Format = FormatOpt,
    ps: bool = typer.Option(False, "--ps", help="Process table: ids, state, creds, seccomp."),
    threads: bool = typer.Option(False, "--threads", help="Threads with registers, syscalls and where they stopped."),
    fds: bool = typer.Option(False, "--fds", help="File descriptors of every kind."),
    sockets: bool = typer.Option(False, "--sockets", help="Sockets with addresses, states, queues."),
    mounts: bool = typer.Option(False, "--mounts", help="Mount points."),
    maps: bool = typer.Option(False, "--maps", help="Memory maps with dumped pages."),
    env: bool = typer.Option(False, "--env", help="Environment variables read from memory (secrets masked)."),
    all_: bool = typer.Option(False, "--all", "-a", help="Every section, and the findings."),
    wide: bool = typer.Option(False, "--wide", "-w", help="Every column of each table, not only the main ones."),
    pid: Optional[list[str]] = PidsOpt,
    rootfs: Optional[list[Path]] = RootfsOpt,
    binary: Optional[list[str]] = BinaryOpt,
    show_findings: bool = typer.Option(False, "--findings", help="What to look at first, ranked."),
    reveal: bool = RevealOpt,
    python: bool = typer.Option(False, "--python", help="Python stacks: every thread's CPython 3.11-3.13 frames "
                                                        "(function, file, line)."),
    show_locals: bool = typer.Option(False, "--locals", help="With --python: each frame's local variables."),
    go: bool = typer.Option(False, "--goroutines", help="Go programs: every goroutine from runtime.allgs, unwound."),
) -> None:
    """Decode a checkpoint and report what CRIU saved: processes, threads, fds, sockets, mounts, memory."""
    from forensics.findings.rules import findings
    from forensics.loader import load_checkpoint
    from forensics.symbols.resolve import resolver_for
    from forensics.tables import findings as finding_tables
    from forensics.tables import inspect as tables
    from forensics.tables.secrets import masker_for

    check_paths(rootfs, "--rootfs")
    check_binaries(binary)
    pids = parse_pids(pid)
    ck = load_checkpoint(target, docker_root=docker_root, container=container)
    check_pids(pids, [ck])
    wanted = set(pids) if pids else None
    procs = [p for p in ck.processes if wanted is None or p.pid in wanted]
    masker = masker_for([ck], reveal)
    resolver = resolver_for(ck, rootfs, binary)
    found = [x for x in findings(ck, reveal, resolver=None if resolver.empty else resolver)
             if wanted is None or any(e.pid in wanted for e in x.evidence)]
    machine = as_json or fmt is not Format.TEXT
    stops = {}
    if threads or all_ or machine:
        from forensics.symbols.stops import stops_for  # capstone and pyelftools load only when used

        stops = stops_for(ck, resolver)
    py_stacks = None
    if python or show_locals:
        from forensics.symbols.python import python_stacks
        py_stacks = python_stacks(ck, resolver, with_locals=show_locals)
    if as_json:
        from forensics.render import json as json_render

        json_render.write(sys.stdout, ck, finding_tables.masked(found, masker), stops, masker, wanted, py_stacks)
    else:
        sections = {"ps": ps or all_, "threads": threads or all_, "fds": fds or all_, "sockets": sockets or all_,
                    "maps": maps or all_, "mounts": mounts or all_, "env": env or all_}
        if machine and not any(sections.values()):
            sections = dict.fromkeys(sections, True)
        out = []
        if sections["ps"] or machine:
            out.append(tables.processes(procs, masker))
        if sections["threads"]:
            out.append(tables.threads(procs, stops))
        if sections["fds"]:
            out.append(tables.fds(procs))
        if sections["sockets"]:
            out.append(tables.sockets(procs))
        if sections["maps"]:
            out.append(tables.mappings(procs))
        if sections["mounts"]:
            out.append(tables.mounts(ck))
        if sections["env"]:
            out.append(tables.environment(procs, masker))
        if show_findings or all_ or machine:
            out.append(finding_tables.findings(found, masker))
        if machine:
            if py_stacks is not None:
                from forensics.tables.python import python_frames
                out.append(python_frames(py_stacks, masker, wanted))
            emit(out, fmt)
        else:
            _text(ck, out, stops if sections["threads"] else {}, masker, wanted, wide)
            if py_stacks is not None:
                from forensics.render.pystacks import write_python
                write_python(ck, py_stacks, masker, sys.stdout, wanted)
            if go:
                from forensics.render.terminal import goroutine_listing
                from forensics.symbols.goroutines import goroutines_for

                goroutine_listing(goroutines_for(ck, resolver), sys.stdout, wanted)
        if resolver.missing and stops and sections["threads"]:
            warn(f"binaries not found (raw addresses shown): {', '.join(sorted(resolver.missing))}; "
                 "give --rootfs DIR or --binary PATH=FILE")
    for w in ck.warnings:
        warn(w)
    for e in ck.errors:
        sys.stderr.write(f"forensics: error: {printable(e)}\n")
    if ck.partial:
        sys.stderr.write("forensics: the result is partial: some of the checkpoint could not be read (exit 2)\n")
        raise typer.Exit(2)
    if any(p.partial for p in py_stacks or [] if wanted is None or p.pid in wanted):
        sys.stderr.write("forensics: the Python stacks are partial or missing (see their notes; exit 2)\n")
        raise typer.Exit(2)


def _text(ck, tables, stops, masker, wanted, wide) -> None:  # noqa: ANN001 - the command's own locals
    from forensics.render import table as text
    from forensics.render.terminal import thread_stops
    from forensics.tables import inspect as t

    out = sys.stdout
    text.write_facts(t.summary(ck, masker), out)
    out.write("\n")
    text.write_tree("process tree", t.tree(ck, masker, next(iter(wanted)) if wanted and len(wanted) == 1 else None),
                    out)
    for table in tables:
        out.write("\n")
        text.write([table], out, wide)
        if table.type.name == "threads" and stops:
            thread_stops([p for p in ck.processes if wanted is None or p.pid in wanted], stops, out)
