"""CRIU image directories, Docker checkpoints by name, unpacked container checkpoints, parent chains, and
what open_checkpoint says for everything else."""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from forensics.errors import NotACheckpoint
from forensics.locate.views import READ_BELOW
from forensics.locate import AmbiguousCheckpoint, NoSuchMember, open_checkpoint
from tests.locate.conftest import IMAGES, PODMAN_CONFIG, PODMAN_SPEC, make_criu_dir, snapshot

# ------------------------------------------------------------------ bare CRIU directories


def test_criu_dir(tmp_path: Path) -> None:
    d = make_criu_dir(tmp_path / "dump")
    (d / "stats-dump").write_bytes(b"stats")
    (d / "pages-2.img").write_bytes(b"\xa5" * READ_BELOW)
    before = snapshot(tmp_path)
    with open_checkpoint(d) as src:
        assert (src.kind, src.meta.layout, src.meta.engine, src.meta.compression) == ("criu-dir", "criu-dir", None, None)
        assert src.list() == sorted([*IMAGES, "stats-dump", "pages-2.img"])
        assert src.read("pages-1.img") == IMAGES["pages-1.img"]
        v = src.read("core-1.img")
        assert v.readonly and isinstance(v.obj, bytes)   # small: read whole (a map costs a descriptor)
        assert isinstance(src.read("pages-2.img").obj, mmap.mmap)   # big: mapped
        assert src.size("core-1.img") == len(IMAGES["core-1.img"])
        assert src.path_of("core-1.img") == d / "core-1.img"
        assert src.exists("inventory.img") and not src.exists("nope.img")
        with pytest.raises(NoSuchMember):
            src.read("nope.img")
        assert src.parent() is None and src.chain() == [src]
        assert src.meta.checkpoint_name == "dump" and src.meta.checkpoint_time is not None
        assert src.meta.sizes.pages == len(IMAGES["pages-1.img"]) + READ_BELOW
        assert src.wrapper_files() == []
    assert snapshot(tmp_path) == before


def test_empty_image_file(tmp_path: Path) -> None:
    d = make_criu_dir(tmp_path / "dump")
    (d / "pages-2.img").write_bytes(b"")
    with open_checkpoint(d) as src:
        assert src.read("pages-2.img") == b"" and src.size("pages-2.img") == 0


def test_symlinks_and_specials_in_image_dir_are_skipped(tmp_path: Path) -> None:
    d = make_criu_dir(tmp_path / "dump")
    (d / "pages-2.img").symlink_to("/etc/passwd")
    os.mkfifo(d / "fifo-data.img")
    with open_checkpoint(d) as src:
        assert "pages-2.img" not in src.list() and "fifo-data.img" not in src.list()
        assert any("pages-2.img" in w and "never followed" in w for w in src.warnings)
        assert any("fifo-data.img" in w for w in src.warnings)


def test_pre_dump_dir_opens(tmp_path: Path) -> None:
    d = make_criu_dir(tmp_path / "pre", {"inventory.img": b"inv", "pagemap-1.img": b"pm", "pages-1.img": b"p",
                                         "stats-dump": b"s"})
    with open_checkpoint(d) as src:
        assert src.list() == ["inventory.img", "pagemap-1.img", "pages-1.img", "stats-dump"]


# ------------------------------------------------------------------ parent chains


def test_parent_chain_relative(tmp_path: Path) -> None:
    d1 = make_criu_dir(tmp_path / "dumps" / "1")
    d2 = make_criu_dir(tmp_path / "dumps" / "2")
    d3 = make_criu_dir(tmp_path / "dumps" / "3")
    (d2 / "parent").symlink_to("../1")
    (d3 / "parent").symlink_to("../2")
    with open_checkpoint(d3) as src:
        chain = src.chain()
        assert [c.meta.path for c in chain] == [d3, d2.resolve(), d1.resolve()]
        assert all(c.warnings == [] for c in chain)
        assert "parent" not in src.list()


def test_parent_absolute_inside_is_fine(tmp_path: Path) -> None:
    d1 = make_criu_dir(tmp_path / "dumps" / "1")
    d2 = make_criu_dir(tmp_path / "dumps" / "2")
    (d2 / "parent").symlink_to(d1)
    with open_checkpoint(d2) as src:
        assert len(src.chain()) == 2 and src.warnings == []


def test_parent_outside_is_followed_with_warning(tmp_path: Path) -> None:
    elsewhere = make_criu_dir(tmp_path / "elsewhere" / "base")
    d2 = make_criu_dir(tmp_path / "dumps" / "2")
    (d2 / "parent").symlink_to(elsewhere)
    with open_checkpoint(d2) as src:
        assert len(src.chain()) == 2
        assert any("points outside" in w for w in src.warnings)


