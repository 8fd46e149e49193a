"""Findings on the service sample, including code compared with the binary on disk."""

from __future__ import annotations

from pathlib import Path

from forensics.findings.rules import findings
from forensics.loader import load_checkpoint
from forensics.symbols.resolve import BinaryResolver
from tests.conftest import SAMPLES, load_samples


def _service():  # noqa: ANN202
    s = next(x for x in load_samples(SAMPLES) if x.scenario == "service" and x.name == "checkpoint1")
    return s, load_checkpoint(s.images)


def test_service_findings_name_what_it_set_up() -> None:
    s, ck = _service()
    found = findings(ck)
    titles = [f.title for f in found]
    assert any("listens on tcp 127.0.0.1:8080" in t for t in titles)
    env = [f for f in found if f.rule == "env-secret"]
    assert env and all(s.truth["service_token"] not in f.detail for f in env)  # masked
    assert any(s.truth["service_token"] in f.detail for f in findings(ck, reveal=True) if f.rule == "env-secret")
    assert {f.rule for f in found} >= {"seccomp-off", "runs-as-root", "temp-file"}
    assert not [f for f in found if f.rule in ("rwx-memory", "anon-exec-memory", "fileless-exe")]


def test_parasite_page_is_no_finding_but_patched_code_is(tmp_path: Path) -> None:
    """The one dumped page of the service's text (CRIU's parasite) equals the binary: no finding. Against
    a copy of the binary with one byte changed in that page, the same page is reported as patched."""
    s, ck = _service()
    binary = SAMPLES / "service-bin" / "service"
    clean = BinaryResolver(binaries={"/usr/local/bin/service": binary})
    assert [f for f in findings(ck, resolver=clean) if f.rule == "patched-code"] == []
    text = next(v for v in ck.process(1).vmas if v.kind == "file" and v.prot & 4)
    page = next(addr for addr, _data in ck.memory[1].vma_segments(text))
    altered = bytearray(binary.read_bytes())
    altered[text.pgoff + page - text.start + 100] ^= 0xFF
    (tmp_path / "service").write_bytes(bytes(altered))
    other = BinaryResolver(binaries={"/usr/local/bin/service": tmp_path / "service"})
    patched = [f for f in findings(ck, resolver=other) if f.rule == "patched-code"]
    assert {f.evidence[0].pid for f in patched} == {1, 7}
    assert all(f.evidence[0].address == page for f in patched)
