"""The questions a hunt asks each checkpoint, and how one checkpoint (or one part of it) answers.

Questions are small frozen dataclasses of plain values (they travel to worker processes and Dask
workers by pickle); what is costly to build from them (a compiled pattern, YARA rules, the baseline's
model) is built once per worker process and kept. The answers come from the project's own analyses:
memory.grep, memory.yara, findings.rules, diff.compare; nothing here searches or compares by itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from forensics.errors import ForensicsError
from forensics.hunt.rows import Hit, HitKind, Target
from forensics.memory.select import VmaFilter
from forensics.model.checkpoint import Checkpoint


@dataclass(frozen=True, slots=True)
class Part:
    """Which share of one checkpoint a task answers: the processes `pids` (None: all), and for one big
    process the pages-file offsets [lo, hi) its matches start in (grep only)."""

    pids: frozenset[int] | None = None
    span: tuple[int, int] | None = None

    def describe(self) -> str:
        who = "all processes" if self.pids is None else "pid " + ",".join(str(p) for p in sorted(self.pids))
        return who + (f" bytes {self.span[0]}-{self.span[1]}" if self.span else "")


@dataclass(frozen=True, slots=True)
class Binaries:
    """--rootfs / --binary, for symbol names (diff) and the patched-code finding. Paths every worker sees."""

    rootfs: tuple[str, ...] = ()
    binary: tuple[str, ...] = ()

    def resolver(self, ck: Checkpoint):  # noqa: ANN201 - forensics.symbols.resolve.BinaryResolver
        from forensics.symbols.resolve import resolver_for

        return resolver_for(ck, [Path(r) for r in self.rootfs] or None, list(self.binary) or None)


@dataclass(frozen=True, slots=True)
class GrepQuestion:
    pattern: str
    regex: bool = False
    hex_bytes: bool = False
    ignore_case: bool = False
    utf16: bool = False

    splittable = True   # one big process can be cut into pages-file spans

    def describe(self) -> str:
        return f"grep {self.pattern!r}"


@dataclass(frozen=True, slots=True)
class YaraQuestion:
    rules: str          # the rules' text: workers need not see the file
    name: str

    splittable = False  # YARA scans whole mappings: a task takes whole processes

    def describe(self) -> str:
        return f"yara {self.name}"


@dataclass(frozen=True, slots=True)
class FindingsQuestion:
    min_score: int = 0
    reveal: bool = False
    binaries: Binaries = Binaries()

    splittable = False

    def describe(self) -> str:
        return f"findings (score >= {self.min_score})"


@dataclass(frozen=True, slots=True)
class DiffQuestion:
    baseline: Target
    binaries: Binaries = Binaries()
    reveal: bool = False

    splittable = False

    def describe(self) -> str:
        return f"diff against {self.baseline.label}"


Question = GrepQuestion | YaraQuestion | FindingsQuestion | DiffQuestion


def compiled_pattern(q: GrepQuestion):  # noqa: ANN201 - forensics.memory.search.Needle
    try:
        return _compile_pattern(q)
    except (ValueError, re.error) as e:
        raise ForensicsError(f"bad pattern: {e}") from None


@functools.lru_cache(maxsize=8)
def _compile_pattern(q: GrepQuestion):  # noqa: ANN202
    from forensics.memory.search import compile_pattern

    return compile_pattern(q.pattern, regex=q.regex, hex_bytes=q.hex_bytes, ignore_case=q.ignore_case,
                           utf16=q.utf16)


@functools.lru_cache(maxsize=4)
def _compiled_rules(text: str, name: str):  # noqa: ANN202 - yara_x.Rules, compiled once per worker
    from forensics.memory.yara import compile_rules

    return compile_rules(text, name)


def check(q: Question) -> None:
    """Raise ForensicsError now, on the client, for a question no worker could answer (bad pattern,
    rules that do not compile), instead of one identical error row per checkpoint."""
    if isinstance(q, GrepQuestion):
        compiled_pattern(q)
    elif isinstance(q, YaraQuestion):
        _compiled_rules(q.rules, q.name)


def _filter(part: Part | None) -> VmaFilter:
    return VmaFilter(pids=part.pids if part is not None else None)


def _masker(cks: list[Checkpoint], reveal: bool):  # noqa: ANN202 - forensics.model.secrets.Masker
    """The one masking policy of every output (tables.secrets): each secret these checkpoints hold (their
    environments, command lines, commands typed into shells) masked wherever a hit's text repeats it."""
    from forensics.tables.secrets import masker_for

    return masker_for(cks, reveal)


