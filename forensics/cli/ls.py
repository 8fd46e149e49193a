"""`forensics ls [DIR ...]`: every checkpoint found, like `docker checkpoint ls` across containers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from forensics.cli import app
from forensics.cli.common import DockerRootOpt, Format, FormatOpt, JsonOpt, chosen, emit
from forensics.errors import UsageError

EXAMPLES = """
Examples:

  forensics ls                                   # /var/lib/docker and /var/lib/kubelet/checkpoints
  forensics ls /srv/evidence --format csv
  forensics ls --docker-root /mnt/host/var/lib/docker --json
"""


@app.command("ls", epilog=EXAMPLES)
def ls(
    roots: Optional[list[Path]] = typer.Argument(None, help="Where to look (default: /var/lib/docker and "
                                                          "/var/lib/kubelet/checkpoints)."),
    docker_root: Optional[Path] = DockerRootOpt,
    as_json: bool = JsonOpt,
    fmt: Format = FormatOpt,
    wide: bool = typer.Option(False, "--wide", "-w", help="Every column."),
) -> None:
    """List checkpoints (directories and archives) with container, pod, name, time (and its source), size."""
    from forensics.locate.listing import find_checkpoints
    from forensics.tables.listing import checkpoints

    where = [*(roots or []), *([docker_root] if docker_root else [])]
    for r in where:
        if not r.exists():
            raise UsageError(f"{r}: no such file or directory")
    found = find_checkpoints(where or None)
    table = checkpoints(sorted(found, key=lambda m: (str(m.container_name), m.checkpoint_time.utc.timestamp()
                                                     if m.checkpoint_time else 0.0, str(m.path))))
    emit([table], chosen(fmt, as_json), wide=wide)
