"""Opening a hunt target where the work runs (a worker process or a Dask worker), by its reference."""

from __future__ import annotations

from pathlib import Path

from forensics.hunt.rows import Target
from forensics.loader import close_checkpoint, load_source
from forensics.locate.resolve import open_checkpoint
from forensics.model.checkpoint import Checkpoint


def load(t: Target) -> Checkpoint:
    """The decoded checkpoint. Raises ForensicsError (the task turns it into the checkpoint's error)."""
    source = open_checkpoint(t.ref, docker_root=Path(t.docker_root) if t.docker_root else None,
                             container=t.container_ref)
    try:
        return load_source(source)
    except BaseException:
        source.close()
        raise


def close(ck: Checkpoint) -> None:
    """Unmap the evidence (and drop a spilled archive's scratch copy) once a task is done with it."""
    close_checkpoint(ck)
