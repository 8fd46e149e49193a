"""Fixtures of the report tests: the service sample's two checkpoints, their reports, and a page reader."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from forensics.loader import load_checkpoint
from forensics.render import html
from forensics.report import assemble
from forensics.symbols.resolve import BinaryResolver
from tests.conftest import REPO, SAMPLES, Sample, load_samples

ARTIFACTS = REPO / "test-artifacts"
BINARY = SAMPLES / "service-bin" / "service"
SERVICE_PATH = "/usr/local/bin/service"


def service_samples() -> list[Sample]:
    found = sorted((s for s in load_samples(SAMPLES) if s.scenario == "service"), key=lambda s: s.name)
    assert [s.name for s in found] == ["checkpoint1", "checkpoint2"], "the bundled service samples are missing"
    return found


def build(samples: list[Sample], out: Path, reveal: bool = False) -> assemble.Report:
    """The report of these samples, with the service's binary for symbols (it ran as SERVICE_PATH)."""
    targets = [str(s.images) for s in samples]
    cks = [load_checkpoint(t) for t in targets]
    resolver = BinaryResolver(binaries={SERVICE_PATH: BINARY})
    symbols: list[assemble.BinarySymbols | None] = [assemble.BinarySymbols(ck, resolver) for ck in cks]
    report = assemble.assemble(targets, cks, reveal=reveal, symbols=symbols, command="forensics report (test)",
                           version="test")
    html.write(report, out)
    for s in symbols:
        if s is not None:
            s.close()
    return report


@pytest.fixture(scope="session")
def service() -> list[Sample]:
    return service_samples()


@pytest.fixture(scope="session")
def one_report(service: list[Sample], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, assemble.Report]:
    out = tmp_path_factory.mktemp("report") / "service.html"
    return out, build(service[:1], out)


@pytest.fixture(scope="session")
def two_report(service: list[Sample], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, assemble.Report]:
    out = tmp_path_factory.mktemp("report") / "service-diff.html"
    return out, build(service, out)


class Page(HTMLParser):
    """What a page holds, as a browser would parse it: element ids, links, fetchable attributes, tag
    counts, meta tags, and the cell texts of every table row that has an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: dict[str, int] = {}
        self.attributes: set[str] = set()
        self.metas: list[dict[str, str]] = []
        self.rows: dict[str, list[str]] = {}
        self._row: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attributes.update(k for k, _ in attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if a.get("href") is not None:
            self.hrefs.append(a["href"] or "")
        for key in ("src", "srcset", "data", "action", "formaction", "poster", "background"):
            if a.get(key) is not None:
                self.srcs.append(a[key] or "")
        if tag == "meta":
            self.metas.append({k: v or "" for k, v in a.items()})
        row_id = a.get("id")
        if tag == "tr" and row_id:
            self._row = row_id
            self.rows[row_id] = []
        if tag == "td" and self._row:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self.rows[self._row].append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def need_chromium() -> None:
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium (`./setup.sh --test` installs Debian's chromium as root)")
        pytest.skip("no /usr/bin/chromium (`./setup.sh --test` installs it when run as root)")
