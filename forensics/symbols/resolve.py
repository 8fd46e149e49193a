"""Where the binaries a checkpoint mapped are on this machine.

A path from the checkpoint (as the container saw it) is looked up in each given root (an unpacked image,
a Docker overlay2 layer stack) and in explicit PATH=FILE pairs. The lookup resolves symlinks inside the
root, never out of it: a hostile image's `/usr/lib/x -> /etc/shadow` stays inside the root or fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from forensics.errors import ForensicsError

MAX_LINKS = 40


def _inside(root: Path, path: str) -> Path | None:
    """`path` (absolute, as seen in the container) under `root`, following links as the container would."""
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
        current = candidate
    return current if current.is_file() else None


class BinaryResolver:
    """Callable `container path -> local file`, over roots and explicit pairs; remembers what it missed."""

    def __init__(self, roots: Iterable[Path] = (), binaries: dict[str, Path] | None = None) -> None:
        self.roots = [Path(r) for r in roots]
        self.binaries = {k: Path(v) for k, v in (binaries or {}).items()}
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
        for root in self.roots:
            found = _inside(root, path)
            if found is not None:
                return found
        self.missing.add(path)
        return None

    @property
    def empty(self) -> bool:
        return not self.roots and not self.binaries
