"""One pass over one text input (a CRIU log or an engine's error text) against the rule table.

The file is read line by line, never whole: CRIU logs at -v4 reach hundreds of megabytes. Only a window
of recent lines is kept, for the `context` a rule reads backwards from its first hit.
"""

from __future__ import annotations

import io
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from forensics.doctor import grammar
from forensics.doctor.model import LogLine, Outcome, SourceKind
from forensics.doctor.rules import NOISE, RULES, SYMPTOMS, Noise, Rule, compiled, literal_of
from forensics.locate.views import open_evidence

CONTEXT_WINDOW = 400   # lines kept for backward context search
MAX_HIT_LINES = 5      # matched lines quoted per rule and input
MAX_NOISE_LINES = 3    # noise lines quoted per noise id and input
MAX_LINE = 400         # characters quoted per line


# (literal, regex, pattern): the regex runs only on lines holding the literal.
_Matcher = tuple[str, re.Pattern[str], str]


def _matcher(pattern: str) -> _Matcher:
    return literal_of(pattern), compiled(pattern), pattern


_RULES = [(rule, [_matcher(p) for p in rule.patterns], [_matcher(p) for p in rule.support]) for rule in RULES]
_NOISE = [(noise, _matcher(noise.pattern)) for noise in NOISE]
_SYMPTOMS = [_matcher(p) for p in SYMPTOMS]
_LOG_PATHS = [_matcher(p) for p in grammar.LOG_PATH_PATTERNS]
# Every rule, support and noise pattern has a literal (rules.check_table insists), so a line holding
# none of them can skip the table entirely: one regex instead of a hundred.
_GATE = re.compile("|".join(re.escape(lit) for lit in sorted(
    {m[0] for _, ps, ss in _RULES for m in (*ps, *ss)} | {m[0] for _, m in _NOISE}, key=len, reverse=True)))


def _search(matcher: _Matcher, line: str) -> re.Match[str] | None:
    literal, regex, _ = matcher
    return regex.search(line) if literal in line else None


@dataclass(slots=True)
class Hit:
    """Everything one rule matched in one input."""

    rule: Rule
    lines: list[LogLine] = field(default_factory=list)
    context: list[LogLine] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)
    count: int = 0

    @property
    def first(self) -> int:
        return self.lines[0].number if self.lines else 0


@dataclass(slots=True)
class NoiseHit:
    noise: Noise
    lines: list[LogLine] = field(default_factory=list)
    count: int = 0


@dataclass(slots=True)
class Scan:
    """The result of reading one text input: metadata, verdict, rule hits, noise and error lines."""

    path: str
    kind: SourceKind
    outcome: Outcome = "unknown"
    action: str | None = None
    criu_version: str | None = None
    kernel: str | None = None
    task: str | None = None
    log_paths: list[str] = field(default_factory=list)
    verdict: LogLine | None = None
    hits: dict[str, Hit] = field(default_factory=dict)
    noise: dict[str, NoiseHit] = field(default_factory=dict)
    first_error: LogLine | None = None        # first error line that is not noise
    first_real_error: LogLine | None = None   # ... and not a symptom either
    whole_text: str | None = None             # short engine texts only (for the success check)


