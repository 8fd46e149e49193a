"""Finding checkpoints on a machine, cheaply, for `forensics ls`.

Roots are walked (symlinks not followed, `max_depth` levels) for:
- Docker data roots (a `containers/` directory): every containers/<id>/checkpoints/<name>/;
- CRIU image directories (inventory.img) and unpacked container checkpoints (checkpoint/inventory.img);
- checkpoint archives, recognised by their first bytes. An uncompressed tar has its headers indexed in place
  (no data read but the small JSON wrappers). A compressed one is streamed only until its metadata and
  first images have gone by, or `Limits.list_budget` decompressed bytes; nothing is written anywhere, and
  its image sizes are None unless the whole stream was read.
Nothing is yielded for files and directories that are not checkpoints; a checkpoint that cannot be read
fully is yielded with the reason in its `warnings`.

Archives named the way kubelet names them (`parse_kubelet_name`) add the pod, namespace and container of the
name where the archive's own metadata is silent; where both speak and disagree, the metadata is kept
and the disagreement is a warning.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from forensics.errors import ForensicsError
from forensics.locate import engines
from forensics.locate.archive import (
    CHECKPOINT_DIR,
    archive_meta,
    build_meta,
    choose_images_dir,
    index_in_place,
    open_tar,
    sniff_file,
)
from forensics.locate.compression import DEFAULT_LIMITS, READ_ERRORS, GuardedReader, Limits
from forensics.locate.docker import (
    DEFAULT_DOCKER_ROOT,
    DockerCheckpoint,
    is_docker_root,
    iter_checkpoints,
    open_docker,
)
from forensics.locate.members import forget_headers, normalize
from forensics.locate.resolve import open_directory
from forensics.locate.source import CheckpointMeta
from forensics.locate.views import open_regular

KUBELET_CHECKPOINTS = Path("/var/lib/kubelet/checkpoints")
DEFAULT_ROOTS = (DEFAULT_DOCKER_ROOT, KUBELET_CHECKPOINTS)
_WANTED_JSON = ("config.dump", "spec.dump")
_ALSO_READ = ("status.dump",)   # containerd's; read when it goes by, never waited for
_GIVE_UP_AFTER = 64   # members with no sign of a checkpoint before a compressed archive is passed over


def find_checkpoints(roots: list[Path] | None = None, *, max_depth: int = 6,
                     limits: Limits | None = None) -> Iterator[CheckpointMeta]:
    """The checkpoints under `roots` (default: /var/lib/docker and /var/lib/kubelet/checkpoints)."""
    limits = limits or DEFAULT_LIMITS
    for root in (roots if roots is not None else list(DEFAULT_ROOTS)):
        if root.is_file():
            meta = archive_listing(root, limits)
            if meta is not None:
                yield meta
        elif root.is_dir():
            yield from _walk(root, max_depth, limits)


def _walk(root: Path, max_depth: int, limits: Limits) -> Iterator[CheckpointMeta]:
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames.sort()
        if len(here.parts) - base >= max_depth:
            dirnames.clear()
        if is_docker_root(here):
            # Only containers/ holds checkpoints; the image layers next to it are not walked.
            dirnames.clear()
            for cp in iter_checkpoints(here):
                yield _dir_listing(cp.checkpoint_dir, cp)
            continue
        if (here / "inventory.img").is_file() or (here / CHECKPOINT_DIR / "inventory.img").is_file():
            yield _dir_listing(here, None)
            dirnames.clear()
            continue
        for f in sorted(filenames):
            p = here / f
            if p.is_symlink() or not p.is_file():
                continue
            meta = archive_listing(p, limits)
            if meta is not None:
                yield meta


def _dir_listing(path: Path, cp: DockerCheckpoint | None) -> CheckpointMeta:
    try:
        src = open_docker(cp, cp.name, "docker-root") if cp is not None else open_directory(path, str(path))
    except ForensicsError as exc:
        return CheckpointMeta(path=path, kind="criu-dir", layout="criu-dir", warnings=[str(exc)])
    with src:
        return src.meta


# kubelet's CheckpointContainer location (pkg/kubelet/kubelet.go):
#   checkpoint-<pod>_<namespace>-<container>-<time.Now().Format(time.RFC3339)>.tar
# A pod name is a DNS subdomain and never holds "_", so the first "_" ends it; namespace and container names
# are DNS labels that may both hold "-", so "<namespace>-<container>" splits only when one side is known.
_KUBELET_NAME = re.compile(
    r"checkpoint-(?P<pod>[a-z0-9][a-z0-9.-]*)_(?P<rest>[a-z0-9][a-z0-9-]*)-"
    r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\.tar(?:\.[a-z0-9]+)?")


@dataclass(frozen=True, slots=True)
class KubeletName:
    """What a kubelet checkpoint file name says. namespace and container are None when the name alone cannot
    tell where one ends and the other begins (both hold "-" and nothing else says which)."""

    pod: str
    namespace: str | None
    container: str | None
    time: datetime
    namespace_and_container: str


def parse_kubelet_name(name: str, namespace: str | None = None, container: str | None = None
                       ) -> KubeletName | None:
    """kubelet's file name split into its parts, or None for any other name. `namespace` or `container`
    (from the archive's metadata) settle the split of "<namespace>-<container>" when both hold "-"."""
    m = _KUBELET_NAME.fullmatch(name)
    if m is None:
        return None
    when = engines.parse_time(m["time"])
    if when is None:
        return None
    rest = m["rest"]
    ns: str | None = None
    ctr: str | None = None
    if namespace and rest.startswith(namespace + "-") and len(rest) > len(namespace) + 1:
        ns, ctr = namespace, rest[len(namespace) + 1:]
    elif container and rest.endswith("-" + container) and len(rest) > len(container) + 1:
        ns, ctr = rest[:-len(container) - 1], container
    elif rest.count("-") == 1:
        ns, ctr = rest.split("-")
    return KubeletName(m["pod"], ns, ctr, when, rest)


def apply_kubelet_name(meta: CheckpointMeta) -> None:
    """Fill the pod, namespace and container the archive's metadata left unsaid from kubelet's file name;
    warn where they disagree. The name's time is not used: it has whole seconds only, and an archive
    always has a better one (its engine's metadata, or its members' mtimes)."""
    k = parse_kubelet_name(meta.path.name, meta.namespace, meta.container_name)
    if k is None:
        return
    for attr, said in (("pod", k.pod), ("namespace", k.namespace), ("container_name", k.container)):
        have = getattr(meta, attr)
        if have is None:
            setattr(meta, attr, said)
        elif said is not None and said != have:
            meta.warnings.append(f"the file name says {attr.replace('_name', '')} {said!r}, the archive's "
                                 f"metadata says {have!r}")
    if k.namespace is None and meta.namespace is None:
        meta.warnings.append(f"the file name's {k.namespace_and_container!r} is namespace and container "
                             "joined by '-'; which '-' splits them is not said")


def archive_listing(path: Path, limits: Limits | None = None) -> CheckpointMeta | None:
    """Meta of one archive, or None if it is no checkpoint archive."""
    meta = _archive_listing(path, limits)
    if meta is not None:
        apply_kubelet_name(meta)
    return meta


def _archive_listing(path: Path, limits: Limits | None = None) -> CheckpointMeta | None:
    limits = limits or DEFAULT_LIMITS
    try:
        compression = sniff_file(path)
    except OSError:
        return None
    if compression is None:
        return None
    if compression == "none":
        try:
            index = index_in_place(path, limits)
        except ForensicsError:
            return None
        try:
            images_dir = choose_images_dir(index)
        except ForensicsError:
            index.close()
            return None
        try:
            meta = archive_meta(index, images_dir, limits)
            meta.warnings[:0] = index.warnings
            return meta
        finally:
            index.close()
    return _peek_compressed(path, compression, limits)


def _peek_compressed(path: Path, compression: str, limits: Limits) -> CheckpointMeta | None:
    sizes: dict[str, int] = {}
    mtimes: dict[str, float] = {}
    contents: dict[str, bytes] = {}
    complete = False
    warning: str | None = None
    try:
        fd, _ = open_regular(path, follow=True)
    except ForensicsError:
        return None
    with os.fdopen(fd, "rb") as raw:
        guard = GuardedReader(raw, compression, path, limits, budget=limits.list_budget)
        try:
            with open_tar(guard, compression, path) as tar:
                complete = _read_headers(tar, sizes, mtimes, contents, limits)
        except ForensicsError:   # not a tar, or the listing budget was spent
            if not sizes:
                return None
            if not complete:
                warning = f"listing read only the first {guard.produced} decompressed bytes"
        except READ_ERRORS as exc:
            if not sizes:
                return None
            warning = f"archive damaged after {guard.produced} decompressed bytes ({exc})"
    if not _looks_like_checkpoint(sizes):
        return None
    images_dir = _images_dir_of(sizes)
    meta = build_meta(path, compression, sizes, mtimes, contents.get, images_dir, complete=complete, limits=limits)
    if warning:
        meta.warnings.append(warning)
    return meta


def _read_headers(tar: tarfile.TarFile, sizes: dict[str, int], mtimes: dict[str, float],
                  contents: dict[str, bytes], limits: Limits) -> bool:
    """Headers (and the small JSON wrappers) until the metadata and the inventory have gone by; True if the
    whole archive was read."""
    while True:
        ti = tar.next()
        if ti is None:
            return True
        forget_headers(tar)
        name = normalize(ti.name)
        if name is None or not ti.isreg():
            continue
        sizes[name] = ti.size
        mtimes[name] = ti.mtime
        if name in (*_WANTED_JSON, *_ALSO_READ) and ti.size <= limits.max_meta_bytes:
            f = tar.extractfile(ti)
            if f is not None:
                contents[name] = f.read()
        if _seen_enough(sizes) or (len(sizes) >= _GIVE_UP_AFTER and not _looks_like_checkpoint(sizes)):
            return False


def _images_dir_of(sizes: dict[str, int]) -> str | None:
    dirs = sorted({posixpath.dirname(n) for n in sizes if posixpath.basename(n) == "inventory.img"})
    if CHECKPOINT_DIR in dirs:
        return CHECKPOINT_DIR
    return dirs[0] if len(dirs) == 1 else (CHECKPOINT_DIR if any(n.startswith("checkpoint/") for n in sizes)
                                           else None)


def _looks_like_checkpoint(sizes: dict[str, int]) -> bool:
    return any(posixpath.basename(n) == "inventory.img" or n.startswith(f"{CHECKPOINT_DIR}/") or n == "config.dump"
               for n in sizes)


def _seen_enough(sizes: dict[str, int]) -> bool:
    """Metadata and the images directory's inventory have gone by: the rest is images and the rootfs diff."""
    return all(j in sizes for j in _WANTED_JSON) and f"{CHECKPOINT_DIR}/inventory.img" in sizes
