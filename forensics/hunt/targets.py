"""Which checkpoints a hunt covers: the ones named, and the ones found under --from directories or globs.

Everything here is locate's work (forensics.locate: Docker names and data roots, CRIU directories,
Podman/CRI-O/containerd/kubelet archives, told by content): nothing is decoded, compressed archives are
only peeked at, and what locate knows about each one (engine, container, pod, namespace, time) becomes the
row's columns. A name that is no checkpoint is a target too, carrying the reason: it becomes a failed
row, so a typo is visible in the result instead of silently narrowing the hunt.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from forensics.errors import ForensicsError
from forensics.hunt.rows import Target
from forensics.locate import CheckpointMeta, find_checkpoints, open_checkpoint

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True, slots=True)
class Unusable:
    """An input that names no checkpoint, with locate's one-line reason."""

    target: Target
    error: str


def target_of(meta: CheckpointMeta) -> Target:
    """The columns of one found checkpoint; workers reopen it by its (absolute) path."""
    name = meta.container_name or meta.container_id and meta.container_id[:12]
    label = f"{name}/{meta.checkpoint_name}" if name and meta.checkpoint_name else Path(meta.path).name
    stamp = meta.checkpoint_time
    time = stamp.utc.isoformat(timespec="seconds") if stamp is not None else None
    # Absolute: a worker's working directory is not the client's. Not resolved: the path as the user's
    # mounts name it is the one the workers share.
    return Target(ref=os.path.abspath(meta.path), label=label, engine=meta.engine,
                  container=meta.container_name, pod=meta.pod, namespace=meta.namespace, time=time,
                  time_source=stamp.source.value if stamp is not None else None, pages_size=meta.sizes.pages)


def _named(text: str, docker_root: Path | None, container: str | None) -> list[Target | Unusable]:
    path = Path(text)
    if path.exists():
        found = [target_of(m) for m in find_checkpoints([path])]
        if found:
            return list(found)
    try:
        with open_checkpoint(text, docker_root=docker_root, container=container) as src:
            return [target_of(src.meta)]
    except ForensicsError as e:
        return [Unusable(Target(ref=text, label=text), str(e))]


def _from(pattern: str) -> list[Target | Unusable]:
    roots = sorted(glob.glob(pattern)) if _GLOB_CHARS & set(pattern) else [pattern]
    if not roots:
        return [Unusable(Target(ref=pattern, label=pattern), f"{pattern}: matches nothing")]
    out: list[Target | Unusable] = []
    for root in roots:
        path = Path(root)
        if not path.exists():
            out.append(Unusable(Target(ref=root, label=root), f"{root}: no such file or directory"))
            continue
        out.extend(target_of(m) for m in find_checkpoints([path]))
    return out


def expand(named: list[str], from_: list[str], docker_root: Path | None = None,
           container: str | None = None) -> list[Target | Unusable]:
    """Every target once (by path), in the order given; labels made unique."""
    out: list[Target | Unusable] = []
    seen: set[str] = set()
    for item in [*(t for n in named for t in _named(n, docker_root, container)),
                 *(t for f in from_ for t in _from(f))]:
        ref = item.target.ref if isinstance(item, Unusable) else item.ref
        if ref in seen:
            continue
        seen.add(ref)
        out.append(item)
    return _unique_labels(out)


def _unique_labels(items: list[Target | Unusable]) -> list[Target | Unusable]:
    from collections import Counter
    from dataclasses import replace

    def t(i: Target | Unusable) -> Target:
        return i.target if isinstance(i, Unusable) else i

    counts = Counter(t(i).label for i in items)
    fixed: list[Target | Unusable] = []
    for i in items:
        if counts[t(i).label] > 1:
            nt = replace(t(i), label=t(i).ref)
            i = Unusable(nt, i.error) if isinstance(i, Unusable) else nt
        fixed.append(i)
    return fixed