def read_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(1-based number, line without its newline); undecodable bytes become U+FFFD."""
    with io.TextIOWrapper(open_evidence(path, follow=True), encoding="utf-8", errors="replace", newline=None) as fh:
        for number, line in enumerate(fh, 1):
            yield number, line.rstrip("\r\n")


def _groups(match_groups: dict[str, str | None], into: dict[str, str]) -> None:
    for key, value in match_groups.items():
        if value is not None and value != "":
            into.setdefault(key, value)


def _quote(path: str, number: int, text: str) -> LogLine:
    text = text.rstrip()
    return LogLine(path, number, text if len(text) <= MAX_LINE else text[:MAX_LINE] + " ...")


def scan_text(path: Path, kind: SourceKind) -> Scan:
    """Read `path` once and match every line against the rule table, the noise table and the grammar."""
    src = str(path)
    scan = Scan(src, kind)
    window: deque[tuple[int, str]] = deque(maxlen=CONTEXT_WINDOW)
    support: dict[str, tuple[int, str, dict[str, str | None]]] = {}
    actions: set[str] = set()
    last_verdict: tuple[bool, int, str] | None = None
    short_text: list[str] = []

    for number, line in read_lines(path):
        if kind == "engine-error" and len(short_text) < 50:
            short_text.append(line)
        # What the log says about itself.
        if scan.criu_version is None and (m := grammar.VERSION.search(line)):
            scan.criu_version = m.group("version")
        if scan.kernel is None and (m := grammar.KERNEL.search(line)):
            scan.kernel = m.group("kernel")
        if scan.task is None and (m := grammar.TASK.search(line)):
            scan.task = f"{m.group('pid')} ({m.group('comm')})"
        for action, hints, pattern in grammar.ACTIONS:
            if action not in actions and any(h in line for h in hints) and pattern.search(line):
                actions.add(action)
        if any(h in line for h in grammar.FAILED_HINTS) and grammar.FAILED.search(line):
            last_verdict = (False, number, line)
        elif any(h in line for h in grammar.SUCCEEDED_HINTS) and grammar.SUCCEEDED.search(line):
            last_verdict = (True, number, line)
        for log_path in _LOG_PATHS:
            if (m := _search(log_path, line)) and m.group("log") not in scan.log_paths:
                scan.log_paths.append(m.group("log"))

        if _GATE.search(line) is not None:
            # Known noise is never a cause.
            noise = next((n for n, matcher in _NOISE if _search(matcher, line)), None)
            if noise is not None:
                nh = scan.noise.setdefault(noise.id, NoiseHit(noise))
                nh.count += 1
                if len(nh.lines) < MAX_NOISE_LINES:
                    nh.lines.append(_quote(src, number, line))
                window.append((number, line))
                continue
            _match_rules(scan, src, number, line, window, support)

        if any(h in line for h in grammar.ERROR_HINTS) and grammar.ERROR_LINE.search(line):
            quoted = _quote(src, number, line)
            if scan.first_error is None:
                scan.first_error = quoted
            if scan.first_real_error is None and not any(_search(s, line) for s in _SYMPTOMS):
                scan.first_real_error = quoted
        window.append((number, line))

    # Support lines count only for rules that matched.
    for hit in scan.hits.values():
        for wanted in hit.rule.support:
            if wanted in support:
                number, line, groups = support[wanted]
                _groups(groups, hit.evidence)
                hit.context.append(_quote(src, number, line))
        hit.context.sort(key=lambda ln: ln.number)

    scan.action = next((a for a, _, _ in grammar.ACTIONS if a in actions), None)
    if last_verdict is not None:
        ok, number, line = last_verdict
        scan.outcome = "succeeded" if ok else "failed"
        scan.verdict = _quote(src, number, line)
    if kind == "engine-error":
        scan.whole_text = "\n".join(short_text).strip()
        scan.outcome = _engine_outcome(scan.whole_text, scan)
    return scan


def _match_rules(scan: Scan, src: str, number: int, line: str, window: deque[tuple[int, str]],
                 support: dict[str, tuple[int, str, dict[str, str | None]]]) -> None:
    for rule, patterns, supports in _RULES:
        found: dict[str, str] = {}
        matched = False
        for matcher in patterns:
            if m := _search(matcher, line):
                matched = True
                _groups(m.groupdict(), found)
        if matched:
            hit = scan.hits.get(rule.id)
            if hit is None:
                hit = scan.hits[rule.id] = Hit(rule)
                hit.evidence.update(found)
                _context(hit, src, window)
            else:
                for key, value in found.items():
                    hit.evidence.setdefault(key, value)
            hit.count += 1
            if len(hit.lines) < MAX_HIT_LINES:
                hit.lines.append(_quote(src, number, line))
        for matcher in supports:
            if matcher[2] not in support and (m := _search(matcher, line)):
                support[matcher[2]] = (number, line, m.groupdict())


def _context(hit: Hit, src: str, window: deque[tuple[int, str]]) -> None:
    """Evidence from the nearest earlier line matching each of the rule's context patterns."""
    for pattern in hit.rule.context:
        regex = compiled(pattern)
        for number, line in reversed(window):
            if m := regex.search(line):
                _groups(m.groupdict(), hit.evidence)
                if all(ln.number != number for ln in hit.context):
                    hit.context.append(_quote(src, number, line))
                break


def _engine_outcome(text: str, scan: Scan) -> Outcome:
    if any(grammar.ENGINE_FAILED.search(line) for line in text.splitlines()) or scan.hits:
        return "failed"
    if grammar.CHECKPOINT_NAME.match(text):
        return "succeeded"
    return "unknown"
