"""The report as a person sees it in headless Chromium: the tree opens on a click, links jump, the filter
narrows, the findings name the listening socket, and the page asks the network for nothing.

Screenshots land in test-artifacts/ (report-service-*.png) for a person to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from forensics.report import assemble
from tests.report.cdp import Browser
from tests.report.conftest import ARTIFACTS, need_chromium


@pytest.fixture
def browser() -> Iterator[Browser]:
    need_chromium()
    with Browser(width=1400, height=900) as b:
        yield b


def visible(b: Browser, selector: str) -> bool:
    return bool(b.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
        return !!e && e.checkVisibility({{visibilityProperty: true, contentVisibilityAuto: true}}); }})()"""))


def in_view(b: Browser, selector: str) -> bool:
    return bool(b.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
        if (!e) return false; const r = e.getBoundingClientRect();
        return r.top >= -1 && r.top < window.innerHeight && r.bottom > 0; }})()"""))


def visible_rows(b: Browser, table_id: str) -> int:
    return int(b.js(f"""Array.from(document.querySelectorAll("#{table_id} tbody tr"))
        .filter(r => r.checkVisibility({{visibilityProperty: true}})).length"""))


def no_outside_requests(b: Browser, page: Path) -> None:
    urls = b.requests()
    assert urls, "the browser reported no request at all: Network domain not recording"
    assert set(urls) == {page.resolve().as_uri()}, urls
    errors = [e["params"]["entry"] for e in b.events
              if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    assert not errors, errors  # e.g. a CSP violation: the page's own script or style blocked


def test_person_reads_the_report(browser: Browser, one_report: tuple[Path, assemble.Report]) -> None:
    path, report = one_report
    ck = report.sources[0].ck
    service, child_proc = ck.process(1), ck.process(7)
    assert service is not None and child_proc is not None and child_proc.ppid == 1
    b = browser
    b.open(path.resolve().as_uri())

    # The page's own script and stylesheet ran (the CSP allows them by hash).
    assert b.js("document.querySelector('#pid-1-fds-count').textContent") == f"{len(service.fds)} rows"
    assert b.js("getComputedStyle(document.querySelector('nav.toc')).position") == "sticky"
    b.screenshot(ARTIFACTS / "report-service-top.png")

    # The process tree starts folded; a click on pid 1's row opens it and shows its child.
    child = "#process-tree ul.tree a[href='#pid-7']"
    assert not visible(b, child)
    b.click("#process-tree ul.tree > li > details > summary", dx=6)
    assert visible(b, child)
    assert b.js("document.querySelector('#process-tree ul.tree > li > details').open") is True
    b.js("document.querySelector('#findings').scrollIntoView({block: 'start'})")
    b.settle()
    b.screenshot(ARTIFACTS / "report-service-tree.png")

    # A pid link jumps to that process's section.
    b.click(child)
    assert b.js("location.hash") == "#pid-7"
    assert in_view(b, "#pid-7")
    assert b.js("document.querySelector('#pid-7 h3').textContent").startswith("pid 7")

    # Typing in the filter box narrows the fd table to the rows that match.
    fds = service.fds
    pipes = sum(1 for fd in fds if "pipe" in fd.type or (fd.file and "pipe" in fd.file.describe()))
    assert visible_rows(b, "pid-1-fds") == len(fds)
    b.click("input.filter[data-table='pid-1-fds']")
    b.type("pipe")
    assert 0 < pipes < len(fds)
    assert visible_rows(b, "pid-1-fds") == pipes
    assert b.js("document.querySelector('#pid-1-fds-count').textContent") == f"{pipes} of {len(fds)} rows"
    b.screenshot(ARTIFACTS / "report-service-filter.png")

    # The findings name the service's listening socket, and its evidence link lands on the fd.
    findings = b.js("document.querySelector('#findings').innerText")
    assert "listens on tcp 127.0.0.1:8080" in findings
    b.click("#findings a[href='#pid-1-fd-3']")
    assert b.js("location.hash") == "#pid-1-fd-3"
    assert in_view(b, "#pid-1-fd-3") and visible(b, "#pid-1-fd-3")  # the filter let go of the row
    assert "127.0.0.1:8080" in b.js("document.querySelector('#pid-1-fd-3').innerText")

    # The memory map is a picture with one row per mapping.
    b.click("nav.toc a[href='#pid-1']")
    b.js("document.querySelector('#pid-1 svg').scrollIntoView({block: 'start'})")
    b.settle()
    rows = b.js("document.querySelectorAll('#pid-1 svg a').length")
    assert rows == len([v for v in service.vmas if v.kind != "guard"])
    b.screenshot(ARTIFACTS / "report-service-memory.png")

    no_outside_requests(b, path)


def test_person_reads_the_changes(browser: Browser, two_report: tuple[Path, assemble.Report]) -> None:
    path, report = two_report
    b = browser
    b.open(path.resolve().as_uri())
    b.click("nav.toc a[href='#diff-1-values']")
    assert b.js("location.hash") == "#diff-1-values"
    track = next(t for t in report.tracks if "request_counter" in t.name)
    row = f"#diff-1-value-{track.pid}-{track.address:x}"
    assert visible(b, row) and in_view(b, row)
    cells = b.js(f"Array.from(document.querySelectorAll('{row} td')).map(td => td.innerText.trim())")
    assert cells[2].startswith("request_counter") and cells[4:6] == ["4", "1010"]
    b.screenshot(ARTIFACTS / "report-service-diff.png")
    b.click("nav.toc a[href='#timeline']")
    card = f"#track-{track.pid}-{track.address:x}"
    assert b.js(f"document.querySelectorAll('{card} svg polyline').length") == 1
    b.js(f"document.querySelector('{card}').scrollIntoView({{block: 'start'}})")
    b.settle()
    b.screenshot(ARTIFACTS / "report-service-timeline.png")
    no_outside_requests(b, path)
