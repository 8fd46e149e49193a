"""The whole checkpoint as one record: what it is, and everything decoded from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from forensics.meta import CheckpointMeta
from forensics.model.mounts import Mount
from forensics.model.process import Process
from forensics.records import Timestamp

# Only for a checkpoint with no process to read AT_PAGESZ from.
# A process's page size is the AT_PAGESZ of its saved auxv (Process.page_size); 4096 is only the fallback
# for a pid the checkpoint has no process for.
DEFAULT_PAGE_SIZE = 4096



class ImageKind(StrEnum):
    DECODED = "decoded"     # a protobuf image decoded entry by entry
    RAW = "raw"             # pages, tarballs, ip dumps: known, not protobuf
    UNKNOWN = "unknown"
    ERROR = "error"


@dataclass(slots=True)
class ImageStatus:
    """One file of the image set and what could be made of it."""

    name: str
    kind: ImageKind
    size: int
    magic: str | None = None
    entries: int = 0
    unknown_fields: int = 0
    error: str | None = None


@dataclass(slots=True)
class CheckpointInfo:
    """The checkpoint's metadata (`meta`, as the locate floor found it) and what its images say about it.
    `criu_version` comes from a log when one states it, otherwise it is inferred from the image format
    (`criu_version_source` says which). `dump_uptime` (microseconds since the dumping host booted, written
    by pre-dumps and --track-mem dumps) orders checkpoints of one boot whatever their file times."""

    meta: CheckpointMeta
    criu_version: str | None = None
    criu_version_source: str | None = None
    img_version: int | None = None
    pre_dump: bool = False
    dump_uptime: int | None = None
    parent: str | None = None
    total_size: int = 0
    pages_size: int = 0
    images: list[ImageStatus] = field(default_factory=list)

    @property
    def path(self) -> str:
        return str(self.meta.path)

    @property
    def layout(self) -> str:
        return self.meta.layout

    @property
    def engine(self) -> str | None:
        return self.meta.engine

    @property
    def checkpoint_name(self) -> str | None:
        return self.meta.checkpoint_name

    @property
    def container_id(self) -> str | None:
        return self.meta.container_id

    @property
    def container_name(self) -> str | None:
        return self.meta.container_name

    @property
    def image(self) -> str | None:
        return self.meta.image

    @property
    def pod(self) -> str | None:
        return self.meta.pod

    @property
    def namespace(self) -> str | None:
        return self.meta.namespace

    @property
    def pod_uid(self) -> str | None:
        return self.meta.pod_uid

    @property
    def image_ref(self) -> str | None:
        return self.meta.image_ref

    @property
    def runtime(self) -> str | None:
        return self.meta.runtime

    @property
    def container_created(self) -> Timestamp | None:
        return self.meta.created

    @property
    def checkpoint_time(self) -> Timestamp | None:
        return self.meta.checkpoint_time


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
class RootfsEntry:
    """One path the container wrote or changed (a member of an archive's rootfs-diff.tar)."""

    path: str
    type: str
    size: int
    mode: int
    mtime: Timestamp | None = None

    @property
    def executable(self) -> bool:
        return self.type == "file" and bool(self.mode & 0o111)


@dataclass(slots=True)
class Wrapper:
    """What an engine's archive holds besides the CRIU images: its files with sizes, what the container
    wrote (rootfs-diff.tar) and deleted (deleted.files), bind mounts, and the tails of its logs."""

    files: dict[str, int] = field(default_factory=dict)
    rootfs_diff: list[RootfsEntry] | None = None
    deleted_files: list[str] = field(default_factory=list)
    bind_mounts: list[object] | None = None
    logs: dict[str, list[str]] = field(default_factory=dict)


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
    wrapper: Wrapper = field(default_factory=lambda: Wrapper())
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Handles the loader attaches, not part of any report. The model names no type of the floors above it:
    # each process's address space (typed by forensics.memory.space.space_of / spaces) and the input it
    # was read from (typed by forensics.loader.source_of; wrapper files, binaries in archives, close()).
    memory: Mapping[int, object] = field(default_factory=dict, repr=False, compare=False)
    source: object = field(default=None, repr=False, compare=False)
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

    def page_size_of(self, pid: int) -> int:
        """The page size a process ran with (its saved auxv); the first process's for a pid not here."""
        proc = self.process(pid) or (self.processes[0] if self.processes else None)
        return proc.page_size if proc is not None else DEFAULT_PAGE_SIZE
