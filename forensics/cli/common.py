"""What every command shares: the output formats, list options, checks of what the user typed, and the
one way tables reach stdout."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from forensics.errors import UsageError
from forensics.model.checkpoint import Checkpoint
from forensics.records import Table


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


FormatOpt = typer.Option(Format.TEXT, "--format", "-f", help="text (default), json, jsonl (JSON Lines) or csv.",
                         case_sensitive=False)
JsonOpt = typer.Option(False, "--json", help="Same as --format json.")
PidsOpt = typer.Option(None, "--pid", "-p", metavar="PIDS", help="Only these processes (pids inside the container): repeatable "
                       "or a comma list, e.g. --pid 1,7.")
RevealOpt = typer.Option(False, "--reveal", help="Show secret-looking values instead of masking them.")
DockerRootOpt = typer.Option(None, "--docker-root", help="Docker data root (or a --checkpoint-dir) to find "
                             "checkpoints by name in; default /var/lib/docker.")
ContainerOpt = typer.Option(None, "--container", help="Container name or id, when a checkpoint name is ambiguous.")
RootfsOpt = typer.Option(None, "--rootfs", help="A directory holding the container's files, for binaries "
                         "(repeatable).")
BinaryOpt = typer.Option(None, "--binary", help="PATH_IN_CONTAINER=LOCAL_FILE, a binary by hand (repeatable).")


def chosen(fmt: Format, as_json: bool) -> Format:
    return Format.JSON if as_json else fmt


def parse_pids(values: Sequence[str] | None) -> list[int] | None:
    """--pid 1 --pid 7, or --pid 1,7: the same list."""
    if not values:
        return None
    out = []
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(int(part))
            except ValueError:
                raise UsageError(f"--pid takes numbers, not {part!r}", "e.g. --pid 1,7") from None
    return out


def check_pids(pids: Iterable[int] | None, checkpoints: Iterable[Checkpoint]) -> None:
    """A pid no checkpoint has is a mistake to say, not an empty report."""
    if not pids:
        return
    cks = list(checkpoints)
    known = {p.pid for ck in cks for p in ck.processes}
    missing = [p for p in pids if p not in known]
    if missing:
        have = ", ".join(str(p) for p in sorted(known)) or "none"
        raise UsageError(f"no process {', '.join(map(str, missing))} in {'these checkpoints' if len(cks) > 1 else 'this checkpoint'}",
                         f"its pids: {have}")


def check_paths(paths: Iterable[Path] | None, what: str) -> None:
    for p in paths or []:
        if not p.exists():
            raise UsageError(f"{what} {p}: no such file or directory")


def check_binaries(specs: Iterable[str] | None) -> None:
    for spec in specs or []:
        inside, sep, local = spec.partition("=")
        if not sep or not inside or not local:
            raise UsageError(f"--binary {spec!r} is not PATH_IN_CONTAINER=LOCAL_FILE", "e.g. --binary /app/svc=./svc")
        if not Path(local).is_file():
            raise UsageError(f"--binary {spec}: {local} is not a file")


def emit(tables: Sequence[Table], fmt: Format, extra: dict[str, Any] | None = None, wide: bool = False) -> None:
    """Tables to stdout in the chosen format."""
    out = sys.stdout
    if fmt is Format.TEXT:
        from forensics.render import table as text

        text.write(tables, out, wide)
    elif fmt is Format.JSON:
        from forensics.render import machine

        machine.write_json(tables, out, extra)
    elif fmt is Format.JSONL:
        from forensics.render import machine

        machine.write_jsonl(tables, out)
    else:
        from forensics.render import machine

        machine.write_csv(tables, out)


def warn(message: str) -> None:
    """A warning for the analyst: stderr, never mixed into the data on stdout."""
    sys.stderr.write(f"forensics: warning: {message}\n")
