"""Commands typed into bash, recovered from its heap in the `shell` sample, against what the lab typed."""

from __future__ import annotations

from pathlib import Path

from forensics.findings.rules import findings
from forensics.memory.shellhistory import shell_history
from forensics.loader import load_checkpoint
from tests.conftest import load_samples


def test_typed_commands_recovered(run_root: Path) -> None:
    s = next(x for x in load_samples(run_root) if x.scenario == "shell")
    ck = load_checkpoint(s.images)
    got = shell_history(ck)
    typed = s.truth["typed"]
    assert [c.command for c in got] == [t["command"] for t in typed]
    for c, t in zip(got, typed):
        assert abs(c.timestamp - t["at"]) <= 2
    assert {c.pid for c in got} == {p.pid for p in ck.processes if p.comm == "bash"}
    found = [f for f in findings(ck) if f.rule == "shell-history"]
    assert len(found) == 1 and "export API_TOKEN=" in found[0].detail


def test_no_history_without_bash() -> None:
    from tests.conftest import SAMPLES

    s = next(x for x in load_samples(SAMPLES) if x.scenario == "service")
    assert shell_history(load_checkpoint(s.images)) == []
