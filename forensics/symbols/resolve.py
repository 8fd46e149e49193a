"""Where the binaries a checkpoint mapped are on this machine.

A path from the checkpoint (as the container saw it) is looked up in each given root (an unpacked image,
a Docker overlay2 layer stack) and in explicit PATH=FILE pairs. The lookup resolves symlinks inside the
root, never out of it: a hostile image's `/usr/lib/x -> /etc/shadow` stays inside the root or fails.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path

from typing import TYPE_CHECKING

from forensics.errors import ForensicsError

if TYPE_CHECKING:
    from forensics.locate.scratch import ScratchDir

MAX_LINKS = 40


WHITEOUT = object()


def _inside(root: Path, path: str) -> Path | None | object:
    """`path` (absolute, as seen in the container) under `root`, following links as the container would;
    WHITEOUT when an overlay layer deleted it (a 0:0 character device stands in its place)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current = root
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink():
            links += 1
            if links > MAX_LINKS:
                return None
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            current = root if target.startswith("/") else current
            continue
        if _is_whiteout(candidate):
            return WHITEOUT
        current = candidate
    return current if current.is_file() else None


def _is_whiteout(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


class WrittenFiles:
    """Regular files of a container archive's rootfs-diff.tar (what the container wrote or replaced),
    extracted one at a time, only when asked for, into the tool's own scratch directory; a file written
    by the container hides the image's file of that path."""

    def __init__(self, tar_bytes: memoryview) -> None:
        self.data = tar_bytes
        self._index: dict[str, tarfile.TarInfo] | None = None
        self._scratch: ScratchDir | None = None
        self._done: dict[str, Path] = {}

    def _members(self) -> dict[str, tarfile.TarInfo]:
        if self._index is None:
            self._index = {}
            try:
                with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:") as tar:
                    for m in tar.getmembers():
                        if m.isfile():
                            self._index["/" + m.name.lstrip("./").lstrip("/")] = m
            except (tarfile.TarError, OSError):
                pass
        return self._index

    def get(self, path: str) -> Path | None:
        if path in self._done:
            return self._done[path]
        m = self._members().get(path)
        if m is None or m.offset_data + m.size > len(self.data):
            return None
        from forensics.locate.scratch import ScratchDir

        if self._scratch is None:
            self._scratch = ScratchDir()
        local = self._scratch.path / f"{len(self._done)}-{Path(path).name}"
        local.write_bytes(self.data[m.offset_data:m.offset_data + m.size])
        self._done[path] = local
        return local


class BinaryResolver:
    """Callable `container path -> local file`, over roots and explicit pairs; remembers what it missed."""

    def __init__(self, roots: Iterable[Path] = (), binaries: dict[str, Path] | None = None,
                 written: WrittenFiles | None = None) -> None:
        self.roots = [Path(r) for r in roots]
        self.binaries = {k: Path(v) for k, v in (binaries or {}).items()}
        self.written = written
        self.missing: set[str] = set()

    @classmethod
    def from_options(cls, roots: list[Path] | None, pairs: list[str] | None) -> BinaryResolver:
        binaries = {}
        for pair in pairs or []:
            inner, sep, local = pair.partition("=")
            if not sep or not inner.startswith("/"):
                raise ForensicsError(f"--binary takes /PATH/IN/CONTAINER=LOCAL_FILE, not {pair!r}")
            binaries[inner] = Path(local)
        return cls(roots or [], binaries)

    def __call__(self, path: str) -> Path | None:
        if path in self.binaries:
            return self.binaries[path]
        if self.written is not None:
            found_written = self.written.get(path)
            if found_written is not None:
                return found_written
        for root in self.roots:
            found = _inside(root, path)
            if found is WHITEOUT:
                break  # deleted in an upper layer: what the lower layers hold is not what ran
            if isinstance(found, Path):
                return found
        self.missing.add(path)
        return None

    @property
    def empty(self) -> bool:
        return not self.roots and not self.binaries and self.written is None


def docker_layers(docker_root: Path, container_id: str) -> list[Path]:
    """The container's filesystem as overlay2 stores it, upper layer first: its own writable layer, then
    the image's layers in the order overlayfs stacks them. Empty when the layers are not there (a copy of
    the checkpoint without the data root, another storage driver)."""
    try:
        mount_id = (docker_root / "image" / "overlay2" / "layerdb" / "mounts" / container_id / "mount-id").read_text().strip()
    except OSError:
        return []
    base = docker_root / "overlay2"
    if not mount_id or "/" in mount_id:
        return []
    layers = [base / mount_id / "diff"]
    try:
        lower = (base / mount_id / "lower").read_text().strip()
    except OSError:
        lower = ""
    for short in filter(None, lower.split(":")):
        link = base / short
        try:
            target = (link.parent / os.readlink(link)).resolve()
        except OSError:
            continue
        if target.is_relative_to(base.resolve()):
            layers.append(target)
    return [p for p in layers if p.is_dir()]


def resolver_for(ck, roots: list[Path] | None, pairs: list[str] | None) -> BinaryResolver:  # noqa: ANN001
    """--rootfs/--binary (an image root), the files a container archive's rootfs-diff.tar holds (they win
    over the image's), and for a checkpoint found in a Docker data root, the container's own layers."""
    resolver = BinaryResolver.from_options(roots, pairs)
    source = getattr(ck, "source", None)
    if source is not None and "rootfs-diff.tar" in source.wrapper_files():
        resolver.written = WrittenFiles(source.read_wrapper("rootfs-diff.tar"))
    info = ck.info
    if info.meta.docker_root is not None and info.container_id:
        resolver.roots.extend(docker_layers(info.meta.docker_root, info.container_id))
    return resolver
