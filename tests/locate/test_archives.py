"""Well-formed archives: compression told by magic bytes, in-place reading of plain tars, metadata of each
engine's layout, and parent links inside an archive."""

from __future__ import annotations

import json
import mmap
import tarfile
from pathlib import Path

import pytest

from forensics.errors import NotACheckpoint
from forensics.locate.views import READ_BELOW
from forensics.locate import open_checkpoint
from forensics.locate.compression import is_tar_header, sniff
from tests.locate.conftest import (
    IMAGES,
    PODMAN_CONFIG,
    Member,
    compress,
    podman_members,
    snapshot,
    tar_bytes,
    write_archive,
)

ALL = ["none", "gzip", "zstd", "bzip2", "xz"]


@pytest.mark.parametrize("how", ALL)
@pytest.mark.parametrize("file_name", ["cp.tar", "cp.tar.gz", "cp.tar.zst", "cp", "cp.zip"])
def test_compression_by_magic_not_name(tmp_path: Path, scratch_root: Path, how: str, file_name: str) -> None:
    """The same tar as any compression under any name (Podman 5 writes zstd for `--export x.tar.gz`)."""
    archive = write_archive(tmp_path / file_name, podman_members(), how)
    with open_checkpoint(archive) as src:
        assert src.meta.compression == how
        assert src.kind == "podman-archive"
        assert {n: src.read(n).tobytes() for n in src.list()} == IMAGES


def test_gzip_named_tar_and_zstd_named_tar_gz(tmp_path: Path, scratch_root: Path) -> None:
    plain = tar_bytes(podman_members())
    (tmp_path / "a.tar").write_bytes(compress(plain, "gzip"))
    (tmp_path / "b.tar.gz").write_bytes(compress(plain, "zstd"))
    with open_checkpoint(tmp_path / "a.tar") as a, open_checkpoint(tmp_path / "b.tar.gz") as b:
        assert (a.meta.compression, b.meta.compression) == ("gzip", "zstd")
        assert a.list() == b.list() == sorted(IMAGES)


def test_sniff() -> None:
    plain = tar_bytes(podman_members())
    assert sniff(plain[:512]) == "none" and is_tar_header(plain[:512])
    assert sniff(b"\x1f\x8b\x08") == "gzip"
    assert sniff(bytes.fromhex("28b52ffd")) == "zstd"
    assert sniff(bytes.fromhex("502a4d18") + bytes(8)) == "zstd"        # a skippable frame first
    assert sniff(b"BZh9") == "bzip2" and sniff(b"BZh0") is None
    assert sniff(b"\xfd7zXZ\x00") == "xz"
    assert sniff(bytes(512)) is None and sniff(b"PK\x03\x04") is None
    v7 = bytearray(plain[:512])
    v7[257:265] = bytes(8)                                              # no ustar magic: checksum decides
    v7[148:156] = b"%06o\0 " % (sum(v7[:148]) + 8 * 32 + sum(v7[156:]))
    assert is_tar_header(bytes(v7))
    v7[0] ^= 1
    assert not is_tar_header(bytes(v7))


def test_in_place_reading_is_zero_copy(tmp_path: Path, scratch_root: Path) -> None:
    archive = write_archive(tmp_path / "cp.tar", podman_members(), "none")
    before = snapshot(tmp_path, exclude=scratch_root)
    with open_checkpoint(archive) as src:
        views = [src.read(n) for n in src.list()]
        assert all(v.readonly for v in views)
        backing = {id(v.obj) for v in views}
        assert len(backing) == 1 and isinstance(views[0].obj, mmap.mmap)   # one map of the archive
        assert src.path_of("pages-1.img") is None
        with pytest.raises(TypeError):
            views[0][0] = 1
        data = archive.read_bytes()
        v = src.read("pages-1.img")
        assert data.find(IMAGES["pages-1.img"]) >= 0 and v.tobytes() == IMAGES["pages-1.img"]
        assert src.read_wrapper("config.dump").readonly
    assert not list(scratch_root.iterdir())                               # nothing spilled
    assert snapshot(tmp_path, exclude=scratch_root) == before


