"""The HTML report as a file: self-contained, escaped, every link landing somewhere, the diff right."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import zstandard

from forensics.meta import CheckpointMeta
from forensics.model.checkpoint import Checkpoint, CheckpointInfo
from forensics.model.files import RegularFile
from forensics.loader import load_checkpoint
from forensics.locate.manifest import manifest
from forensics.render import html
from forensics.report import assemble
from tests.conftest import REPO, Sample
from tests.report.conftest import BINARY, SERVICE_PATH, build, parse


def test_self_contained_with_strict_csp(one_report: tuple[Path, assemble.Report]) -> None:
    path, _ = one_report
    text = path.read_text(encoding="utf-8")
    page = parse(path)
    # Nothing to fetch: no src/data/action attributes at all, every href a fragment of this page.
    assert page.srcs == []
    assert all(h.startswith("#") for h in page.hrefs), [h for h in page.hrefs if not h.startswith("#")]
    assert page.tags.get("link", 0) == 0 and page.tags.get("iframe", 0) == 0 and page.tags.get("img", 0) == 0
    assert "@import" not in text and "url(" not in text
    # The only absolute URL is SVG's namespace name, which is never fetched.
    assert set(re.findall(r"\bhttps?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg"}
    csp = next(m["content"] for m in page.metas if m.get("http-equiv", "").lower() == "content-security-policy")
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # The page's one stylesheet and one script are exactly the ones the policy allows.
    assert page.tags["script"] == 1 and page.tags["style"] == 1
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        found = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
        assert found is not None
        body = found.group(1)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_every_link_lands_and_ids_are_unique(one_report: tuple[Path, assemble.Report],
                                             two_report: tuple[Path, assemble.Report]) -> None:
    for path, _ in (one_report, two_report):
        page = parse(path)
        assert len(page.ids) == len(set(page.ids)), "duplicate ids"
        missing = {h[1:] for h in page.hrefs} - set(page.ids)
        assert not missing, f"{path.name}: links to nowhere: {sorted(missing)[:10]}"


def test_stable_anchors_for_pids_fds_sockets(one_report: tuple[Path, assemble.Report]) -> None:
    path, report = one_report
    ids = set(parse(path).ids)
    ck = report.sources[0].ck
    for p in ck.processes:
        assert f"pid-{p.pid}" in ids
        for fd in p.fds:
            assert f"pid-{p.pid}-fd-{fd.fd}" in ids
            if fd.type in ("inet", "unix"):
                assert f"pid-{p.pid}-socket-{fd.fd}" in ids
        for t in p.threads:
            assert f"pid-{p.pid}-tid-{t.tid}" in ids
    assert {"findings", "process-tree", "mounts", "namespaces", "cgroups", "manifest", "overview"} <= ids


def test_findings_link_to_their_evidence(one_report: tuple[Path, assemble.Report]) -> None:
    path, _ = one_report
    text = path.read_text(encoding="utf-8")
    findings = text[text.index('id="findings"'):text.index('id="process-tree"')]
    assert "listens on tcp 127.0.0.1:8080" in findings
    assert 'href="#pid-1-fd-3"' in findings  # the listening socket's fd


def test_thread_stops_are_symbolized(one_report: tuple[Path, assemble.Report]) -> None:
    path, report = one_report
    rows = parse(path).rows
    ck = report.sources[0].ck
    main = ck.process(1).threads[0]  # type: ignore[union-attr]
    cells = rows[f"pid-1-tid-{main.tid}"]
    assert cells[2].endswith(f" ({main.syscall})")  # name and number, as on the terminal
    assert cells[3] == f"0x{main.registers.ip:x}"  # type: ignore[union-attr]
    assert re.match(r"[A-Za-z_][\w.]*\+0x[0-9a-f]+", cells[4]), cells[4]


def test_secrets_masked_unless_revealed(service: list[Sample], tmp_path: Path) -> None:
    token = service[0].truth["service_token"]
    masked = tmp_path / "masked.html"
    build(service[:1], masked)
    assert token not in masked.read_text(encoding="utf-8")
    shown = tmp_path / "shown.html"
    build(service[:1], shown, reveal=True)
    assert token in shown.read_text(encoding="utf-8")


def test_hostile_strings_are_escaped_and_made_visible(service: list[Sample], tmp_path: Path) -> None:
    ck = load_checkpoint(service[0].images)  # type: ignore[arg-type]
    p = ck.processes[0]
    evil = '<script>alert(1)</script>'
    p.argv = [evil, 'x" onmouseover="alert(2)', "invoice\u202etxt.exe", "nul\x00byte", "</td></tr></table>"]
    p.env = {"X": "<img src=x onerror=alert(3)>", "<b>": "</code>"}
    p.comm = "<svg onload=alert(4)>"
    for fd in p.fds:
        if isinstance(fd.file, RegularFile):
            fd.file.path = "/tmp/<iframe src=//evil>"
    ck.mounts[0].mountpoint = "/mnt/<a href=//evil>x</a>"
    ck.hostname = "<style>*{display:none}</style>"
    report = assemble.assemble([str(service[0].images)], [ck], command="t", version="t")
    out = tmp_path / "hostile.html"
    html.write(report, out)
    text = out.read_text(encoding="utf-8")
    page = parse(out)
    assert page.tags["script"] == 1 and page.tags["style"] == 1
    assert page.tags.get("img", 0) == 0 and page.tags.get("iframe", 0) == 0
    assert all(h.startswith("#") for h in page.hrefs)
    assert not [a for a in page.attributes if a.startswith("on")]
    assert page.tags.get("b", 0) == 0 and page.tags.get("svg") == sum(1 for _ in re.finditer("<svg ", text))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\u202e" not in text and "invoice\\u202etxt.exe" in text
    assert "\x00" not in text and "nul\\x00byte" in text


def test_manifest_hashes_every_file(one_report: tuple[Path, assemble.Report], service: list[Sample]) -> None:
    path, report = one_report
    images = service[0].images
    assert images is not None
    entries = {e.name: e for e in report.sources[0].manifest}
    on_disk = sorted(p.name for p in images.iterdir() if p.is_file())
    assert [n for n in on_disk if n in entries] == on_disk
    for name in on_disk:
        assert entries[name].sha256 == hashlib.sha256((images / name).read_bytes()).hexdigest()
    text = path.read_text(encoding="utf-8")
    for name in ("inventory.img", "pages-1.img"):
        assert f">{entries[name].sha256}<" in text


def test_two_checkpoints_show_the_counter_move(two_report: tuple[Path, assemble.Report], service: list[Sample]) -> None:
    path, report = two_report
    st1, st2 = service[0].truth["service_state"], service[1].truth["service_state"]
    addr, pid = st2["addr"]["request_counter"], st2["pid"]
    rows = parse(path).rows
    cells = rows[f"diff-1-value-{pid}-{addr:x}"]
    assert cells[1] == f"0x{addr:x}"
    assert "request_counter" in cells[2]  # named from the binary's symbols
    assert (cells[4], cells[5]) == (str(st1["request_counter"]), str(st2["request_counter"]))
    assert (cells[4], cells[5]) == ("4", "1010")
    assert cells[6].startswith("grew by 1006")
    # ...and in the timeline, read in both checkpoints.
    track = next(t for t in report.tracks if t.address == addr)
    assert [p.value for p in track.points] == [4, 1010] and track.trend == "only grew"
    text = path.read_text(encoding="utf-8")
    assert f'id="track-{pid}-{addr:x}"' in text
    # changed pages drawn per mapping, and the fd whose position moved listed
    assert 'aria-label="changed pages per mapping"' in text
    assert "/tmp/svc.log" in text[text.index('id="diff-1-model"'):text.index('id="diff-1-pages"')]


def test_partial_checkpoint_is_marked(service: list[Sample], tmp_path: Path) -> None:
    src = service[0].images
    assert src is not None
    damaged = tmp_path / "damaged"
    shutil.copytree(src, damaged, symlinks=True)
    pages = max(damaged.glob("pages-*.img"), key=lambda p: p.stat().st_size)
    pages.write_bytes(pages.read_bytes()[: pages.stat().st_size // 2])
    out = tmp_path / "partial.html"
    p = subprocess.run([sys.executable, "-m", "forensics", "report", str(damaged), "-o", str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 2, p.stderr
    text = out.read_text(encoding="utf-8")
    assert 'id="errors"' in text and "Partial result" in text and "PARTIAL" in text
    assert "ends past the end of the pages file" in text


def test_cli_writes_the_report(service: list[Sample], tmp_path: Path) -> None:
    out = tmp_path / "cli.html"
    targets = [str(s.images) for s in service]
    p = subprocess.run([sys.executable, "-m", "forensics", "report", *targets, "-o", str(out),
                        f"--binary={SERVICE_PATH}={BINARY}"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"report: {out}"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'id="diff-1"' in text and 'id="timeline"' in text
    assert "forensics report" in text  # the command line that made it
    assert "request_counter" in text and "__syscall_cancel_arch+0x" in text  # symbols from --binary


def test_manifest_of_an_archive_hashes_it_and_its_members() -> None:
    archive = REPO / "samples" / "podman" / "checkpoint.tar.gz"  # zstd, whatever the name says
    ck = Checkpoint(CheckpointInfo(CheckpointMeta(path=archive, kind="podman-archive", layout="container-archive")))
    entries = {e.name: e for e in manifest(archive, ck.info.path)}
    assert entries[archive.name].sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive.read_bytes())).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    for name, content in members.items():
        assert entries[f"{archive.name}:{name}"].sha256 == hashlib.sha256(content).hexdigest()
    assert sum(1 for n in entries if n.startswith(archive.name + ":")) >= len(members)


def test_manifest_of_a_docker_checkpoint_includes_the_container_config(service: list[Sample]) -> None:
    images = service[0].images
    assert images is not None
    ck = load_checkpoint(images)
    names = {e.name for e in manifest(images, ck.info.path)}
    assert "../../config.v2.json" in names and "inventory.img" in names


def test_environment_changes_in_the_diff_are_masked(service: list[Sample], tmp_path: Path) -> None:
    a, b = (load_checkpoint(s.images) for s in service)  # type: ignore[arg-type]
    pb = b.process(1)
    assert pb is not None and pb.env is not None
    pb.env = {**pb.env, "SERVICE_TOKEN": "cf-token-CHANGED-0123456789", "DB_PASSWORD": "hunter2-hunter2"}
    report = assemble.assemble([str(s.images) for s in service], [a, b], command="t", version="t")
    out = tmp_path / "env.html"
    html.write(report, out)
    text = out.read_text(encoding="utf-8")
    model = text[text.index('id="diff-1-model"'):text.index('id="diff-1-pages"')]
    assert "SERVICE_TOKEN=" in model and "DB_PASSWORD (unset)" in model
    for secret in (service[0].truth["service_token"], "cf-token-CHANGED-0123456789", "hunter2-hunter2"):
        assert secret not in text
