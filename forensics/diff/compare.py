"""The whole comparison of two checkpoints, as one record the renderers print."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from forensics.memory.space import space_of
from forensics.diff.changes import (
    Change, fd_changes, mount_changes, process_changes, socket_changes, vma_changes,
)
from forensics.diff.match import Pair, match_processes
from forensics.diff.memory import Namer, ValueChange, VmaMemoryChange, compare
from forensics.model.checkpoint import Checkpoint


@dataclass(slots=True)
class Diff:
    a: Checkpoint
    b: Checkpoint
    pairs: list[Pair]
    changes: list[Change] = field(default_factory=list)
    memory: list[VmaMemoryChange] = field(default_factory=list)
    values: list[ValueChange] = field(default_factory=list)

    def section(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.section == name]


def diff_checkpoints(a: Checkpoint, b: Checkpoint, namer: Namer | None = None,
                     progress: Callable[[int], None] | None = None) -> Diff:
    pairs, removed, added = match_processes(a.processes, b.processes)
    d = Diff(a, b, pairs)
    # A pre-dump's processes have pages only: comparing their (absent) fds, mappings and ids would report
    # everything as added; their memory is compared like any other.
    described = [p for p in pairs if not (p.a.memory_only or p.b.memory_only)]
    d.changes.extend(process_changes(described, removed, added))
    d.changes.extend(fd_changes(described))
    d.changes.extend(socket_changes(described, removed, added))
    d.changes.extend(mount_changes(a, b))
    d.changes.extend(vma_changes(described))
    seen_shared: set[tuple[int, int]] = set()
    for pair in pairs:
        sa, sb = space_of(a, pair.a.pid), space_of(b, pair.b.pid)
        if sa is None or sb is None:
            continue
        if pair.rule not in ("pid", "pid (pre-dump)"):
            continue  # another process with the same command: its memory is not "the same memory, changed"
        mem, values = compare(pair.b.pid, pair.a, pair.b, sa, sb, namer, progress)
        d.memory.extend(mem)
        for v in values:
            # A page shared by several processes changes once: report the value once, for the first pid.
            vma = sb.vma_at(v.address)
            link = sb.shared_of.get(vma.start) if vma is not None else None
            if link is not None and vma is not None:
                key = (link[0], link[1] + v.address - vma.start)
                if key in seen_shared:
                    continue
                seen_shared.add(key)
            d.values.append(v)
    return d
