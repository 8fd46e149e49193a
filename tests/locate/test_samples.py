"""Real checkpoints made by the lab with real Docker, runc, Podman and CRIU (samples/index.json), opened in
every form the locate layer knows, and left exactly as they were.

Each test runs on the bundled samples and on a fresh lab run (the `lab` fixture; skipped without root).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from forensics.errors import NotACheckpoint
from forensics.locate import find_checkpoints, open_checkpoint, rootfs_diff
from forensics.locate.source import Source
from tests.conftest import SAMPLES, Sample, load_samples
from tests.locate.conftest import PODMAN_CONFIG, PODMAN_SPEC, compress, snapshot, tree_hash

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd")


@pytest.fixture(params=["bundled", pytest.param("fresh", marks=pytest.mark.lab)])
def sample_root(request: pytest.FixtureRequest) -> Path:
    if request.param == "bundled":
        if not (SAMPLES / "index.json").exists():
            pytest.skip("samples/index.json is not there yet: the lab has not bundled any checkpoint")
        return SAMPLES
    return request.getfixturevalue("lab")


def archive_of(s: Sample) -> Path | None:
    if s.archive is not None:
        return s.archive
    images = s.entry.get("images") or ""
    return s.root / images if images.endswith(ARCHIVE_SUFFIXES) else None


def dir_samples(root: Path) -> list[Sample]:
    return [s for s in load_samples(root) if s.images is not None and archive_of(s) is None]


def archive_samples(root: Path) -> list[Sample]:
    return [s for s in load_samples(root) if archive_of(s) is not None]


def crit_names(s: Sample) -> set[str]:
    """The images the lab's crit saw: one <image>.json or <image>.error per image file."""
    return {p.name.removesuffix(".json").removesuffix(".error") for p in s.crit.iterdir()}


def regular_files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file() and not p.is_symlink()}


def contents(src: Source) -> dict[str, bytes]:
    return {n: src.read(n).tobytes() for n in src.list()}


def need(samples: list[Sample], what: str) -> list[Sample]:
    if not samples:
        pytest.skip(f"no {what} among the samples")
    return samples


def test_open_each_dir(sample_root: Path) -> None:
    for s in need(dir_samples(sample_root), "image directories"):
        assert s.images is not None
        with open_checkpoint(s.images) as src:
            assert src.warnings == [], s
            assert contents(src) == regular_files(s.images), s
            assert set(src.list()) == crit_names(s), s
            assert all(src.path_of(n) == s.images / n for n in src.list())
            if s.entry.get("docker_root"):
                assert src.kind == "docker" and src.meta.engine == "docker", s
                assert src.meta.container_name == s.entry["container"], s
                assert src.meta.container_id and src.meta.image and src.meta.created, s
                assert src.wrapper_files() == ["config.v2.json", "hostconfig.json"]
            else:
                assert src.kind == "criu-dir", s
            assert src.meta.checkpoint_name == s.images.name
            # Incremental chains (made in the guest lab): the links the lab recorded, newest first.
            assert [c.meta.path.name for c in src.chain()] == lab_chain(s), s


def lab_chain(s: Sample) -> list[str]:
    """The names of a sample and of its parents, from the `parent` fields of the lab's index."""
    by_name = {x.name: x for x in load_samples(s.root) if x.scenario == s.scenario}
    names = [s.name]
    while by_name[names[-1]].entry.get("parent"):
        names.append(by_name[names[-1]].entry["parent"])
    return names


def test_open_docker_by_name(sample_root: Path) -> None:
    docker = [s for s in dir_samples(sample_root) if s.entry.get("docker_root")]
    for s in need(docker, "Docker checkpoints"):
        assert s.images is not None
        root = s.root / s.entry["docker_root"]
        for container in (None, s.entry["container"]):
            with open_checkpoint(s.name, docker_root=root, container=container) as src:
                assert src.meta.path.resolve() == s.images.resolve(), s
                assert (src.kind, src.meta.layout, src.meta.checkpoint_name) == ("docker", "docker-root", s.name)
                assert src.meta.container_name == s.entry["container"]
                assert contents(src) == regular_files(s.images), s
        with pytest.raises(NotACheckpoint, match="no container 'no-such-container'"):
            open_checkpoint(s.name, docker_root=root, container="no-such-container")


