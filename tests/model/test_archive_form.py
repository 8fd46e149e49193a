"""The same checkpoint as a directory and as archives (in place and compressed): the same model."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import zstandard

from forensics.loader import load_checkpoint
from forensics.render import json as json_render
from tests.cli import forensics
from tests.conftest import SAMPLES, load_samples


def _model(ck) -> dict:  # noqa: ANN001
    doc = json_render.document(ck)
    doc.pop("checkpoint")
    doc.pop("wrapper")
    return doc


def _pack(src: Path, dest: Path, compress: str | None) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname="checkpoint")
        info = tarfile.TarInfo("config.dump")
        data = json.dumps({"name": "svc", "id": "0" * 64}).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if compress == "zstd":
        raw = zstandard.ZstdCompressor().compress(raw)
    dest.write_bytes(raw)
    return dest


def test_service_archive_forms_give_the_same_model(tmp_path: Path) -> None:
    s = next(x for x in load_samples(SAMPLES) if x.scenario == "service" and x.name == "checkpoint2")
    want = _model(load_checkpoint(s.images))
    for compress, name in ((None, "x.tar"), ("zstd", "x.tar.gz")):
        ck = load_checkpoint(_pack(s.images, tmp_path / name, compress))
        assert _model(ck) == want, name
        assert ck.info.layout != "criu-dir"


def test_podman_archive_matches_its_truth() -> None:
    for s in (x for x in load_samples(SAMPLES) if x.archive is not None and x.scenario == "podman"):
        ck = load_checkpoint(s.archive)
        assert ck.info.engine == "podman" and ck.info.container_name == "pcr"
        assert ck.errors == []
        dumped = {e["pid"] for e in s.crit_json("pstree.img")["entries"]}
        assert {p.pid for p in ck.processes} == dumped
        sh = ck.process(1)
        assert sh.argv == ["/bin/sh", "-c", s.truth["command"]]
        assert "config.dump" in ck.wrapper.files


def test_inspect_cli_same_output_for_dir_and_archive(tmp_path: Path) -> None:
    s = next(x for x in load_samples(SAMPLES) if x.scenario == "service" and x.name == "checkpoint1")
    tar = _pack(s.images, tmp_path / "svc.tar", None)

    def run(target: Path) -> dict:
        p = forensics("inspect", str(target), "--json")
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        for key in ("checkpoint", "wrapper"):
            doc.pop(key)
        return doc

    assert run(s.images) == run(tar)
