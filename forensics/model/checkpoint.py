"""The whole checkpoint as one record: what it is, and everything decoded from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forensics.model.mounts import Mount
from forensics.model.process import Process


@dataclass(slots=True)
class ImageStatus:
    """One file of the image set: `kind` is decoded, raw (pages, tarballs, ip dumps), unknown, or error."""

    name: str
    kind: str
    size: int
    magic: str | None = None
    entries: int = 0
    unknown_fields: int = 0
    error: str | None = None


@dataclass(slots=True)
class CheckpointInfo:
    """Where the checkpoint came from and what made it. `criu_version` comes from a dump.log when one is
    present, otherwise it is inferred from the image format (`criu_version_source` says which)."""

    path: str
    layout: str
    engine: str | None = None
    checkpoint_name: str | None = None
    container_id: str | None = None
    container_name: str | None = None
    image: str | None = None
    container_created: str | None = None
    checkpoint_time: str | None = None
    criu_version: str | None = None
    criu_version_source: str | None = None
    img_version: int | None = None
    pre_dump: bool = False
    parent: str | None = None
    total_size: int = 0
    pages_size: int = 0
    images: list[ImageStatus] = field(default_factory=list)


@dataclass(slots=True)
class TarMember:
    name: str
    size: int
    mode: int
    mtime: int | None       # None when the header's time is not a date (NaN, 1e20...)
    type: str


@dataclass(slots=True)
class TmpfsArchive:
    """A tmpfs CRIU archived with its contents (tmpfs-dev-<dev>.tar.gz.img) and where it was mounted."""

    image: str
    dev: int
    mountpoint: str | None
    members: list[TarMember] = field(default_factory=list)


@dataclass(slots=True)
class NamespaceUse:
    kind: str
    ns_id: int
    pids: list[int]


@dataclass(slots=True)
class CgroupSet:
    id: int
    controllers: dict[str, str]


@dataclass(slots=True)
class Checkpoint:
    """Everything decoded; `warnings` are problems with the evidence that did not stop decoding, `errors`
    the ones that did (with file and byte offset). `partial` is true when something could not be read."""

    info: CheckpointInfo
    processes: list[Process] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    namespaces: list[NamespaceUse] = field(default_factory=list)
    cgroups: list[CgroupSet] = field(default_factory=list)
    hostname: str | None = None
    domainname: str | None = None
    tmpfs: list[TmpfsArchive] = field(default_factory=list)
    stdio: list[str] | None = None
    wrapper: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Per-process memory readers (forensics.memory.space.AddressSpace); not part of any report.
    memory: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)
    # The input it was read from (forensics.locate Source), for wrapper files and binaries in archives.
    source: Any = field(default=None, repr=False, compare=False)
    # pid -> process, rebuilt when `processes` is replaced or changes length (renderers look a parent up
    # for every process: a scan each time is quadratic in a 100,000-process tree).
    _by_pid: dict[int, Process] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_pid_of: tuple[int, int] = field(default=(0, -1), init=False, repr=False, compare=False)

    @property
    def partial(self) -> bool:
        return bool(self.errors)

    def process(self, pid: int) -> Process | None:
        key = (id(self.processes), len(self.processes))
        if key != self._by_pid_of:
            self._by_pid = {}
            for p in self.processes:
                self._by_pid.setdefault(p.pid, p)   # the first, as the scan this replaces returned
            self._by_pid_of = key
        return self._by_pid.get(pid)
