"""The rule table: well formed, and every example line it carries (real CRIU / engine messages, 3.17-4.2)
makes its own rule rank first, inside a failed log and as a bare text."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics.doctor import diagnose
from forensics.doctor.rules import (
    ALL_RULES,
    FALLBACK,
    IMAGES_INCOMPLETE,
    NOISE,
    RULES,
    check_table,
    literal_of,
)

# What the doctor must cover (see the feature request).
REQUIRED = {
    "external-terminal", "seccomp", "network-lock-iptables", "devpts-not-mounted", "mntns-root",
    "sockopt-passcred", "vdso-layout", "unsupported-fd", "tcp-established", "external-unix-socket",
    "image-incompatible", "fsnotify-handle", "dirty-tracking", "container-not-running", "criu-error",
}

HEAD = (
    "(00.000000) CRIU run id = 00000000-0000-0000-0000-000000000000\n"
    "(00.000075) Version: 4.0 (gitid 0)\n"
    "(00.000079) Running on vm Linux 6.17.2-test #1 SMP PREEMPT_DYNAMIC x86_64\n"
    "(00.000872) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not "
    "permitted\n"
    "Error (criu/tun.c:85): tun: Unable to create tun: No such file or directory\n"
)
TAIL = (
    "(00.011459) Error (criu/cr-dump.c:1545): Dump files (pid: 4242) failed with -1\n"
    "(00.086251) Error (criu/cr-dump.c:1975): Dumping FAILED.\n"
)

EXAMPLES = [(rule.id, ex) for rule in RULES for ex in rule.examples]


def test_table_is_well_formed() -> None:
    assert check_table() == []


def test_required_rules_exist() -> None:
    assert REQUIRED <= {r.id for r in ALL_RULES}


def test_every_rule_has_examples() -> None:
    for rule in RULES:
        assert rule.examples, rule.id
        assert rule.explanation.count(".") >= 2 and rule.fix, rule.id
    assert FALLBACK.patterns == () and IMAGES_INCOMPLETE.patterns == ()


@pytest.mark.parametrize(("rule_id", "line"), EXAMPLES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(EXAMPLES)])
def test_example_ranks_its_rule_first_in_a_failed_log(tmp_path: Path, rule_id: str, line: str) -> None:
    log = tmp_path / "dump.log"
    log.write_text(HEAD + line + "\n" + TAIL)
    diag = diagnose(log)
    assert diag.outcome == "failed"
    assert diag.cause is not None and diag.cause.rule == rule_id, [f.rule for f in diag.findings]
    assert diag.cause.lines[0].number == HEAD.count("\n") + 1
    assert {b.id for b in diag.benign} == {"rlimit-nofile", "tun-unavailable"}


@pytest.mark.parametrize(("rule_id", "line"), EXAMPLES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(EXAMPLES)])
def test_example_alone(tmp_path: Path, rule_id: str, line: str) -> None:
    text = tmp_path / "error.txt"
    text.write_text(line + "\n")
    diag = diagnose(text)
    assert diag.outcome != "succeeded"
    assert diag.cause is not None and diag.cause.rule == rule_id, [f.rule for f in diag.findings]


def test_version_notes_in_a_log(tmp_path: Path) -> None:
    """A rule fixed in a later CRIU says so when the log's CRIU is older, and names the kernel."""
    log = tmp_path / "dump.log"
    log.write_text(HEAD + "(00.118198) Error (criu/sockets.c:628): sockets: Can't get 1:16 opt: Operation not "
                   "supported\n" + TAIL)
    cause = diagnose(log).cause
    assert cause is not None and cause.rule == "sockopt-passcred"
    assert cause.evidence["option"] == "16"
    assert any("4.0, older than 4.2" in n for n in cause.notes)
    assert any("6.17.2-test is 6.16 or newer" in n for n in cause.notes)


NOISE_EXAMPLES = [(noise.id, ex) for noise in NOISE for ex in noise.examples]


@pytest.mark.parametrize(("noise_id", "line"), NOISE_EXAMPLES, ids=[n for n, _ in NOISE_EXAMPLES])
def test_noise_is_listed_apart_even_when_it_is_the_only_error(tmp_path: Path, noise_id: str, line: str) -> None:
    log = tmp_path / "dump.log"
    log.write_text("(00.000075) Version: 4.2.1 (gitid 0)\n" + line + "\n" + TAIL)
    diag = diagnose(log)
    assert noise_id in {b.id for b in diag.benign}
    # The fallback then quotes CRIU's own failure line, never the noise.
    assert all(line not in ln.text for f in diag.findings for ln in f.lines + f.context)


@pytest.mark.parametrize(("pattern", "literal"), [
    (r"a{2}bcd", "bcd"), (r"abc(?:x|y)def", "abc"), (r"x|y", ""), (r"ab+cd", ""), (r"xyz\.\(\d+", "xyz.("),
    (r"[abc]{1,3}defg", "defg"), (r"tty: Can't open (?:slave )?(?P<p>\S+)", "tty: Can't open "),
])
def test_literal_of(pattern: str, literal: str) -> None:
    assert literal_of(pattern) == literal
