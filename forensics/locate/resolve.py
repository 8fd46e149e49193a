"""From whatever the user typed to a `Source`.

| the user gives                                   | opened as                                                |
|--------------------------------------------------|----------------------------------------------------------|
| a directory with inventory.img                   | criu-dir; docker when it sits at                         |
|                                                  | containers/<id>/checkpoints/<name> next to               |
|                                                  | config.v2.json                                           |
| a directory with checkpoint/inventory.img (or    | container-dir (an unpacked Podman/CRI-O/containerd       |
| that checkpoint/ itself)                         | checkpoint)                                              |
| a file that is a tar, plain or                   | podman-archive, crio-archive, containerd-archive, or tar |
| gzip/zstd/bzip2/xz (told by magic)               |                                                          |
| a bare name ("checkpoint1") that is no path      | docker: containers/*/checkpoints/<name> under            |
| here, or any name when docker_root or container  | docker_root (default /var/lib/docker), or                |
| is given                                         | docker_root/<name> when docker_root is a                 |
|                                                  | --checkpoint-dir                                         |

Anything else raises NotACheckpoint with one line saying what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

from forensics.errors import ForensicsError, NotACheckpoint
from forensics.locate import engines
from forensics.locate.archive import open_archive
from forensics.locate.compression import DEFAULT_LIMITS, Limits
from forensics.locate.directory import (
    INVENTORY,
    DirectorySource,
    dir_meta,
    is_image_dir,
    scan_images,
    scan_wrappers,
)
from forensics.locate.docker import (
    CHECKPOINT_NAME,
    DEFAULT_DOCKER_ROOT,
    DockerCheckpoint,
    container_dir_of,
    find_by_name,
    iter_checkpoints,
    open_docker,
)
from forensics.locate.source import CONTAINER_DIR, Source
from forensics.locate.views import read_small

EXPECTED = ("expected a CRIU image directory (with inventory.img), a Docker checkpoint name, or a checkpoint "
            "archive (tar, plain or gzip/zstd/bzip2/xz-compressed)")
CONTAINER_WRAPPERS_JSON = ("config.dump", "spec.dump")


def open_checkpoint(target: str | Path, *, docker_root: Path | None = None, container: str | None = None,
                    limits: Limits | None = None) -> Source:
    """Open the checkpoint the user named, read-only. The caller closes it (or uses `with`).

    docker_root: a Docker data root, or a directory given to `docker checkpoint create --checkpoint-dir`,
        to look a checkpoint name up in (default /var/lib/docker).
    container: a container name or ID prefix, to pick among several containers with that checkpoint name.
    limits: how far a compressed archive may expand (decompression bombs).
    Raises NotACheckpoint (AmbiguousCheckpoint when a name fits several) or ArchiveError.
    """
    limits = limits or DEFAULT_LIMITS
    text = str(target)
    path = Path(target)
    is_name = isinstance(target, str) and "/" not in text and bool(CHECKPOINT_NAME.match(text))
    if is_name and (docker_root is not None or container is not None):
        try:
            return _docker_by_name(text, docker_root, container)
        except NotACheckpoint:
            if not os.path.lexists(path):
                raise
    if os.path.lexists(path):
        return _open_path(path, text, limits)
    if is_name:
        return _docker_by_name(text, docker_root, container)
    raise NotACheckpoint(f"no such file or directory; {EXPECTED}", path)


def _docker_by_name(name: str, docker_root: Path | None, container: str | None) -> Source:
    root = docker_root if docker_root is not None else DEFAULT_DOCKER_ROOT
    cp = find_by_name(root, name, container)
    layout = "docker-root" if cp.container_dir is not None else "docker-checkpoint-dir"
    return open_docker(cp, name, layout)


def _open_path(path: Path, name: str, limits: Limits) -> Source:
    if path.is_dir():
        return open_directory(path, name)
    if path.is_file():
        return open_archive(path, name, limits)
    raise NotACheckpoint(f"is neither a directory nor a regular file; {EXPECTED}", path)


def open_directory(path: Path, name: str) -> Source:
    """A directory the user named: an image directory (bare, Docker's) or an unpacked container checkpoint."""
    try:
        if is_image_dir(path):
            cdir = container_dir_of(path)
            if cdir is not None:
                return open_docker(DockerCheckpoint(path, cdir), name, "docker-root")
            if path.name == "checkpoint" and any((path.parent / f).is_file() for f in CONTAINER_WRAPPERS_JSON):
                return open_container_dir(path.parent, name)
            warnings: list[str] = []
            images = scan_images(path, warnings)
            return DirectorySource(name, path, dir_meta(path, images, warnings=warnings), images)
        if is_image_dir(path / "checkpoint"):
            return open_container_dir(path, name)
        if (path / "containers").is_dir():
            names = sorted({cp.name for cp in iter_checkpoints(path)})
            raise NotACheckpoint("is a Docker data root; name a checkpoint in it with docker_root "
                                 f"(it has: {', '.join(names) or 'none'})", path)
        subdirs = sorted(d.name for d in path.iterdir() if d.is_dir() and not d.is_symlink() and is_image_dir(d))
    except PermissionError as exc:
        raise NotACheckpoint(f"cannot be read ({exc.strerror})", exc.filename or path) from None
    if subdirs:
        raise NotACheckpoint(f"has no {INVENTORY} but holds checkpoints {', '.join(subdirs)}: name one of them "
                             "(or give this directory as docker_root and the checkpoint's name)", path)
    raise NotACheckpoint(f"is a directory without {INVENTORY}; {EXPECTED}", path)


def open_container_dir(root: Path, name: str) -> Source:
    """An unpacked Podman/CRI-O/containerd checkpoint: checkpoint/ plus config.dump, spec.dump..."""
    warnings: list[str] = []
    images_dir = root / "checkpoint"
    images = scan_images(images_dir, warnings)
    skip = {d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and is_image_dir(d)}
    wrappers = scan_wrappers(root, skip, warnings)
    meta = dir_meta(images_dir, images, kind=CONTAINER_DIR, layout="container-dir", warnings=warnings)
    meta.path = root
    meta.checkpoint_name = root.name
    dumps = {}
    for f in (*CONTAINER_WRAPPERS_JSON, "status.dump"):
        try:
            data = read_small(root / f, DEFAULT_LIMITS.max_meta_bytes) if (root / f).is_file() else None
        except (OSError, ForensicsError) as exc:
            warnings.append(f"{root / f}: {exc}")
            data = None
        dumps[f] = engines.load_json(data, f, warnings)
    engines.fill_from_container_dumps(meta, dumps["config.dump"], dumps["spec.dump"], (root / "status.dump").is_file(),
                                      dumps.get("status.dump"))
    return DirectorySource(name, images_dir, meta, images, wrappers)
