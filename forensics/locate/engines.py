"""What each container engine's own files say about the checkpointed container.

| engine     | file                                     | fields used                                          |
|------------|------------------------------------------|------------------------------------------------------|
| Docker     | containers/<id>/config.v2.json           | ID, Name (leading "/" dropped), Config.Image,        |
|            |                                          | Created                                              |
| Podman     | config.dump (libpod's ContainerConfig);  | id, name, rootfsImageName, runtime, createdTime,     |
|            | spec.dump annotation                     | checkpointedTime if present                          |
|            | io.container.manager=libpod              |                                                      |
| CRI-O      | spec.dump annotations                    | io.kubernetes.cri-o.Metadata {"name"}, .ContainerID, |
|            | (io.container.manager=cri-o)             | .ImageName, .Created; io.kubernetes.pod.name,        |
|            |                                          | .namespace                                           |
| containerd | config.dump; spec.dump annotations       | io.kubernetes.cri.container-name, .image-name,       |
|            | io.kubernetes.cri.* (or a status.dump    | .sandbox-name, .sandbox-namespace                    |
|            | member)                                  |                                                      |

The engine of an archive is told as checkpointctl does (`internal/container.go: getContainerInfo`): by the
spec.dump annotation io.container.manager ("libpod" = Podman, "cri-o" = CRI-O); otherwise containerd when
its annotations or status.dump are there. Files that are missing or not JSON leave fields None and add a
warning; nothing here raises for bad metadata.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from forensics.locate.source import CheckpointMeta
from forensics.records import Timestamp, TimeSource

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as engines write it (nanoseconds, "Z"), as an aware datetime; None if absent/zero."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(r"\1", value.strip())
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def from_timestamp(seconds: float) -> datetime | None:
    """A Unix time as an aware datetime; None for values no clock produces (tar headers can hold any
    number: 1e20, negative, NaN)."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def stamp(at: datetime | None, what: str, origin: str, source: TimeSource = TimeSource.ENGINE) -> Timestamp | None:
    """A time with where it was read, or None when there is none."""
    return Timestamp(at, source, what, origin) if at is not None else None


def file_mtime(seconds: float, origin: str, source: TimeSource = TimeSource.FILE_MTIME) -> Timestamp | None:
    """The mtime of a file (on disk, or in an archive's header) as the only clue to a checkpoint's time:
    labelled as an mtime, never as the time the checkpoint was taken."""
    return stamp(from_timestamp(seconds), "file modified", origin, source)


def load_json(data: bytes | None, what: str, warnings: list[str]) -> dict[str, Any] | None:
    """A JSON object, or None with a warning when `data` is present but is not one."""
    if data is None:
        return None
    try:
        value = json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        warnings.append(f"{what} is not JSON ({exc}); its metadata is not used")
        return None
    if not isinstance(value, dict):
        warnings.append(f"{what} is not a JSON object; its metadata is not used")
        return None
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def fill_from_docker(meta: CheckpointMeta, config: dict[str, Any]) -> None:
    """Docker's config.v2.json."""
    meta.engine = "docker"
    meta.container_id = _str(config.get("ID")) or meta.container_id
    name = _str(config.get("Name"))
    meta.container_name = name.lstrip("/") if name else meta.container_name
    cfg = config.get("Config")
    if isinstance(cfg, dict):
        meta.image = _str(cfg.get("Image")) or meta.image
    meta.created = stamp(parse_time(config.get("Created")), "container created", "config.v2.json Created") \
        or meta.created


def engine_of(spec: dict[str, Any] | None, has_status_dump: bool) -> str | None:
    annotations = _annotations(spec)
    manager = annotations.get("io.container.manager")
    if manager == "libpod":
        return "podman"
    if manager == "cri-o":
        return "cri-o"
    if has_status_dump or any(k.startswith("io.kubernetes.cri.") for k in annotations):
        return "containerd"
    return None


def fill_from_container_dumps(meta: CheckpointMeta, config: dict[str, Any] | None,
                              spec: dict[str, Any] | None, has_status_dump: bool) -> None:
    """config.dump and spec.dump of a Podman, CRI-O or containerd checkpoint."""
    meta.engine = engine_of(spec, has_status_dump) or meta.engine
    if config is not None:
        meta.container_id = _str(config.get("id")) or meta.container_id
        meta.container_name = _str(config.get("name")) or meta.container_name
        meta.image = _str(config.get("rootfsImageName")) or _str(config.get("RawImageName")) or meta.image
        meta.runtime = _str(config.get("runtime")) or _str(config.get("OCIRuntime")) or meta.runtime
        meta.created = stamp(parse_time(config.get("createdTime")), "container created",
                             "config.dump createdTime") or meta.created
        meta.checkpoint_time = stamp(parse_time(config.get("checkpointedTime")), "checkpointed",
                                     "config.dump checkpointedTime") or meta.checkpoint_time
    a = _annotations(spec)
    if meta.engine == "cri-o":
        try:
            md = json.loads(a.get("io.kubernetes.cri-o.Metadata", "{}"))
        except ValueError:
            md = {}
        if isinstance(md, dict):
            meta.container_name = _str(md.get("name")) or meta.container_name
        meta.container_id = _str(a.get("io.kubernetes.cri-o.ContainerID")) or meta.container_id
        meta.image = _str(a.get("io.kubernetes.cri-o.ImageName")) or meta.image
        meta.created = stamp(parse_time(a.get("io.kubernetes.cri-o.Created")), "container created",
                             "spec.dump io.kubernetes.cri-o.Created") or meta.created
        meta.pod = _str(a.get("io.kubernetes.pod.name")) or meta.pod
        meta.namespace = _str(a.get("io.kubernetes.pod.namespace")) or meta.namespace
    elif meta.engine == "containerd":
        meta.container_name = _str(a.get("io.kubernetes.cri.container-name")) or meta.container_name
        meta.image = _str(a.get("io.kubernetes.cri.image-name")) or meta.image
        meta.pod = _str(a.get("io.kubernetes.cri.sandbox-name")) or meta.pod
        meta.namespace = _str(a.get("io.kubernetes.cri.sandbox-namespace")) or meta.namespace


def _annotations(spec: dict[str, Any] | None) -> dict[str, str]:
    a = spec.get("annotations") if spec else None
    return {k: v for k, v in a.items() if isinstance(v, str)} if isinstance(a, dict) else {}


ARCHIVE_KIND = {"podman": "podman-archive", "cri-o": "crio-archive", "containerd": "containerd-archive"}
