"""Checkpoints found on disk (`ls`) as a declared table."""

from __future__ import annotations

from collections.abc import Iterable

from forensics.meta import CheckpointMeta
from forensics.records import Table
from forensics.records.kinds import CHECKPOINT


def checkpoints(found: Iterable[CheckpointMeta]) -> Table:
    t = Table(CHECKPOINT)
    for m in found:
        t.add(m.container_name, m.pod, m.namespace, m.checkpoint_name, m.engine or "criu", m.checkpoint_time,
              m.sizes.archive or m.sizes.images, str(m.path), m.container_id, m.layout)
    return t
