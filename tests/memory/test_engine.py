"""The native scanner gives exactly what Python's re gives: on real process memory from the bundled
checkpoints and on planted bytes, for literals, literal lists and regexes, one window or many, one
thread or several."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from forensics.loader import load_directory
from forensics.memory import engine, search
from forensics.memory.grep import grep
from forensics.memory.search import Needle, compile_literals, compile_pattern
from forensics.memory.select import VmaFilter
from tests.conftest import bundled_samples

pytestmark = pytest.mark.skipif(not engine.available(), reason="no hyperscan wheel on this platform")

PATTERNS = [
    rb"[A-Za-z0-9+/]{40,}={0,2}",  # base64 runs: no literal at all
    rb"[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}",  # card-like digit groups
    rb"\b\d{3}\b",
    rb"CF-[A-Z]+-[0-9a-f]{4,}",
    rb"(?:PATH|HOME|HOSTNAME)=[^\x00]*",
    rb"lib[a-z]+\.so(?:\.[0-9]+)*",
    rb"a.*?b",
    rb"x+y|xy+|z",
    rb"^\x7fELF",
    rb"\x00$",
    rb"(ab|a)(bc|c)",
    rb"[\x20-\x7e]{8,}",
    rb"GLIBC_2\.[0-9]+",
    rb"(?i)glibc",
    rb"\s{3,}\S",
    rb"\w+@\w+\.\w{2,3}",
]

PLANTED = (b"xxAAAAbbbb" + b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg==" + b"\x00"
           + b"4111 1111 1111 1111\x00" + b"4111-1111-1111-11112\x00" + b"CF-NEEDLE-0123abcd\x00"
           + b"root@host.com  \t\n x abab abc ab a b xxy xyy z\x00\x7fELF\x01" + b"glibc GLIBC_2.34 GLiBc libc.so.6 libpthread.so\x00")


def corpus() -> list[bytes]:
    """Real memory (every dumped page of the bundled directory checkpoints) and planted bytes in noise."""
    out = []
    for s in bundled_samples():
        if s.images is None:
            continue
        ck = load_directory(s.images)
        for space in ck.memory.values():
            out.append(bytes(space.store.pages))
    rnd = random.Random(7)
    noise = bytearray(rnd.randbytes(1 << 16))
    for _ in range(20):
        at = rnd.randrange(len(noise) - len(PLANTED))
        noise[at:at + len(PLANTED)] = PLANTED
    out.append(bytes(noise))
    out.append(b"\x7fELF" + PLANTED)
    return out


@pytest.fixture(scope="module")
def buffers() -> list[bytes]:
    return corpus()


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.decode("latin-1")[:30])
def test_regex_candidates_give_re_answers(pattern: bytes, buffers: list[bytes]) -> None:
    for ignore_case in (False, True):
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        rx = re.compile(pattern, flags)
        scanner = engine.regex_scanner(pattern, ignore_case=ignore_case)
        assert scanner is not None, pattern
        total = 0
        for data in buffers:
            want = [(m.start(), m.end() - m.start()) for m in rx.finditer(data)]
            for limit in (len(data), len(data) // 2):
                got = scanner.regex_hits(memoryview(data), rx, limit)
                assert got == [h for h in want if h[0] < limit], (pattern, ignore_case)
            total += len(want)
        assert total > 0, f"{pattern!r} finds nothing in the corpus: the comparison would prove nothing"


def test_patterns_read_differently_are_left_to_re() -> None:
    for pattern in (rb"a{,3}", rb"[[:alpha:]]+", rb"(a)\1", rb"(?<=a)b", rb"a*", b"a\x00b"):
        assert engine.regex_scanner(pattern, ignore_case=False) is None, pattern


def test_literal_lists_find_every_occurrence(buffers: list[bytes]) -> None:
    rnd = random.Random(3)
    strings = [b"GLIBC_2", b"GLIBC", b"LIBC_2.3", b"PATH=", b"abab", b"ab", b"/usr/lib", b"zzz-not-there"]
    strings += [rnd.randbytes(12).replace(b"\x00", b"\x01") for _ in range(200)]
    scanner = engine.literal_scanner(strings)
    assert scanner is not None
    total = 0
    for data in buffers:
        want = sorted((m.start(), len(s)) for s in set(strings)
                      for m in re.finditer(b"(?=" + re.escape(s) + b")", data, re.DOTALL))
        assert scanner.literal_hits(memoryview(data)) == want
        total += len(want)
    assert total > 100


def _grep_all(needle: Needle) -> list[tuple[int, int, int]]:
    out = []
    for s in bundled_samples():
        if s.images is not None:
            ck = load_directory(s.images)
            out += [(m.pid, m.address, m.length) for m in grep(ck, needle, VmaFilter())]
    return out


@pytest.mark.parametrize("make", [
    lambda: compile_pattern("PATH="),
    lambda: compile_pattern(r"(?:PATH|HOME|HOSTNAME)=[^\x00]*", regex=True),
    lambda: compile_pattern("path=", ignore_case=True),
    lambda: compile_literals([b"PATH=", b"HOME=/", b"HOSTNAME=", b"PATH", b"not-in-memory-0123"]),
], ids=["literal", "regex", "ignore-case", "literal-list"])
def test_grep_same_with_and_without_the_engine_in_small_windows(make: Callable[[], Needle],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    needle = make()
    assert needle.scanner is not None
    plain = dataclasses.replace(needle, scanner=None)
    whole = _grep_all(plain)
    assert whole, "nothing found: the comparison would prove nothing"
    # Many small windows searched by several threads must give the same answer as re and mmap.find.
    monkeypatch.setattr(search, "CHUNK", 1 << 14)
    monkeypatch.setattr(search, "REGEX_OVERLAP", 1 << 12)
    monkeypatch.setattr(search, "WORKERS", 3)
    assert _grep_all(needle) == _grep_all(plain) == whole


def test_long_lists_are_compiled_once_and_loaded_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    strings = [b"ioc-%d-" % i for i in range(engine.CACHE_FROM)] + [b"PATH="]
    data = memoryview(b"..ioc-7-..PATH=/bin..ioc-255-ioc-1-")
    fresh = engine.literal_scanner(strings)
    assert fresh is not None
    kept = list((tmp_path / "checkpoint-forensics").glob("hs-literals-*.db"))
    assert len(kept) == 1
    loaded = engine.literal_scanner(strings)
    assert loaded is not None and loaded.db is not fresh.db
    assert loaded.literal_hits(data) == fresh.literal_hits(data) == [(2, 6), (10, 5), (21, 8), (29, 6)]
    # Another list is another file: an edited list never loads a stale database.
    engine.literal_scanner([*strings, b"more"])
    assert len(list((tmp_path / "checkpoint-forensics").glob("hs-literals-*.db"))) == 2


def test_cli_file_counts_every_string_of_the_list(tmp_path: Path) -> None:
    """`memory grep --file LIST CK` finds what one grep per string finds, added up."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    sample = next(s for s in bundled_samples() if s.images is not None and s.scenario == "service")
    strings = ["PATH=", "HOME=/", "HOSTNAME=", "not-in-memory-0123"]
    lst = tmp_path / "iocs.txt"
    lst.write_text("\n".join(strings) + "\n\n")

    def count(*args: str) -> int:
        p = subprocess.run([sys.executable, "-m", "forensics", "memory", "grep", *args, str(sample.images),
                            "--count", "--json"], capture_output=True, text=True, cwd=REPO, check=False)
        n = int(json.loads(p.stdout)["count"])
        assert p.returncode == (0 if n else 1), p.stderr  # grep's exit status: 1 when nothing matched
        return n

    each = [count(s) for s in strings]
    assert each[0] > 0 and each[-1] == 0
    assert count("--file", str(lst)) == sum(each)
