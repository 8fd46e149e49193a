"""YARA over checkpoint memory, and UTF-16 patterns."""

from __future__ import annotations

import json
from pathlib import Path

from forensics.memory.search import compile_pattern
from tests.cli import forensics
from tests.conftest import SAMPLES, load_samples


def test_yara_finds_heap_secret_and_env_token(tmp_path: Path) -> None:
    s = next(x for x in load_samples(SAMPLES) if x.scenario == "service" and x.name == "checkpoint1")
    state = s.truth["service_state"]
    rules = tmp_path / "r.yar"
    rules.write_text('rule heap_secret { strings: $a = "CF-HEAP-SECRET" condition: $a }\n'
                     'rule token { strings: $t = /SERVICE_TOKEN=[a-z0-9-]+/ condition: $t }\n')
    p = forensics("memory", "yara", str(rules), str(s.images), "--json")
    assert p.returncode == 0, p.stderr
    hits = json.loads(p.stdout)["yara_matches"]
    secret = {(h["pid"], h["address"]) for h in hits if h["rule"] == "heap_secret"}
    assert secret == {(state["pid"], state["addr"]["heap_secret"]), (state["child_pid"], state["addr"]["heap_secret"])}
    assert {h["where"] for h in hits if h["rule"] == "token"} == {"[stack]"}
    rules.write_text("rule broken { condition: $nope }")
    p = forensics("memory", "yara", str(rules), str(s.images))
    assert p.returncode == 2 and "rules do not compile at line 1:" in p.stderr and "Traceback" not in p.stderr


def test_utf16_pattern() -> None:
    needle = compile_pattern("Key", utf16=True)
    assert needle.literal == "Key".encode("utf-16-le")
    assert needle.regex.search(b"..K\x00e\x00y\x00..") is not None
    assert needle.regex.search(b"Key") is None
    ci = compile_pattern("key", utf16=True, ignore_case=True)
    assert ci.literal is None and ci.regex.search(b"K\x00E\x00Y\x00")