def ask(ck: Checkpoint, q: Question, part: Part | None = None) -> list[Hit]:
    """The hits of one checkpoint (or of one part of it), in a stable order, secrets masked unless the
    question reveals them (a grep's pattern is the user's own and stays as given)."""
    if isinstance(q, GrepQuestion):
        hits = _grep(ck, q, part)
    elif isinstance(q, YaraQuestion):
        hits = _yara(ck, q, part)
    elif isinstance(q, FindingsQuestion):
        hits = _findings(ck, q)
    else:
        hits = _diff(ck, q)   # masks its own texts: they are its fold keys
    if not isinstance(q, DiffQuestion) and hits:
        masker = _masker([ck], getattr(q, "reveal", False))
        hits = [replace(h, detail=masker.text(h.detail)) for h in hits]
    return sorted(hits, key=Hit.sort_key)


def _mapping(vma: Any) -> str:
    return f"{vma.label or vma.kind} [{vma.start:x}-{vma.end:x} {vma.prot_str}]"


def _grep(ck: Checkpoint, q: GrepQuestion, part: Part | None) -> list[Hit]:
    from forensics.memory.grep import grep

    needle = compiled_pattern(q)
    span = part.span if part is not None else None
    return [Hit(HitKind.GREP, q.pattern, _mapping(m.vma), m.pid, m.address, m.length, str(m.where))
            for m in grep(ck, needle, _filter(part), span=span)]


def _yara(ck: Checkpoint, q: YaraQuestion, part: Part | None) -> list[Hit]:
    from forensics.memory.yara import scan

    rules = _compiled_rules(q.rules, q.name)
    return [Hit(HitKind.YARA, m.rule, f"{m.pattern} in {_mapping(m.vma)}", m.pid, m.address, m.length,
                str(m.vma.label or m.vma.kind)) for m in scan(ck, rules, _filter(part))]


def _findings(ck: Checkpoint, q: FindingsQuestion) -> list[Hit]:
    from forensics.findings.rules import findings

    resolver = q.binaries.resolver(ck) if q.binaries.rootfs or q.binaries.binary else None
    out = []
    for f in findings(ck, q.reveal, resolver=resolver):
        if f.score < q.min_score:
            continue
        ev = f.evidence[0] if f.evidence else None
        out.append(Hit(HitKind.FINDING, f.rule, f"{f.title}: {f.detail}", ev.pid if ev else None,
                       ev.address if ev else None, score=f.score))
    return out


# Registers move in every checkpoint of a running program: noise, like diff's thread stacks.
_REGISTER_FIELD = re.compile(r"^tid \d+ (sp|ip)$")


def _shown(value: Any, name: str, reveal: bool) -> str:
    from forensics.model.secrets import SECRET_NAME, mask

    text = str(value)
    return text if reveal or not SECRET_NAME.search(name) else mask(text)


def _env_change(old: dict[str, str] | None, new: dict[str, str] | None, reveal: bool) -> str:
    """Only the variables that differ, secrets masked: a whole environment is noise and may hold tokens."""
    old, new = old or {}, new or {}
    parts = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) == new.get(k):
            continue
        a = _shown(old[k], k, reveal) if k in old else None
        b = _shown(new[k], k, reveal) if k in new else None
        parts.append(f"+{k}={b}" if a is None else f"-{k}={a}" if b is None else f"{k}: {a} -> {b}")
    return "; ".join(parts)


@functools.lru_cache(maxsize=2)
def _baseline(t: Target) -> Checkpoint:
    from forensics.hunt.open import load

    return load(t)


def _diff(ck: Checkpoint, q: DiffQuestion) -> list[Hit]:
    from forensics.diff.compare import diff_checkpoints
    from forensics.symbols.stops import make_namer

    base = _baseline(q.baseline)
    d = diff_checkpoints(base, ck, namer=make_namer(ck, q.binaries.resolver(ck)))
    masker = _masker([base, ck], q.reveal)
    out = []
    for c in d.changes:
        if c.field and _REGISTER_FIELD.match(c.field):
            continue
        if c.field == "env":
            text = f"{c.subject} env {_env_change(c.old, c.new, q.reveal)}"
        elif c.field is not None:
            text = f"{c.subject} {c.field}: {c.old} -> {c.new}"
        else:
            text = c.subject + "".join(f" {x}" for x in (c.old, c.new, c.note) if x is not None)
        what = f"{c.section} {c.what}"
        text = masker.text(text)
        out.append(Hit(HitKind.CHANGE, what, text, c.pid, key=f"{what}|{c.pid}|{text}"))
    for v in d.values:
        if v.noise is not None:
            continue
        name = v.symbol or v.where
        text = masker.text(f"{v.type} {v.old!r} -> {v.new!r}")
        out.append(Hit(HitKind.VALUE, str(name), text, v.pid, v.address, where=str(v.where),
                       key=f"value|{v.pid}|{v.address:x}|{name}|{text}"))
    return out