def test_compressed_members_spill_to_scratch_only(tmp_path: Path, scratch_root: Path) -> None:
    archive = write_archive(tmp_path / "cp.tar.zst", podman_members(), "zstd")
    before = snapshot(tmp_path, exclude=scratch_root)
    with open_checkpoint(archive) as src:
        p = src.path_of("pages-1.img")
        assert p is not None and p.is_relative_to(scratch_root) and p.name == "pages-1.img"
        assert p.read_bytes() == IMAGES["pages-1.img"]
        assert src.read("pages-1.img").readonly
        # A spilled member is read from its scratch file: mapped, or read whole when it is small.
        data = src.read("pages-1.img")
        assert isinstance(data.obj, mmap.mmap) if data.nbytes >= READ_BELOW else isinstance(data.obj, bytes)
        scratch = next(scratch_root.iterdir())
        assert oct(scratch.stat().st_mode & 0o777) == "0o700"
    assert not list(scratch_root.iterdir())
    assert snapshot(tmp_path, exclude=scratch_root) == before


def test_views_outlive_close(tmp_path: Path, scratch_root: Path) -> None:
    for how in ("none", "zstd"):
        src = open_checkpoint(write_archive(tmp_path / f"cp-{how}", podman_members(), how))
        v = src.read("pages-1.img")
        src.close()
        assert v.tobytes() == IMAGES["pages-1.img"]
    assert not list(scratch_root.iterdir())


def test_podman_meta(tmp_path: Path, scratch_root: Path) -> None:
    with open_checkpoint(write_archive(tmp_path / "web.tar.zst", podman_members(), "zstd")) as src:
        m = src.meta
        assert (m.engine, m.kind, m.layout) == ("podman", "podman-archive", "container-archive")
        assert (m.container_id, m.container_name, m.image, m.runtime) == (
            PODMAN_CONFIG["id"], "web", "docker.io/library/nginx:latest", "crun")
        assert m.created is not None and m.created.at.isoformat() == "2025-01-02T03:04:05.123456+00:00"
        assert m.created.source.value == "engine metadata"
        assert m.checkpoint_name == "web" and m.checkpoint_time is not None
        assert m.sizes.images == sum(len(d) for d in IMAGES.values())
        assert m.sizes.pages == len(IMAGES["pages-1.img"])
        assert src.wrapper_files() == ["config.dump", "spec.dump"]
        assert json.loads(src.read_wrapper("config.dump").tobytes())["name"] == "web"


def test_crio_meta(tmp_path: Path, scratch_root: Path) -> None:
    spec = {"annotations": {
        "io.container.manager": "cri-o",
        "io.kubernetes.cri-o.Metadata": json.dumps({"name": "counter"}),
        "io.kubernetes.cri-o.ContainerID": "cd" * 32,
        "io.kubernetes.cri-o.ImageName": "quay.io/adrianreber/counter:latest",
        "io.kubernetes.cri-o.Created": "2023-02-13T16:19:42.812145453Z",
        "io.kubernetes.pod.name": "counters", "io.kubernetes.pod.namespace": "default"}}
    config = {"id": "cd" * 32, "name": "k8s_counter_counters_default", "createdTime": "2023-02-13T16:19:42Z"}
    members = podman_members(config=False) + [
        Member("config.dump", json.dumps(config).encode()), Member("spec.dump", json.dumps(spec).encode()),
        Member("rootfs-diff.tar", tar_bytes([Member("tmp/x", b"1")])), Member("deleted.files", b"[]")]
    name = "checkpoint-counters_default-counter-2023-02-13T16:20:09Z.tar"
    with open_checkpoint(write_archive(tmp_path / name, members, "none")) as src:
        m = src.meta
        assert (m.engine, m.kind) == ("cri-o", "crio-archive")
        assert (m.container_name, m.pod, m.namespace) == ("counter", "counters", "default")
        assert m.image == "quay.io/adrianreber/counter:latest"
        assert m.checkpoint_name == "checkpoint-counters_default-counter-2023-02-13T16:20:09Z"
        assert m.sizes.rootfs_diff is not None and m.sizes.rootfs_diff > 0


