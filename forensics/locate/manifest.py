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
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _archive_members(path: Path) -> list[ManifestEntry]:
    """SHA-256 of every member of a (gzip, xz, bzip2 or zstd) tar archive, read as a stream."""
    out: list[ManifestEntry] = []
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        stream: Any = fh
        if head == b"\x28\xb5\x2f\xfd":
            import zstandard
            stream = zstandard.ZstdDecompressor().stream_reader(fh)
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                name = f"{path.name}:{member.name}"
                if not member.isfile():
                    out.append(ManifestEntry(name, None, None, member.mtime, f"tar {member.type!r} entry"))
                    continue
                data = tar.extractfile(member)
                digest = hashlib.sha256()
                if data is not None:
                    while chunk := data.read(1 << 20):
                        digest.update(chunk)
                out.append(ManifestEntry(name, member.size, digest.hexdigest(), member.mtime))
    return out


def _file_entry(path: Path, name: str) -> ManifestEntry:
    try:
        st = path.lstat()
        if path.is_symlink():
            return ManifestEntry(name, None, None, st.st_mtime, f"symlink to {os.readlink(path)} (not followed)")
        return ManifestEntry(name, st.st_size, sha256_file(path), st.st_mtime)
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
        except (OSError, tarfile.TarError, EOFError, ImportError) as e:
            out.append(ManifestEntry(f"{archive.name}:*", None, None, None, f"members not listed: {e}"))
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
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
