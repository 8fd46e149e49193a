"""find_checkpoints over a tree with every form of checkpoint and some things that are not."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from forensics.locate import Limits, find_checkpoints
from tests.locate.conftest import (
    IMAGES,
    Member,
    make_criu_dir,
    podman_members,
    snapshot,
    tar_bytes,
    write_archive,
)
from tests.locate.test_directories import make_docker_root


def test_finds_every_form(tmp_path: Path, scratch_root: Path) -> None:
    root = tmp_path / "evidence"
    make_docker_root(root / "docker", {"a" * 64: ("web", ["checkpoint1", "checkpoint2"])})
    (root / "docker" / "overlay2" / "x").mkdir(parents=True)       # image layers: never walked
    (root / "docker" / "overlay2" / "x" / "looks.tar").write_bytes(tar_bytes(podman_members()))
    make_criu_dir(root / "runc" / "dump1")
    write_archive(root / "kubelet" / "checkpoint-pod_ns-ctr-2025.tar", podman_members(), "none")
    write_archive(root / "exports" / "web.tar.gz", podman_members(), "zstd")
    write_archive(root / "exports" / "notes.tar", [Member("a.txt", b"hi")], "none")
    (root / "exports" / "random.bin").write_bytes(b"\x00\x01" * 400)
    before = snapshot(tmp_path, exclude=scratch_root)
    found = {m.path.relative_to(root).as_posix(): m for m in find_checkpoints([root])}
    assert sorted(found) == [
        f"docker/containers/{'a' * 64}/checkpoints/checkpoint1",
        f"docker/containers/{'a' * 64}/checkpoints/checkpoint2",
        "exports/web.tar.gz",
        "kubelet/checkpoint-pod_ns-ctr-2025.tar",
        "runc/dump1",
    ]
    cp1 = found[f"docker/containers/{'a' * 64}/checkpoints/checkpoint1"]
    assert (cp1.kind, cp1.container_name, cp1.checkpoint_name) == ("docker", "web", "checkpoint1")
    assert cp1.sizes.images == sum(len(d) for d in IMAGES.values())
    plain = found["kubelet/checkpoint-pod_ns-ctr-2025.tar"]
    assert (plain.kind, plain.compression, plain.container_name) == ("podman-archive", "none", "web")
    assert plain.sizes.images == sum(len(d) for d in IMAGES.values())
    zst = found["exports/web.tar.gz"]
    assert (zst.kind, zst.compression, zst.container_name, zst.checkpoint_name) == (
        "podman-archive", "zstd", "web", "web")
    assert found["runc/dump1"].kind == "criu-dir"
    assert snapshot(tmp_path, exclude=scratch_root) == before
    assert list(scratch_root.iterdir()) == []                     # listing spills nothing


def test_compressed_listing_reads_only_the_start(tmp_path: Path, scratch_root: Path) -> None:
    """A big archive whose metadata comes first is listed from its first members only."""
    members = [Member("config.dump", json.dumps({"id": "x", "name": "big"}).encode()),
               Member("spec.dump", b'{"annotations": {"io.container.manager": "libpod"}}'),
               Member("checkpoint", type=tarfile.DIRTYPE), Member("checkpoint/inventory.img", b"inv"),
               Member("checkpoint/pages-1.img", bytes(48 << 20))]
    archive = write_archive(tmp_path / "big.tar.zst", members, "zstd")
    metas = list(find_checkpoints([archive], limits=Limits(list_budget=4 << 20)))
    assert len(metas) == 1
    m = metas[0]
    assert (m.container_name, m.engine, m.sizes.images) == ("big", "podman", None)
    assert m.sizes.archive == archive.stat().st_size


def test_budget_spent_before_metadata(tmp_path: Path, scratch_root: Path) -> None:
    members = [Member("checkpoint/inventory.img", b"inv"), Member("checkpoint/pages-1.img", bytes(16 << 20)),
               Member("config.dump", json.dumps({"name": "late"}).encode())]
    archive = write_archive(tmp_path / "late.tar.gz", members, "gzip")
    (m,) = find_checkpoints([archive], limits=Limits(list_budget=1 << 20))
    assert m.container_name is None and any("listing read only" in w for w in m.warnings)


def test_missing_roots_are_skipped(tmp_path: Path) -> None:
    assert list(find_checkpoints([tmp_path / "nope"])) == []
