"""locate: from what the user names (a CRIU directory, a Docker checkpoint, an archive) to a read-only Source.

    open_checkpoint(target, docker_root=, container=, limits=) -> Source     (resolve.py)
    find_checkpoints(roots) -> Iterator[CheckpointMeta]                     (listing.py)
    rootfs_diff(source) / list_rootfs_diff(bytes) -> RootfsDiff             (rootfs_diff.py)

Nothing here writes into the inputs; compressed archives spill into the tool's own scratch directory only.
"""

from forensics.locate.compression import Limits
from forensics.locate.listing import find_checkpoints
from forensics.locate.resolve import open_checkpoint
from forensics.locate.rootfs_diff import RootfsDiff, RootfsEntry, list_rootfs_diff, rootfs_diff
from forensics.locate.source import AmbiguousCheckpoint, CheckpointMeta, NoSuchMember, Sizes, Source

__all__ = [
    "AmbiguousCheckpoint", "CheckpointMeta", "Limits", "NoSuchMember", "RootfsDiff", "RootfsEntry", "Sizes",
    "Source", "find_checkpoints", "list_rootfs_diff", "open_checkpoint", "rootfs_diff",
]