def test_parent_missing(tmp_path: Path) -> None:
    d2 = make_criu_dir(tmp_path / "dumps" / "2")
    (d2 / "parent").symlink_to("../1")
    with open_checkpoint(d2) as src:
        assert src.parent() is None and any("missing" in w for w in src.warnings)


def test_parent_not_a_criu_dir(tmp_path: Path) -> None:
    d2 = make_criu_dir(tmp_path / "dumps" / "2")
    (d2 / "parent").symlink_to("/etc")
    with open_checkpoint(d2) as src:
        assert src.parent() is None and any("not a CRIU image directory" in w for w in src.warnings)


def test_parent_loops(tmp_path: Path) -> None:
    a = make_criu_dir(tmp_path / "dumps" / "a")
    b = make_criu_dir(tmp_path / "dumps" / "b")
    (a / "parent").symlink_to("../b")
    (b / "parent").symlink_to("../a")
    with open_checkpoint(a) as src:
        chain = src.chain()
        assert len(chain) == 2 and any("loop" in w for w in chain[1].warnings)
    c = make_criu_dir(tmp_path / "dumps" / "c")
    (c / "parent").symlink_to(".")
    with open_checkpoint(c) as src:
        assert src.chain() == [src] and any("loop" in w for w in src.warnings)
    d = make_criu_dir(tmp_path / "dumps" / "d")
    (d / "parent").symlink_to("parent")                       # a symlink loop: unresolvable
    with open_checkpoint(d) as src:
        assert src.parent() is None and src.warnings


# ------------------------------------------------------------------ Docker


def make_docker_root(root: Path, containers: dict[str, tuple[str, list[str]]]) -> dict[str, Path]:
    """containers: id -> (name, checkpoint names). Returns checkpoint dirs by "<name>/<checkpoint>"."""
    out = {}
    for cid, (name, cps) in containers.items():
        cdir = root / "containers" / cid
        cdir.mkdir(parents=True)
        (cdir / "config.v2.json").write_text(json.dumps({
            "ID": cid, "Name": f"/{name}", "Created": "2026-11-29T04:09:20.377135612Z",
            "Config": {"Image": "busybox"}}))
        (cdir / "hostconfig.json").write_text("{}")
        for cp in cps:
            out[f"{name}/{cp}"] = make_criu_dir(cdir / "checkpoints" / cp)
    return out


def test_docker_by_name(tmp_path: Path) -> None:
    cps = make_docker_root(tmp_path / "docker", {"a" * 64: ("web", ["checkpoint1", "cp2"])})
    before = snapshot(tmp_path)
    with open_checkpoint("checkpoint1", docker_root=tmp_path / "docker") as src:
        m = src.meta
        assert (src.kind, m.layout, m.engine) == ("docker", "docker-root", "docker")
        assert (m.container_id, m.container_name, m.image, m.checkpoint_name) == ("a" * 64, "web", "busybox", "checkpoint1")
        assert m.created is not None and m.created.at.year == 2026
        assert src.name == "checkpoint1" and m.path == cps["web/checkpoint1"]
        assert src.wrapper_files() == ["config.v2.json", "hostconfig.json"]
        assert src.list() == sorted(IMAGES)
    with open_checkpoint(cps["web/cp2"]) as src:          # the same, given as a directory
        assert src.kind == "docker" and src.meta.container_name == "web"
    assert snapshot(tmp_path) == before


def test_docker_several_containers(tmp_path: Path) -> None:
    root = tmp_path / "docker"
    make_docker_root(root, {"a" * 64: ("web", ["checkpoint1"]), "b" * 64: ("db", ["checkpoint1"]),
                            "c" * 64: ("other", ["cp9"])})
    with pytest.raises(AmbiguousCheckpoint) as exc:
        open_checkpoint("checkpoint1", docker_root=root)
    assert "web (aaaaaaaaaaaa)" in str(exc.value) and "db (bbbbbbbbbbbb)" in str(exc.value)
    assert "other" not in str(exc.value)
    with open_checkpoint("checkpoint1", docker_root=root, container="db") as src:
        assert src.meta.container_name == "db"
    with open_checkpoint("checkpoint1", docker_root=root, container="/web") as src:
        assert src.meta.container_name == "web"
    with open_checkpoint("checkpoint1", docker_root=root, container="bbbb") as src:
        assert src.meta.container_id == "b" * 64
    with pytest.raises(NotACheckpoint, match="no container 'other' has a checkpoint 'checkpoint1'; those that do: "):
        open_checkpoint("checkpoint1", docker_root=root, container="other")


