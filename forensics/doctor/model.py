"""What the doctor hands back: one record per thing, rendered generically by `render.py`.

A `Diagnosis` lists the `Source`s it read, the `Finding`s (rule matches) ranked with the likely cause
first, and the `BenignLines` CRIU printed that are not the cause. Logs are text and are quoted; nothing
here ever holds memory contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["failed", "succeeded", "unknown"]
SourceKind = Literal["criu-log", "engine-error", "images", "stats"]
FindingKind = Literal["cause", "pointer", "fallback"]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One quoted line: `source` (file path), `number` (1-based), `text` (as written, trailing space
    removed, cut at 400 characters)."""

    source: str
    number: int
    text: str


@dataclass(slots=True)
class Source:
    """One input read.

    `kind`: "criu-log" (dump.log, restore.log, ...), "engine-error" (Docker's, runc's or Podman's error
    text), "images" (a CRIU image directory), "stats" (stats-dump / stats-restore). `action`: "dump",
    "pre-dump", "restore" or "check" when a log says so; `outcome` None for stats; `task` the root task
    ("25234 (service)") a dump names; `log_paths` the CRIU logs an engine text names; `note` what the
    doctor concluded from this input alone.
    """

    path: str
    kind: SourceKind
    outcome: Outcome | None = None
    action: str | None = None
    criu_version: str | None = None
    kernel: str | None = None
    task: str | None = None
    log_paths: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass(slots=True)
class Finding:
    """One rule that matched.

    `kind`: "cause", "pointer" (an engine naming CRIU's log) or "fallback" (the first error no rule
    knows). `lines` are the matched lines, `context` the nearby or supporting lines the evidence came
    from, `evidence` what was extracted (fd, pid, socket inode, path, ...), `fix` the rule's fix with the
    evidence filled in, `notes` remarks on the CRIU version and kernel the log states, `sources` the
    inputs it was found in.
    """

    rule: str
    title: str
    kind: FindingKind
    explanation: str
    fix: str
    lines: list[LogLine] = field(default_factory=list)
    context: list[LogLine] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BenignLines:
    """Known noise (`rules.NOISE`): `count` lines matched, the first few quoted, and why it is harmless."""

    id: str
    why: str
    count: int = 0
    lines: list[LogLine] = field(default_factory=list)


@dataclass(slots=True)
class Diagnosis:
    """Why a checkpoint or restore failed, or that it did not.

    `outcome`: "failed" if any input failed, "succeeded" if every input that has a verdict succeeded,
    else "unknown". `findings` ranked: causes first (most specific, then earliest), then an engine's
    pointer to CRIU's log, then the fallback. `criu_version` and `kernel` as the first log states them;
    `stats` the counters of stats-dump/stats-restore (times in microseconds); `notes` plain remarks.
    """

    path: str
    outcome: Outcome
    sources: list[Source] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    benign: list[BenignLines] = field(default_factory=list)
    criu_version: str | None = None
    kernel: str | None = None
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cause(self) -> Finding | None:
        """The top-ranked finding, if any."""
        return self.findings[0] if self.findings else None
