"""Docker checkpoints: `docker checkpoint create <container> <name>` and where Docker keeps them.

Docker (via containerd and runc) writes the CRIU images to
`<data root>/containers/<container id>/checkpoints/<name>/` (data root /var/lib/docker unless dockerd was
told otherwise), or, with `--checkpoint-dir D`, to `D/<name>/`. The container's name, image and creation
time are in `<data root>/containers/<id>/config.v2.json`; `hostconfig.json` sits next to it. Both are the
wrapper files of a Docker source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forensics.errors import ForensicsError, NotACheckpoint
from forensics.locate import engines
from forensics.locate.compression import DEFAULT_LIMITS
from forensics.locate.directory import DirectorySource, dir_meta, is_image_dir, scan_images
from forensics.locate.source import DOCKER, AmbiguousCheckpoint
from forensics.locate.views import Blob, MappedFile, read_small

DEFAULT_DOCKER_ROOT = Path("/var/lib/docker")
CONFIG = "config.v2.json"
WRAPPERS = ("config.v2.json", "hostconfig.json")
# Docker accepts checkpoint names matching its restricted name pattern; anything else cannot be one.
CHECKPOINT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class DockerCheckpoint:
    """One checkpoint directory and the container it belongs to (None for a --checkpoint-dir)."""

    checkpoint_dir: Path
    container_dir: Path | None

    @property
    def name(self) -> str:
        return self.checkpoint_dir.name


def container_dir_of(images_dir: Path) -> Path | None:
    """`containers/<id>` if `images_dir` is `containers/<id>/checkpoints/<name>`, else None."""
    checkpoints = images_dir.parent
    if checkpoints.name != "checkpoints":
        return None
    cdir = checkpoints.parent
    if (cdir / CONFIG).is_file() or cdir.parent.name == "containers":
        return cdir
    return None


def is_docker_root(path: Path) -> bool:
    """A directory laid out like Docker's data root: containers/<id>/config.v2.json for some container."""
    containers = path / "containers"
    try:
        return containers.is_dir() and any((c / CONFIG).is_file() for c in containers.iterdir())
    except OSError:
        return False


def container_config(container_dir: Path, warnings: list[str]) -> dict[str, Any] | None:
    path = container_dir / CONFIG
    if not path.exists():
        return None
    try:
        data = read_small(path, DEFAULT_LIMITS.max_meta_bytes)
    except (OSError, ForensicsError) as exc:
        warnings.append(f"{path}: {exc}")
        return None
    return engines.load_json(data, str(path), warnings)


def iter_checkpoints(root: Path) -> Iterator[DockerCheckpoint]:
    """Every checkpoint under a Docker data root, in container-directory order."""
    containers = root / "containers"
    try:
        cdirs = sorted(p for p in containers.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return
    for cdir in cdirs:
        try:
            cps = sorted((cdir / "checkpoints").iterdir())
        except OSError:
            continue
        for cp in cps:
            if not cp.is_symlink() and is_image_dir(cp):
                yield DockerCheckpoint(cp, cdir)


def find_by_name(root: Path, name: str, container: str | None) -> DockerCheckpoint:
    """The checkpoint `name` under Docker data root (or --checkpoint-dir) `root`; `container` (a name or an ID
    prefix) picks one when several containers have a checkpoint of that name."""
    if not CHECKPOINT_NAME.match(name):
        raise NotACheckpoint("is neither a path nor a Docker checkpoint name", name)
    if is_image_dir(root / name) and not (root / "containers").is_dir():
        return DockerCheckpoint(root / name, None)   # a --checkpoint-dir
    try:
        os.listdir(root / "containers")
    except PermissionError:
        raise NotACheckpoint(f"no such path, and the Docker data root {root} cannot be read (permission denied; "
                             "it is readable by root only)", name) from None
    except OSError:
        pass
    if not (root / "containers").is_dir():
        raise NotACheckpoint(f"no such path, and {root} is not a Docker data root (no containers/) nor a "
                             f"--checkpoint-dir holding {name}/inventory.img", name)
    found = [cp for cp in iter_checkpoints(root) if cp.name == name]
    if not found:
        raise NotACheckpoint(f"no such path, and no Docker checkpoint of that name under {root}/containers "
                             f"(expected containers/<id>/checkpoints/{name}/inventory.img)", name)
    labelled = [(cp, _label(cp)) for cp in found]
    if container is not None:
        want = container.lstrip("/")
        by_name = [cp for cp, (cname, _) in labelled if cname == want]
        by_id = [cp for cp, (_, cid) in labelled if cid.startswith(want)]
        picked = by_name or by_id
        if not picked:
            raise NotACheckpoint(f"no container {container!r} has a checkpoint {name!r}; those that do: "
                                 f"{_describe(labelled)}", name)
        found = picked
        labelled = [(cp, _label(cp)) for cp in found]
    if len(found) > 1:
        raise AmbiguousCheckpoint(f"several containers have a checkpoint {name!r}: {_describe(labelled)}; "
                                  "name one with the container option", name)
    return found[0]


def _label(cp: DockerCheckpoint) -> tuple[str, str]:
    assert cp.container_dir is not None
    config = container_config(cp.container_dir, []) or {}
    name = config.get("Name")
    cid = config.get("ID")
    return (name.lstrip("/") if isinstance(name, str) else "?",
            cid if isinstance(cid, str) else cp.container_dir.name)


def _describe(labelled: list[tuple[DockerCheckpoint, tuple[str, str]]]) -> str:
    return ", ".join(f"{cname} ({cid[:12]})" for _, (cname, cid) in labelled)


def open_docker(cp: DockerCheckpoint, name: str, layout: str) -> DirectorySource:
    warnings: list[str] = []
    images = scan_images(cp.checkpoint_dir, warnings)
    meta = dir_meta(cp.checkpoint_dir, images, kind=DOCKER, layout=layout, warnings=warnings)
    meta.engine = "docker"
    wrappers: dict[str, Blob] = {}
    if cp.container_dir is not None:
        meta.docker_root = cp.container_dir.parent.parent   # <root>/containers/<id>
        config = container_config(cp.container_dir, warnings)
        if config is not None:
            engines.fill_from_docker(meta, config)
        else:
            meta.container_id = cp.container_dir.name
            warnings.append(f"{cp.container_dir / CONFIG} is missing; the container's name and image are unknown")
        for w in WRAPPERS:
            p = cp.container_dir / w
            if p.is_file() and not p.is_symlink():
                wrappers[w] = MappedFile(p, os.stat(p).st_size)
    return DirectorySource(name, cp.checkpoint_dir, meta, images, wrappers)
