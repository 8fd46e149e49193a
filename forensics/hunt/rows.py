"""What a hunt yields: one typed row per checkpoint and hit, with the checkpoint's identity as columns.

A checkpoint that could not be decoded is a row too (status `failed`, its error), never a missing line;
one that decoded with damage is `partial`. Every output (table, JSON, JSON Lines, HTML) is made from these
rows and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    PARTIAL = "partial"      # decoded, but some images were damaged or a part of the work failed
    FAILED = "failed"        # not decoded at all: the row carries the error


class HitKind(StrEnum):
    GREP = "grep"
    YARA = "yara"
    FINDING = "finding"
    CHANGE = "change"        # a structural change against the baseline (forensics.diff.changes)
    VALUE = "value"          # a value in memory that moved against the baseline (forensics.diff.memory)


@dataclass(frozen=True, slots=True)
class Target:
    """One checkpoint to hunt in. `ref` is what a worker opens (a path, or a Docker checkpoint name with
    `docker_root`/`container`); the rest are the identity columns, known before anything is decoded."""

    ref: str
    label: str
    docker_root: str | None = None
    container_ref: str | None = None
    engine: str | None = None
    container: str | None = None
    pod: str | None = None
    namespace: str | None = None
    time: str | None = None
    time_source: str | None = None    # where the time was read: forensics.records.TimeSource
    pages_size: int | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One answer inside one checkpoint. `what` is the rule, pattern, finding rule or changed field;
    `detail` a one-line description (secrets masked unless revealed); `score` only for findings."""

    kind: HitKind
    what: str
    detail: str = ""
    pid: int | None = None
    address: int | None = None
    length: int | None = None
    where: str | None = None
    score: int | None = None
    key: str | None = None   # how diff folding recognises the same change in another checkpoint

    def sort_key(self) -> tuple[Any, ...]:
        return (self.pid if self.pid is not None else -1, self.address if self.address is not None else -1,
                self.kind.value, self.what, self.detail)


@dataclass(slots=True)
class CheckpointResult:
    """Everything one checkpoint gave: its hits in a stable order, or the error that stopped it."""

    target: Target
    status: Status = Status.OK
    hits: list[Hit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    tasks: int = 0
    folded: int = 0          # diff changes folded away as shared by every checkpoint


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the hunt's table. `count` is the number of hits of the checkpoint (per-checkpoint
    rows) or 1 (a row per hit); `hit` is None for a checkpoint without hits or that failed."""

    checkpoint: str
    ref: str
    engine: str | None
    container: str | None
    pod: str | None
    namespace: str | None
    time: str | None
    status: Status
    count: int
    hit: Hit | None = None
    error: str | None = None
    time_source: str | None = None


SORT_COLUMNS = ("checkpoint", "container", "pod", "namespace", "time", "engine", "status", "count", "pid",
                "address", "what", "score", "kind")


def sort_value(row: Row, column: str) -> tuple[int, Any]:
    """A key that sorts None last and compares like with like, for --sort."""
    if column in ("pid", "address", "what", "score", "kind", "where"):
        value = getattr(row.hit, column, None) if row.hit is not None else None
        if isinstance(value, StrEnum):
            value = value.value
    else:
        value = getattr(row, column)
        if isinstance(value, StrEnum):
            value = value.value
    return (1, "") if value is None else (0, value)
