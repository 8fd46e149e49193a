"""What is known about one checkpoint without decoding its images: where it is, what made it, and when.

A leaf module: forensics.locate fills it in while opening an input, forensics.model keeps it as the
checkpoint's metadata (`CheckpointInfo.meta`), and every output shows it. One class, so a field parsed
from an archive (a Kubernetes pod name, the runtime) cannot be dropped on the way to the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from forensics.records import Timestamp


@dataclass(slots=True)
class Sizes:
    """Byte counts; None where a listing did not read far enough to know."""

    images: int | None = None        # all files in the CRIU images directory
    pages: int | None = None         # the pages-*.img among them
    rootfs_diff: int | None = None   # rootfs-diff.tar, for container archives that have one
    archive: int | None = None       # the archive file itself (compressed size for compressed archives)


@dataclass(slots=True)
class CheckpointMeta:
    """What is known about one checkpoint without decoding its images.

    layout: how the input is laid out: "criu-dir", "docker-root" (containers/<id>/checkpoints/<name>),
        "docker-checkpoint-dir" (<dir>/<name>, Docker's --checkpoint-dir), "container-dir",
        "container-archive" (checkpoint/ + config.dump...), "criu-tar" (a tar of a bare image directory).
    engine: "docker", "podman", "cri-o", "containerd" or None (plain CRIU, runc, unknown).
    compression: for archives "none", "gzip", "zstd", "bzip2" or "xz"; None for directories.
    created / checkpoint_time: Timestamps that say where they were read (forensics.records.TimeSource):
        the engine's metadata when it says, else the mtime of inventory.img in the archive header, else its
        mtime on disk, which any copy of the evidence resets and is labelled so everywhere it is shown.
    """

    path: Path
    kind: str
    layout: str
    engine: str | None = None
    compression: str | None = None
    container_id: str | None = None
    container_name: str | None = None
    image: str | None = None
    runtime: str | None = None
    pod: str | None = None
    namespace: str | None = None
    created: Timestamp | None = None
    checkpoint_name: str | None = None
    checkpoint_time: Timestamp | None = None
    sizes: Sizes = field(default_factory=Sizes)
    docker_root: Path | None = None     # the Docker data root a "docker-root" checkpoint lives under
    warnings: list[str] = field(default_factory=list)
