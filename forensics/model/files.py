"""Open files of every kind (files.img entries) and the fds that point at them (fdinfo images).

One open file description can sit behind several fds and several processes (dup, fork, SCM_RIGHTS);
CRIU gives it one id, and so does this model: `Fd.file` objects are shared, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class FileObject:
    """Common part: CRIU's file id and the JSON `type` (file, pipe, fifo, unix, inet, netlink, packet,
    eventfd, eventpoll, signalfd, timerfd, inotify, tty, memfd, other)."""

    id: int

    type = "other"

    def describe(self) -> str:
        return f"{self.type}#{self.id}"


@dataclass(slots=True)
class RegularFile(FileObject):
    path: str
    flags: int = 0
    pos: int = 0
    size: int | None = None
    mode: int | None = None
    deleted: bool = False
    mnt_id: int | None = None
    build_id: str | None = None

    type = "file"

    def describe(self) -> str:
        return self.path + (" (deleted)" if self.deleted else "")


@dataclass(slots=True)
class Pipe(FileObject):
    pipe_id: int
    flags: int = 0
    queued_bytes: int = 0
    data: bytes | None = None

    type = "pipe"

    def describe(self) -> str:
        return f"pipe:[{self.pipe_id}]"


@dataclass(slots=True)
class Fifo(FileObject):
    pipe_id: int
    path: str | None = None
    queued_bytes: int = 0
    data: bytes | None = None

    type = "fifo"

    def describe(self) -> str:
        return f"fifo {self.path or ''} [{self.pipe_id}]"


@dataclass(slots=True)
class UnixSocket(FileObject):
    ino: int
    sock_type: str
    state: str
    name: str | None
    peer_ino: int
    peer_name: str | None = None
    queued_bytes: int = 0
    backlog: int = 0
    shutdown: int = 0
    data: bytes | None = None     # the queued messages' bytes (sk-queues.img), in queue order

    type = "unix"

    def describe(self) -> str:
        name = self.name or "(unnamed)"
        peer = f" -> {self.peer_name or self.peer_ino}" if self.peer_ino else ""
        return f"unix {self.sock_type} {self.state} {name}{peer}"


@dataclass(slots=True)
class InetSocket(FileObject):
    ino: int
    family: str
    sock_type: str
    proto: str
    state: str
    local: str
    peer: str
    backlog: int = 0
    rcvbuf: int | None = None
    sndbuf: int | None = None
    queued_bytes: int = 0
    in_queue: int | None = None
    out_queue: int | None = None

    type = "inet"

    def describe(self) -> str:
        return f"{self.proto} {self.state} {self.local} -> {self.peer}" if self.state != "LISTEN" \
            else f"{self.proto} LISTEN {self.local}"


@dataclass(slots=True)
class NetlinkSocket(FileObject):
    ino: int
    protocol: int
    portid: int = 0

    type = "netlink"


@dataclass(slots=True)
class PacketSocket(FileObject):
    ino: int
    sock_type: str
    protocol: int = 0
    ifindex: int = 0

    type = "packet"


@dataclass(slots=True)
class EventFd(FileObject):
    count: int
    flags: int = 0

    type = "eventfd"

    def describe(self) -> str:
        return f"eventfd count={self.count}"


@dataclass(slots=True)
class EpollTarget:
    fd: int
    events: int
    data: int


@dataclass(slots=True)
class EventPoll(FileObject):
    targets: list[EpollTarget] = field(default_factory=list)

    type = "eventpoll"

    def describe(self) -> str:
        return "epoll on fds " + ",".join(str(t.fd) for t in self.targets)


@dataclass(slots=True)
class SignalFd(FileObject):
    sigmask: int = 0

    type = "signalfd"


@dataclass(slots=True)
class TimerFd(FileObject):
    clock: str = ""
    ticks: int = 0
    value_ns: int = 0
    interval_ns: int = 0

    type = "timerfd"


@dataclass(slots=True)
class InotifyWatch:
    wd: int
    ino: int
    mask: int
    path: str | None = None


@dataclass(slots=True)
class Inotify(FileObject):
    watches: list[InotifyWatch] = field(default_factory=list)

    type = "inotify"


@dataclass(slots=True)
class Tty(FileObject):
    index: int | None
    tty_type: str
    path: str | None = None

    type = "tty"


@dataclass(slots=True)
class Memfd(FileObject):
    name: str
    size: int = 0
    pos: int = 0
    seals: int = 0
    shmid: int | None = None

    type = "memfd"

    def describe(self) -> str:
        return f"memfd:{self.name}"


@dataclass(slots=True)
class OtherFile(FileObject):
    """A kind this model has no record for yet (fanotify, ns, tun, bpf map, pidfd, external): its CRIU
    type and the decoded fields, so nothing is dropped."""

    kind: str = ""
    fields: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.kind.lower()}#{self.id}"


@dataclass(slots=True)
class Fd:
    fd: int
    file: FileObject | None
    cloexec: bool = False
    missing_file_id: int | None = None

    @property
    def type(self) -> str:
        return self.file.type if self.file is not None else "other"
