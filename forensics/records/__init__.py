"""Rows declared once, rendered anywhere.

Every kind of row the toolkit shows (a process, a thread, an fd, a mapping, a grep match, a change, a
finding, a checkpoint...) is declared once as a `RecordType`: its columns, each with a `Kind` that says
how every renderer formats it (an ADDRESS is `0x...` on a terminal and an integer in JSON; EVIDENCE is a
string taken from the checkpoint, escaped before it reaches a terminal). Analyses fill `Table`s with rows
of plain values; the terminal, plain-text, JSON, JSON Lines, CSV and HTML renderers format any table
without knowing what it holds, so the formats cannot disagree about a value.

This package is a leaf: it imports nothing from the rest of the toolkit, so every floor may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """How a column's values are formatted (and what they are)."""

    INT = "int"                  # a count or a number; never split
    PID = "pid"                  # a pid or tid inside the container
    ADDRESS = "address"          # a virtual address: 0x... on text, integer in JSON
    HEX = "hex"                  # a number best read in hex (flags, offsets)
    SIZE = "size"                # bytes: human units on a terminal, integer elsewhere
    WORD = "word"                # our own vocabulary (a kind, a state): never needs escaping
    EVIDENCE = "evidence"        # a string from the checkpoint: escaped on text outputs, exact in JSON
    WORDS = "words"              # a list of words (flags, capabilities): comma-joined on text
    BYTES = "bytes"              # raw bytes from memory: escaped text on a terminal, hex in JSON
    TIME = "time"                # a Timestamp, with where it comes from
    BOOL = "bool"
    VALUE = "value"              # a value decoded from memory: numbers stay numbers, strings are evidence


@dataclass(frozen=True, slots=True)
class Column:
    """One column. `key` names it in JSON/CSV, `header` on text. `brief` columns are the ones a terminal
    table shows by default; machine formats carry every column. A `quiet_when_zero` column is left out of
    a text table in which it says nothing (no incremental parent: no IN PARENT column)."""

    key: str
    header: str
    kind: Kind
    doc: str = ""
    brief: bool = True
    quiet_when_zero: bool = False   # text leaves it out when every row has 0 or nothing (IN PARENT, say)


@dataclass(frozen=True, slots=True)
class RecordType:
    """A kind of row: its name (JSON key of a list of them), a title for text and HTML, its columns."""

    name: str
    title: str
    columns: tuple[Column, ...]
    doc: str = ""

    def index(self, key: str) -> int:
        for i, c in enumerate(self.columns):
            if c.key == key:
                return i
        raise KeyError(key)


def record(name: str, title: str, *columns: Column, doc: str = "") -> RecordType:
    keys = [c.key for c in columns]
    if len(set(keys)) != len(keys):
        raise ValueError(f"record {name}: duplicate column keys")
    return RecordType(name, title, columns, doc)


@dataclass(slots=True)
class Table:
    """Rows of one record type. `omitted` counts rows an analysis left out on purpose (a top-N view), so
    a renderer can say how many and how to see them (`more`)."""

    type: RecordType
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    omitted: int = 0
    more: str | None = None
    title: str | None = None

    def add(self, *values: Any) -> None:
        if len(values) != len(self.type.columns):
            raise ValueError(f"{self.type.name}: {len(values)} values for {len(self.type.columns)} columns")
        self.rows.append(values)

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        for r in rows:
            self.add(*r)

    @property
    def heading(self) -> str:
        return self.title or self.type.title

    def dicts(self) -> Iterator[dict[str, Any]]:
        keys = [c.key for c in self.type.columns]
        for r in self.rows:
            yield dict(zip(keys, r))

    def column(self, key: str) -> list[Any]:
        i = self.type.index(key)
        return [r[i] for r in self.rows]

    def limited(self, limit: int | None, more: str) -> Table:
        """The first `limit` rows, the rest counted (text views of very long tables)."""
        if limit is None or len(self.rows) <= limit:
            return self
        return Table(self.type, self.rows[:limit], self.omitted + len(self.rows) - limit, more, self.title)


class TimeSource(StrEnum):
    """Where a time comes from, from most to least trustworthy for "when was this checkpoint taken"."""

    ENGINE = "engine metadata"                 # Podman's checkpointedTime, CRI status, Docker config
    CRIU_LOG = "CRIU log"                      # a dump.log line with a wall-clock time
    ARCHIVE_MEMBER = "archive member mtime"    # a tar header's mtime: set by whoever packed it
    FILE_MTIME = "file mtime"                  # a file's mtime on this disk: a copy changes it
    UPTIME = "CRIU dump_uptime"                # microseconds since boot: orders dumps of one boot only


TRUST = {
    TimeSource.ENGINE: "as reliable as the engine's clock",
    TimeSource.CRIU_LOG: "as reliable as the dumping host's clock",
    TimeSource.ARCHIVE_MEMBER: "when the archive was packed; survives copies of the archive",
    TimeSource.FILE_MTIME: "unreliable: any copy of the evidence (cp, git clone, tar without -p) resets it",
    TimeSource.UPTIME: "orders checkpoints of one boot; not a wall-clock time",
}


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A wall-clock time and where it was read. `what` says which event it is ("checkpointed",
    "container created", "file modified"), because an mtime is not the time a checkpoint was taken."""

    at: datetime
    source: TimeSource
    what: str = "checkpointed"
    origin: str | None = None        # which file or field it was read from

    @property
    def utc(self) -> datetime:
        return self.at.astimezone(UTC) if self.at.tzinfo else self.at.replace(tzinfo=UTC)

    @property
    def trust(self) -> str:
        return TRUST[self.source]

    @property
    def reliable(self) -> bool:
        return self.source in (TimeSource.ENGINE, TimeSource.CRIU_LOG, TimeSource.ARCHIVE_MEMBER)

    def text(self) -> str:
        label = f"{self.what}, {self.source.value}"
        if self.origin:
            label += f" of {self.origin}"
        return f"{self.utc.strftime('%Y-%m-%d %H:%M:%S')}Z ({label})"

    def doc(self) -> dict[str, Any]:
        return {"utc": self.utc.isoformat().replace("+00:00", "Z"), "what": self.what,
                "source": self.source.value, "origin": self.origin, "trust": self.trust}


@dataclass(frozen=True, slots=True)
class Fact:
    """One key-value line of a summary ("CRIU: 4.2.1 (dump.log)"), formatted by its kind like a cell."""

    key: str
    label: str
    value: Any
    kind: Kind = Kind.EVIDENCE


@dataclass(frozen=True, slots=True)
class TreeLine:
    """One node of a tree drawn as indented lines (the process tree): depth 0 is a root."""

    depth: int
    label: str
    note: str = ""
