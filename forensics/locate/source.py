"""The uniform read-only view of one checkpoint, whatever form the user named it in.

A `Source` answers two questions: which CRIU image files are there, and what are their bytes. Bytes come
back as read-only memoryviews of memory maps (never copies); `path_of` gives a real file when one exists
(CRIU directories, and members spilled from a compressed archive) for tools that need a path. The
runtime's own files around the images (Docker's config.v2.json, Podman's config.dump, rootfs-diff.tar...)
are the "wrapper" files. What the runtime says about the container is in `meta`.

Sources are made by `forensics.locate.resolve.open_checkpoint`; use them as context managers.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from forensics.errors import ForensicsError, NotACheckpoint
from forensics.locate.views import Blob
from forensics.meta import CheckpointMeta as CheckpointMeta  # re-exported: locate callers name it here
from forensics.meta import Sizes as Sizes

# Source.kind values.
CRIU_DIR = "criu-dir"                        # a bare CRIU image directory (also a pre-dump directory)
DOCKER = "docker"                            # a Docker checkpoint (data root layout or --checkpoint-dir)
CONTAINER_DIR = "container-dir"              # an unpacked Podman/CRI-O checkpoint (checkpoint/ + config.dump)
PODMAN_ARCHIVE = "podman-archive"
CRIO_ARCHIVE = "crio-archive"
CONTAINERD_ARCHIVE = "containerd-archive"
TAR = "tar"                                  # an archive with CRIU images and no engine metadata


class NoSuchMember(ForensicsError):
    """A name that the checkpoint does not hold."""


class AmbiguousCheckpoint(NotACheckpoint):
    """A name that fits several checkpoints; the message lists them."""


class Source(ABC):
    """One checkpoint's images and wrapper files, read-only.

    name: what the user gave; kind: one of the kind constants above; meta: CheckpointMeta;
    warnings: what was skipped or looked wrong while opening (the same list as meta.warnings).
    """

    def __init__(self, name: str, meta: CheckpointMeta, images: Mapping[str, Blob],
                 wrappers: Mapping[str, Blob]) -> None:
        self.name = name
        self.meta = meta
        self.warnings: list[str] = meta.warnings
        self._images = dict(images)
        self._wrappers = dict(wrappers)
        self._closed = False
        # The parent checkpoint once looked for (subclasses follow `parent` links; use_parent sets it).
        self._parent: Source | None = None
        self._parent_done = False

    @property
    def kind(self) -> str:
        return self.meta.kind

    # ---- CRIU images
    def list(self) -> list[str]:
        """The file names in the CRIU images directory, sorted (regular files only; `parent` excluded)."""
        return sorted(self._images)

    def exists(self, name: str) -> bool:
        return name in self._images

    def size(self, name: str) -> int:
        return self._image(name).size

    def read(self, name: str) -> memoryview:
        """The bytes of image `name`: a read-only window of a memory map, not a copy."""
        return self._image(name).view()

    def path_of(self, name: str) -> Path | None:
        """A real file holding image `name`, or None (members of an archive read in place have none)."""
        return self._image(name).path

    # ---- the runtime's files around the images
    def wrapper_files(self) -> builtins.list[str]:
        """Names of the non-CRIU files (archive paths such as "config.dump", "volumes/x.tar"), sorted."""
        return sorted(self._wrappers)

    def read_wrapper(self, name: str) -> memoryview:
        blob = self._wrappers.get(name)
        if blob is None:
            raise NoSuchMember(f"no wrapper file {name!r}", self.meta.path)
        return blob.view()

    # ---- incremental dumps
    @abstractmethod
    def parent(self) -> Source | None:
        """The checkpoint the `parent` link points at, or None (no link, or one that could not be followed:
        the reason is in `warnings`)."""

    def use_parent(self, parent: Source) -> None:
        """Take `parent` as the parent instead of following the `parent` link: for a parent that lives
        where the link cannot reach (a Podman --with-previous export's link points at a directory of the
        --pre-checkpoint export, another archive). It is closed with this source."""
        if self._parent is not None:
            self._parent.close()
        self._parent, self._parent_done = parent, True

    def chain(self) -> builtins.list[Source]:
        """This checkpoint followed by its parents, newest first. Each link's problems (missing target,
        outside the containing directory, a loop) are in the warnings of the source holding the link."""
        out: builtins.list[Source] = [self]
        while (p := out[-1].parent()) is not None and len(out) < MAX_CHAIN:
            out.append(p)
        return out

    # ---- lifetime
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for blob in [*self._images.values(), *self._wrappers.values()]:
            blob.close()
        self._release()

    def _release(self) -> None:  # noqa: B027 - an optional hook: most sources own nothing more
        """Free what the subclass owns (parent sources, the archive map, the scratch directory)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.name!r}: {len(self._images)} images>"

    def _image(self, name: str) -> Blob:
        blob = self._images.get(name)
        if blob is None:
            raise NoSuchMember(f"no image {name!r}", self.meta.path)
        return blob


MAX_CHAIN = 256


def image_sizes(images: Mapping[str, Blob]) -> tuple[int, int]:
    """(all images, pages-*.img) byte totals."""
    total = sum(b.size for b in images.values())
    pages = sum(b.size for n, b in images.items() if n.startswith("pages-") and n.endswith(".img"))
    return total, pages
