"""The native scanner behind `memory grep`: Hyperscan for literals, literal lists and regex candidates.

Python's own searches hold the GIL and run one core: `mmap.find` at about grep's pace, `re` ten times
slower on patterns without a literal. Hyperscan (Intel's SIMD multi-pattern engine, the `hyperscan`
bindings) scans a buffer without the GIL, so windows of a pages file can be searched on every core.

What the answers must stay: the ones `re` gives. So Hyperscan answers alone only where the question is
exact by construction (every occurrence of each fixed string); for a regular expression it only says
where `re` may find something, and `re` finds it:

- Hyperscan with leftmost start-of-match reports, for every offset `e` where some match of the pattern
  ends, the leftmost start `L` of a match ending there. Every match `re` can give, (a, b), ends at a
  reported `e = b` with `L <= a`.
- `re.finditer` from position p returns the match with the smallest start >= p. Taking the reports that
  end after p, the smallest max(L, p) among them is a position t at or before that start, so
  `re.search(window, t)` returns exactly what `re.search(window, p)` would, having skipped the empty
  stretch before t. `re` decides every match and its extent; Hyperscan only decides where to look.
- That holds when Hyperscan matches at least what `re` matches. Patterns whose syntax the two engines
  read differently (`{,n}`, which `re` reads as {0,n} and PCRE as text; POSIX classes `[:alpha:]`) and
  every pattern Hyperscan refuses (back-references, look-behind, patterns that can match empty) are left
  to `re` alone, and so is any pattern with a NUL byte (the bindings pass C strings).
  tests/memory/test_engine.py compares both paths on a corpus.

Without the `hyperscan` package (a platform with no wheel) every search falls back to `mmap.find` and
`re`, slower and identical.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

_hs: Any
try:  # a compiled extension with a wheel for the common platforms; its absence only costs speed
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised only where no wheel exists
    _hs = None

# Syntax that Python's re and PCRE (Hyperscan's dialect) read differently: leave such patterns to re.
# The bindings pass patterns as C strings, so a NUL byte would cut one short: such patterns go the
# same way.
_DIALECT_TRAPS = (b"{,", b"[:", b"(?L", b"(?a", b"(?u", b"\x00")


class Mode(Enum):
    LITERALS = "literals"  # exact: every occurrence of every string
    REGEX = "regex"  # candidates for re


@dataclass(eq=False)
class Scanner:
    """A compiled Hyperscan database and what its pattern ids mean; one scratch space per thread."""

    mode: Mode
    db: Any
    lengths: tuple[int, ...] = ()
    _local: threading.local = field(default_factory=threading.local)

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = _hs.Scratch(self.db)
            self._local.scratch = scratch
        return scratch

    def literal_hits(self, window: memoryview) -> list[tuple[int, int]]:
        """(start, length) of every occurrence of every string in `window`, by start then length."""
        lengths = self.lengths
        hits: list[tuple[int, int]] = []
        add = hits.append

        def on_match(pid: int, _start: int, end: int, _flags: int, _ctx: object) -> bool:
            n = lengths[pid]
            add((end - n, n))
            return False

        self.db.scan(window, match_event_handler=on_match, scratch=self._scratch())
        if len(lengths) > 1:
            hits.sort()
        return hits

    def regex_hits(self, window: memoryview, rx: re.Pattern[bytes], limit: int) -> list[tuple[int, int]]:
        """What `rx.finditer(window)` yields for matches starting before `limit`, as (start, length),
        with `re` run only from where Hyperscan says a match can start."""
        reports: list[tuple[int, int]] = []
        add = reports.append

        def on_match(_pid: int, start: int, end: int, _flags: int, _ctx: object) -> bool:
            add((end, start))
            return False

        self.db.scan(window, match_event_handler=on_match, scratch=self._scratch())
        if not reports:
            return []
        reports.sort()
        ends = [e for e, _ in reports]
        # lowest[j]: the smallest leftmost start among the reports from j on (by end).
        lowest = [0] * len(reports)
        low = len(window)
        for j in range(len(reports) - 1, -1, -1):
            low = min(low, reports[j][1])
            lowest[j] = low
        hits: list[tuple[int, int]] = []
        pos = 0
        while True:
            j = bisect.bisect_right(ends, pos)
            if j == len(ends):
                break
            m = rx.search(window, max(pos, lowest[j]))
            if m is None or m.start() >= limit:
                break
            start, end = m.span()
            hits.append((start, end - start))
            pos = end if end > start else end + 1
        return hits


def available() -> bool:
    return _hs is not None


# Lists longer than this are compiled once and kept: 10,000 indicators take Hyperscan ~0.5 s to compile
# and 0.2 ms to load, and a responder runs the same list over checkpoint after checkpoint.
CACHE_FROM = 256


def literal_scanner(strings: Sequence[bytes]) -> Scanner | None:
    """A scanner reporting every occurrence of each of `strings` (non-empty, distinct), or None without
    Hyperscan."""
    if _hs is None or not strings or any(not s or b"\x00" in s for s in strings):
        return None
    db = _cached_db(strings) if len(strings) >= CACHE_FROM else None
    if db is None:
        db = _hs.Database()
        try:
            db.compile(expressions=list(strings), ids=list(range(len(strings))), flags=0, literal=True)
        except _hs.error:
            return None
        if len(strings) >= CACHE_FROM:
            _keep_db(strings, db)
    return Scanner(Mode.LITERALS, db, tuple(len(s) for s in strings))


def _db_path(strings: Sequence[bytes]) -> str:
    """Where the compiled database of exactly these strings, in this order, for this Hyperscan, is kept
    (the user's cache directory; a hash of the list names it, so an edited list is a new file)."""
    h = hashlib.sha256(_hs.__version__.encode() if _hs else b"")
    for s in strings:
        h.update(len(s).to_bytes(4, "little") + s)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "checkpoint-forensics", f"hs-literals-{h.hexdigest()[:32]}.db")


def _cached_db(strings: Sequence[bytes]) -> Any:
    try:
        with open(_db_path(strings), "rb") as f:
            return _hs.loadb(f.read(), _hs.HS_MODE_BLOCK)
    except (OSError, _hs.error):
        return None


def _keep_db(strings: Sequence[bytes], db: Any) -> None:
    path = _db_path(strings)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(_hs.dumpb(db))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only means compiling again next time


def regex_scanner(pattern: bytes, *, ignore_case: bool) -> Scanner | None:
    """A candidate scanner for a regex compiled by `re` with DOTALL (and IGNORECASE), or None when the
    pattern is left to `re` alone (see the module docstring)."""
    if _hs is None or any(trap in pattern for trap in _DIALECT_TRAPS):
        return None
    flags = _hs.HS_FLAG_DOTALL | _hs.HS_FLAG_SOM_LEFTMOST | (_hs.HS_FLAG_CASELESS if ignore_case else 0)
    db = _hs.Database()
    try:
        db.compile(expressions=[pattern], flags=flags)
    except _hs.error:
        return None
    return Scanner(Mode.REGEX, db)
