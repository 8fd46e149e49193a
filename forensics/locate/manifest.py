"""The evidence manifest: every file a checkpoint was read from, with its size, SHA-256 and mtime.

It belongs to locate because locate knows where a checkpoint's files are (an archive and its members, an
image directory, Docker's config beside it). Reading only: files are hashed as streams, links are named and
never followed.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forensics.errors import ArchiveError, ForensicsError
from forensics.locate.compression import SNIFF_BYTES, GuardedReader, Limits, sniff
from forensics.locate.engines import valid_timestamp
from forensics.locate.members import MAX_DEPTH, SafeTarInfo, forget_headers
from forensics.locate.views import open_evidence


@dataclass(slots=True)
class ManifestEntry:
    """One file read as evidence: its name (relative to the checkpoint, or `archive:member`), size, SHA-256
    and modification time; `note` for symlinks (not followed) and unreadable files."""

    name: str
    size: int | None
    sha256: str | None
    mtime: float | None = None
    note: str | None = None


def sha256_file(path: Path) -> str:
    with open_evidence(path) as fh:    # a fifo or a /proc file beside the images is refused, not read
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _archive_members(path: Path) -> list[ManifestEntry]:
    """SHA-256 of every member of a (plain, gzip, xz, bzip2 or zstd) tar archive, read as a stream under
    the archive limits (a bomb stops the listing with a note, it is not hashed to the end)."""
    out: list[ManifestEntry] = []
    limits = Limits()
    with open_evidence(path, follow=True) as fh:
        compression = sniff(fh.read(SNIFF_BYTES)) or "none"
        fh.seek(0)
        stream: Any = fh if compression == "none" else GuardedReader(fh, compression, path, limits)
        try:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=SafeTarInfo) as tar:
                for member in tar:
                    forget_headers(tar)
                    if len(out) >= limits.max_members:
                        raise ArchiveError(f"more than {limits.max_members} members; the rest are not hashed", path)
                    name = f"{path.name}:{member.name}"
                    if not member.isfile():
                        out.append(ManifestEntry(name, None, None, valid_timestamp(member.mtime),
                                                 f"tar {member.type!r} entry"))
                        continue
                    data = tar.extractfile(member)
                    digest = hashlib.sha256()
                    if data is not None:
                        while chunk := data.read(1 << 20):
                            digest.update(chunk)
                    out.append(ManifestEntry(name, member.size, digest.hexdigest(), valid_timestamp(member.mtime)))
        except ArchiveError as e:
            out.append(ManifestEntry(f"{path.name}:*", None, None, None, f"members after these not hashed: {e.message}"))
    return out


def _file_entry(path: Path, name: str) -> ManifestEntry:
    try:
        st = path.lstat()
        if path.is_symlink():
            return ManifestEntry(name, None, None, st.st_mtime, f"symlink to {os.readlink(path)} (not followed)")
        return ManifestEntry(name, st.st_size, sha256_file(path), st.st_mtime)
    except ForensicsError as e:
        return ManifestEntry(name, None, None, None, f"not hashed: {e.message}")
    except OSError as e:
        return ManifestEntry(name, None, None, None, f"unreadable: {e.strerror}")


def manifest(target: str | Path, path: str | Path) -> list[ManifestEntry]:
    """Every file a checkpoint was read from, hashed: the archive and its members when the input was an
    archive; else every file of the image directory, the Docker container's config beside it, and the
    `<name>.dump.log` CRIU's version is read from. `target` is what the user gave, `path` where the
    images were found (CheckpointMeta.path)."""
    given, root = Path(target), Path(path)
    archive = given if given.is_file() else root if root.is_file() else None
    out: list[ManifestEntry] = []
    if archive is not None:
        out.append(_file_entry(archive, archive.name))
        try:
            out.extend(_archive_members(archive))
        except (OSError, tarfile.TarError, EOFError, ImportError, ForensicsError) as e:
            out.append(ManifestEntry(f"{archive.name}:*", None, None, None, f"members not listed: {e}"))
    if root.is_dir():
        base = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            if len(Path(dirpath).parts) - base >= MAX_DEPTH and dirnames:
                # os.walk recurses per level: a hostile tree thousands deep is not followed down.
                out.append(ManifestEntry(str(Path(dirpath).relative_to(root)) + "/*", None, None, None,
                                         f"more than {MAX_DEPTH} levels deep; not hashed"))
                dirnames.clear()
            for fn in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
                p = Path(dirpath) / fn
                out.append(_file_entry(p, str(p.relative_to(root))))
        extra = [root.parent / f"{root.name}.dump.log"]
        if root.parent.name == "checkpoints":
            extra += [root.parent.parent / "config.v2.json", root.parent.parent / "hostconfig.json"]
        for p in extra:
            if p.is_file():
                out.append(_file_entry(p, os.path.relpath(p, root)))
    return out