def test_containerd_meta(tmp_path: Path, scratch_root: Path) -> None:
    spec = {"annotations": {"io.kubernetes.cri.container-name": "app", "io.kubernetes.cri.image-name": "nginx",
                            "io.kubernetes.cri.sandbox-name": "pod1", "io.kubernetes.cri.sandbox-namespace": "ns"}}
    members = podman_members(config=False) + [
        Member("config.dump", json.dumps({"id": "ef" * 32, "name": "app"}).encode()),
        Member("spec.dump", json.dumps(spec).encode()), Member("status.dump", b"{}"),
        Member("container.log", b"log")]
    with open_checkpoint(write_archive(tmp_path / "c.tar", members, "gzip")) as src:
        assert (src.meta.engine, src.kind) == ("containerd", "containerd-archive")
        assert (src.meta.container_name, src.meta.pod, src.meta.namespace) == ("app", "pod1", "ns")
        assert "container.log" in src.wrapper_files()


def test_bad_metadata_is_a_warning(tmp_path: Path, scratch_root: Path) -> None:
    members = podman_members(config=False) + [Member("config.dump", b"{not json"), Member("spec.dump", b"[]")]
    with open_checkpoint(write_archive(tmp_path / "c.tar", members, "none")) as src:
        assert any("config.dump is not JSON" in w for w in src.warnings)
        assert any("spec.dump is not a JSON object" in w for w in src.warnings)
        assert src.meta.container_name is None


@pytest.mark.parametrize("prefix", ["", "dump1/", "./"])
def test_tar_of_a_bare_criu_dir(tmp_path: Path, scratch_root: Path, prefix: str) -> None:
    members = [Member(f"{prefix}{n}", d) for n, d in IMAGES.items()]
    with open_checkpoint(write_archive(tmp_path / "d.tar", members, "xz")) as src:
        assert (src.kind, src.meta.layout, src.meta.engine) == ("tar", "criu-tar", None)
        assert src.list() == sorted(IMAGES)


@pytest.mark.parametrize("how", ["none", "zstd"])
def test_parent_chain_inside_archive(tmp_path: Path, scratch_root: Path, how: str) -> None:
    pre = {"inventory.img": b"pre-inventory", "pages-1.img": b"p" * 4096, "pagemap-1.img": b"pm"}
    members = podman_members() + [Member("checkpoint/parent", type=tarfile.SYMTYPE, linkname="../pre-checkpoint")]
    members += [Member(f"pre-checkpoint/{n}", d) for n, d in pre.items()]
    with open_checkpoint(write_archive(tmp_path / "c.tar", members, how)) as src:
        chain = src.chain()
        assert len(chain) == 2 and src.warnings == []
        assert chain[1].list() == sorted(pre)
        assert chain[1].read("pages-1.img") == pre["pages-1.img"]
        assert chain[1].parent() is None
        assert "pre-checkpoint/pages-1.img" not in src.wrapper_files()


def test_parent_loop_and_missing_inside_archive(tmp_path: Path, scratch_root: Path) -> None:
    members = podman_members() + [Member("checkpoint/parent", type=tarfile.SYMTYPE, linkname="../pre")]
    members += [Member("pre/inventory.img", b"i"), Member("pre/parent", type=tarfile.SYMTYPE, linkname="../checkpoint")]
    with open_checkpoint(write_archive(tmp_path / "c.tar", members, "none")) as src:
        chain = src.chain()
        assert len(chain) == 2
        assert any("loop" in w for w in chain[1].warnings)
    members = podman_members() + [Member("checkpoint/parent", type=tarfile.SYMTYPE, linkname="../gone")]
    with open_checkpoint(write_archive(tmp_path / "d.tar", members, "none")) as src:
        assert src.parent() is None and any("no CRIU images there" in w for w in src.warnings)


def test_several_image_dirs_without_checkpoint_dir(tmp_path: Path, scratch_root: Path) -> None:
    members = [Member("a/inventory.img", b"1"), Member("b/inventory.img", b"2")]
    with pytest.raises(NotACheckpoint, match="several CRIU image directories"):
        open_checkpoint(write_archive(tmp_path / "c.tar", members, "none"))
