"""A Docker checkpoint found by name under a Docker data root, with the container's config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forensics.errors import NotACheckpoint
from forensics.loader import load_checkpoint
from tests.cli import forensics
from tests.conftest import REPO, SAMPLES, load_samples


def test_by_name_reads_container_config() -> None:
    s = next(x for x in load_samples(SAMPLES) if x.scenario == "counter" and x.name == "checkpoint1")
    ck = load_checkpoint("checkpoint1", docker_root=SAMPLES / "counter" / "docker-root")
    assert ck.info.layout == "docker-root" and ck.info.engine == "docker" and ck.info.container_name == "cr" and ck.info.image == "busybox"
    assert ck.info.container_id == s.images.parent.parent.name
    assert [p.pid for p in ck.processes] == [e["pid"] for e in s.crit_json("pstree.img")["entries"]]


def test_ambiguous_name_needs_container(tmp_path: Path) -> None:
    root = tmp_path / "docker"
    for src in (SAMPLES / "counter" / "docker-root", SAMPLES / "service" / "docker-root"):
        shutil.copytree(src / "containers", root / "containers", dirs_exist_ok=True, symlinks=True)
    with pytest.raises(NotACheckpoint, match="several containers.*container"):
        load_checkpoint("checkpoint1", docker_root=root)
    assert load_checkpoint("checkpoint1", docker_root=root, container="svc").info.container_name == "svc"
    with pytest.raises(NotACheckpoint, match="no Docker checkpoint of that name"):
        load_checkpoint("nope", docker_root=root)


def test_cli_one_line_errors() -> None:
    for args in (["inspect", "/etc/passwd"], ["inspect", "checkpoint1", "--docker-root", "/nonexistent"],
                 ["inspect", str(REPO / "docs")]):
        p = forensics(*args)
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