def test_open_each_archive(sample_root: Path, scratch_root: Path) -> None:
    for s in need(archive_samples(sample_root), "archives"):
        path = archive_of(s)
        assert path is not None
        expected = reference_images(path)
        with open_checkpoint(path) as src:
            assert src.warnings == [], s
            assert set(src.list()) == crit_names(s) == set(expected), s
            assert contents(src) == expected, s
            assert src.meta.engine == s.entry.get("engine") in ("podman", "containerd")
            assert src.kind == f"{s.entry['engine']}-archive" and src.meta.container_name == s.entry["container"]
            assert {"config.dump", "spec.dump"} <= set(src.wrapper_files())
            assert src.meta.compression == magic_compression(path)
            if src.meta.compression == "none":
                assert src.path_of("inventory.img") is None
            else:
                p = src.path_of("inventory.img")
                assert p is not None and p.is_relative_to(scratch_root)
            rootfs_diff(src)                  # listing whatever is there must not fail
    assert list(scratch_root.iterdir()) == []


def magic_compression(path: Path) -> str:
    head = path.read_bytes()[:4]
    return "zstd" if head == bytes.fromhex("28b52ffd") else "gzip" if head[:2] == b"\x1f\x8b" else "none"


def reference_images(archive: Path) -> dict[str, bytes]:
    """checkpoint/* (pre-checkpoint/* in a --pre-checkpoint export) of an archive, read with tarfile into
    memory (a reference independent of locate)."""
    data = archive.read_bytes()
    if data[:4] == bytes.fromhex("28b52ffd"):
        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 2 and parts[0] in ("checkpoint", "pre-checkpoint"):
                f = tar.extractfile(m)
                assert f is not None
                out[parts[1]] = f.read()
    return out


def podman_layout_tar(images_dir: Path) -> bytes:
    """The images of a real checkpoint in Podman's export layout: checkpoint/ + config.dump + spec.dump."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(images_dir, arcname="checkpoint", recursive=True)
        for name, value in (("config.dump", PODMAN_CONFIG), ("spec.dump", PODMAN_SPEC)):
            raw = json.dumps(value).encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(raw)
            tar.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def test_repacked_as_podman_archives(sample_root: Path, tmp_path: Path, scratch_root: Path) -> None:
    """A plain tar, a .tar.gz and a .tar.zst of each real image directory serve identical images."""
    for s in need(dir_samples(sample_root), "image directories"):
        assert s.images is not None
        plain = podman_layout_tar(s.images)
        paths = {how: tmp_path / f"{s.scenario}-{s.name}{suffix}" for how, suffix in
                 (("none", ".tar"), ("gzip", ".tar.gz"), ("zstd", ".tar.zst"))}
        for how, p in paths.items():
            p.write_bytes(compress(plain, how))
        expected = regular_files(s.images)
        before = snapshot(tmp_path, exclude=scratch_root)
        seen = []
        for how, p in paths.items():
            with open_checkpoint(p) as src:
                assert src.meta.compression == how and src.kind == "podman-archive"
                assert src.warnings == [], (s, how, src.warnings)
                assert contents(src) == expected, (s, how)
                seen.append(src.list())
        assert seen[0] == seen[1] == seen[2] == sorted(expected)
        assert snapshot(tmp_path, exclude=scratch_root) == before
        for p in paths.values():
            p.unlink()
    assert list(scratch_root.iterdir()) == []


def test_listing_finds_every_sample(sample_root: Path, scratch_root: Path) -> None:
    samples = load_samples(sample_root)
    found = {m.path.resolve(): m for m in find_checkpoints([sample_root])}
    for s in samples:
        where = archive_of(s) or s.images
        assert where is not None and where.resolve() in found, s
        m = found[where.resolve()]
        if s.entry.get("engine") in ("docker", "podman"):      # runc and plain CRIU write no container metadata
            assert m.container_name == s.entry["container"], s
    assert list(scratch_root.iterdir()) == []


def test_samples_unchanged_by_reading(sample_root: Path, tmp_path: Path, scratch_root: Path) -> None:
    """Every sample hashes identically before and after being opened in every way (and read entirely)."""
    before = tree_hash(sample_root)
    stats = {p: os.stat(p).st_mtime_ns for p in sample_root.rglob("*") if p.is_file()}
    for s in load_samples(sample_root):
        targets: list[tuple[str | Path, Path | None, str | None]] = []
        if (a := archive_of(s)) is not None:
            targets.append((a, None, None))
        elif s.images is not None:
            targets.append((s.images, None, None))
            if s.entry.get("docker_root"):
                targets.append((s.name, s.root / s.entry["docker_root"], s.entry["container"]))
        for target, docker_root, container in targets:
            with open_checkpoint(target, docker_root=docker_root, container=container) as src:
                for n in src.list():
                    src.read(n).tobytes()
                for w in src.wrapper_files():
                    src.read_wrapper(w).tobytes()
    list(find_checkpoints([sample_root]))
    assert tree_hash(sample_root) == before
    assert {p: os.stat(p).st_mtime_ns for p in sample_root.rglob("*") if p.is_file()} == stats
    assert list(scratch_root.iterdir()) == []