def test_docker_unknown_name(tmp_path: Path) -> None:
    make_docker_root(tmp_path / "docker", {"a" * 64: ("web", ["checkpoint1"])})
    with pytest.raises(NotACheckpoint, match="no Docker checkpoint of that name"):
        open_checkpoint("nope", docker_root=tmp_path / "docker")
    with pytest.raises(NotACheckpoint, match="not a Docker data root"):
        open_checkpoint("nope", docker_root=tmp_path / "empty")


def test_docker_missing_config(tmp_path: Path) -> None:
    d = make_criu_dir(tmp_path / "docker" / "containers" / ("f" * 64) / "checkpoints" / "cp")
    with open_checkpoint("cp", docker_root=tmp_path / "docker") as src:
        assert src.meta.container_id == "f" * 64 and src.meta.container_name is None
        assert any("config.v2.json is missing" in w for w in src.warnings)
        assert src.meta.path == d


def test_docker_checkpoint_dir(tmp_path: Path) -> None:
    """`docker checkpoint create --checkpoint-dir D c name` writes D/name."""
    d = make_criu_dir(tmp_path / "cpdir" / "checkpoint1")
    make_criu_dir(tmp_path / "cpdir" / "checkpoint2")
    with open_checkpoint("checkpoint1", docker_root=tmp_path / "cpdir") as src:
        assert (src.kind, src.meta.layout, src.meta.path) == ("docker", "docker-checkpoint-dir", d)
    with open_checkpoint(d) as src:                         # or the directory itself
        assert src.kind == "criu-dir"
    with pytest.raises(NotACheckpoint, match="holds checkpoints checkpoint1, checkpoint2"):
        open_checkpoint(tmp_path / "cpdir")


def test_name_vs_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare name that is also a directory here opens the directory unless a docker_root is given."""
    monkeypatch.chdir(tmp_path)
    make_criu_dir(tmp_path / "checkpoint1", {"inventory.img": b"local"})
    make_docker_root(tmp_path / "docker", {"a" * 64: ("web", ["checkpoint1"])})
    with open_checkpoint("checkpoint1") as src:
        assert src.kind == "criu-dir" and src.read("inventory.img") == b"local"
    with open_checkpoint("checkpoint1", docker_root=tmp_path / "docker") as src:
        assert src.kind == "docker"


def test_bad_names_are_not_looked_up(tmp_path: Path) -> None:
    make_docker_root(tmp_path / "docker", {"a" * 64: ("web", ["checkpoint1"])})
    for name in ("../containers", "..", "a/b", "-x"):
        with pytest.raises(NotACheckpoint):
            open_checkpoint(name, docker_root=tmp_path / "docker")


def test_docker_root_given_as_target(tmp_path: Path) -> None:
    make_docker_root(tmp_path / "docker", {"a" * 64: ("web", ["checkpoint1"])})
    with pytest.raises(NotACheckpoint, match=r"is a Docker data root.*checkpoint1"):
        open_checkpoint(tmp_path / "docker")


# ------------------------------------------------------------------ unpacked container checkpoints


def test_container_dir(tmp_path: Path) -> None:
    root = tmp_path / "userdata"
    make_criu_dir(root / "checkpoint")
    (root / "config.dump").write_text(json.dumps(PODMAN_CONFIG))
    (root / "spec.dump").write_text(json.dumps(PODMAN_SPEC))
    (root / "volumes").mkdir()
    (root / "volumes" / "v.tar").write_bytes(b"v")
    for target in (root, root / "checkpoint"):
        with open_checkpoint(target) as src:
            assert (src.kind, src.meta.layout, src.meta.engine) == ("container-dir", "container-dir", "podman")
            assert src.meta.container_name == "web"
            assert src.wrapper_files() == ["config.dump", "spec.dump", "volumes/v.tar"]
            assert src.list() == sorted(IMAGES)


# ------------------------------------------------------------------ not checkpoints


@pytest.mark.parametrize("make,match", [
    (lambda p: p, "no such file or directory; expected a CRIU image directory"),
    (lambda p: (p.mkdir(), p)[1], "is a directory without inventory.img; expected"),
])
def test_not_a_checkpoint(tmp_path: Path, make: Callable[[Path], Path], match: str) -> None:
    with pytest.raises(NotACheckpoint, match=match) as exc:
        open_checkpoint(make(tmp_path / "thing"))
    assert "\n" not in str(exc.value)


def test_fifo_target(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    with pytest.raises(NotACheckpoint, match="neither a directory nor a regular file"):
        open_checkpoint(tmp_path / "f")
