"""CRIU image directories on disk, and their `parent` chains (incremental dumps).

The images are the regular files directly in the directory; they are opened O_RDONLY|O_NOFOLLOW and mapped
read-only when first read. A symlink in an image directory is never followed, except `parent`.

`parent` (made by `criu dump --prev-images-dir`, relative to the images directory, absolute with a CRIU
warning) is resolved the way CRIU's openat would (`os.path.realpath`), but before anything there is opened:
- a link whose target does not exist, or is not a CRIU image directory (no inventory.img): warning, no parent;
- a target outside the directory that contains this checkpoint (the images directory's own parent): still
  followed when it is a real image directory, with a warning, since CRIU allows it but an analyst must know
  the chain reaches elsewhere;
- a target already in the chain (same device and inode): warning, the chain stops (a loop).
The warnings go on the source that holds the link.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from forensics.locate import engines
from forensics.locate.members import PARENT_LINK
from forensics.locate.source import CRIU_DIR, CheckpointMeta, Sizes, Source, image_sizes
from forensics.locate.views import Blob, MappedFile

INVENTORY = "inventory.img"


def is_image_dir(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path / INVENTORY, follow_symlinks=False).st_mode)
    except OSError:
        return False


def scan_images(images_dir: Path, warnings: list[str]) -> dict[str, Blob]:
    """The regular files directly in `images_dir`; other entries are noted in `warnings`."""
    images: dict[str, Blob] = {}
    with os.scandir(images_dir) as it:
        for e in it:
            if e.is_symlink():
                if e.name != PARENT_LINK:
                    warnings.append(f"symlink {e.name!r} -> {os.readlink(e.path)!r} skipped: links are never followed")
            elif e.is_file(follow_symlinks=False):
                images[e.name] = MappedFile(Path(e.path), e.stat(follow_symlinks=False).st_size)
            elif not e.is_dir(follow_symlinks=False):
                warnings.append(f"{e.name!r} is not a regular file (fifo, socket or device); skipped")
    return images


def scan_wrappers(root: Path, skip: set[Path], warnings: list[str], limit: int = 10_000) -> dict[str, Blob]:
    """Regular files under `root` (an unpacked container checkpoint) outside the image directories."""
    out: dict[str, Blob] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if here / d not in skip)
        for f in sorted(filenames):
            p = here / f
            try:
                st = os.stat(p, follow_symlinks=False)
            except OSError:
                continue
            rel = p.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                warnings.append(f"symlink {rel!r} skipped: links are never followed")
            elif stat.S_ISREG(st.st_mode):
                out[rel] = MappedFile(p, st.st_size)
                if len(out) >= limit:
                    warnings.append(f"more than {limit} wrapper files under {root}; the rest are not listed")
                    return out
    return out


def dir_meta(images_dir: Path, images: dict[str, Blob], *, kind: str = CRIU_DIR, layout: str = "criu-dir",
             warnings: list[str] | None = None) -> CheckpointMeta:
    meta = CheckpointMeta(path=images_dir, kind=kind, layout=layout, checkpoint_name=images_dir.name,
                          warnings=warnings if warnings is not None else [])
    total, pages = image_sizes(images)
    meta.sizes = Sizes(images=total, pages=pages)
    try:
        meta.checkpoint_time = engines.file_mtime(os.stat(images_dir / INVENTORY).st_mtime, INVENTORY)
    except OSError:
        pass
    return meta


class DirectorySource(Source):
    """A CRIU image directory on disk (bare, Docker's, or the checkpoint/ of an unpacked container)."""

    def __init__(self, name: str, images_dir: Path, meta: CheckpointMeta, images: dict[str, Blob],
                 wrappers: dict[str, Blob] | None = None, *, visited: frozenset[tuple[int, int]] = frozenset()) -> None:
        super().__init__(name, meta, images, wrappers or {})
        self.images_dir = images_dir
        st = os.stat(images_dir)
        self._visited = visited | {(st.st_dev, st.st_ino)}
        self._parent: Source | None = None
        self._parent_done = False

    def parent(self) -> Source | None:
        if not self._parent_done:
            self._parent_done = True
            self._parent = self._open_parent()
        return self._parent

    def _open_parent(self) -> Source | None:
        link = self.images_dir / PARENT_LINK
        if not os.path.lexists(link):
            return None
        shown = os.readlink(link) if os.path.islink(link) else str(link)
        target = Path(os.path.realpath(link))
        if not target.is_dir():
            self.warnings.append(f"parent link -> {shown!r} is missing (no directory at {target})")
            return None
        if not is_image_dir(target):
            self.warnings.append(f"parent link -> {shown!r}: {target} is not a CRIU image directory "
                                 "(no inventory.img)")
            return None
        st = os.stat(target)
        if (st.st_dev, st.st_ino) in self._visited:
            self.warnings.append(f"parent link -> {shown!r} makes a loop ({target} is already in the chain); "
                                 "the chain stops here")
            return None
        containing = Path(os.path.realpath(self.images_dir)).parent
        if not target.is_relative_to(containing):
            self.warnings.append(f"parent link -> {shown!r} points outside {containing}, to {target}; followed")
        warnings: list[str] = []
        images = scan_images(target, warnings)
        meta = dir_meta(target, images, warnings=warnings)
        return DirectorySource(str(target), target, meta, images, visited=self._visited)

    def _release(self) -> None:
        if self._parent is not None:
            self._parent.close()
