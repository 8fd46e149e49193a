"""`forensics ls [DIR ...]`: every checkpoint found, like `docker checkpoint ls` across containers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from forensics.cli import app
from forensics.locate.listing import find_checkpoints
from forensics.render.escape import shown
from forensics.render.terminal import make_console, size


@app.command("ls")
def ls(
    roots: Optional[list[Path]] = typer.Argument(None, help="Where to look (default: /var/lib/docker and "
                                                          "/var/lib/kubelet/checkpoints)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List checkpoints (directories and archives) with container, name, time and size."""
    found = sorted(find_checkpoints(roots or None), key=lambda m: (str(m.container_name), str(m.checkpoint_time)))
    rows = [{"container": m.container_name, "container_id": m.container_id, "name": m.checkpoint_name,
             "engine": m.engine, "layout": m.layout, "time": m.checkpoint_time.isoformat() if m.checkpoint_time else None,
             "size": m.sizes.archive or m.sizes.images, "path": str(m.path)} for m in found]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    t = Table(show_edge=False, header_style="bold")
    for c in ("CONTAINER", "CHECKPOINT", "ENGINE", "TAKEN", "SIZE", "PATH"):
        t.add_column(c, overflow="fold")
    for r in rows:
        taken = r["time"][:19].replace("T", " ") if r["time"] else ""
        t.add_row(shown(r["container"] or ""), shown(r["name"] or ""), r["engine"] or "criu", taken,
                  size(r["size"]) if r["size"] else "", shown(r["path"]))
    make_console().print(t)
