"""The words every output uses for a model value (an fd's details, its flags, a thread's system call),
so the terminal, JSON, CSV and HTML say the same thing the same way."""

from __future__ import annotations

from forensics.model import files as f
from forensics.model.flags import open_flag_words, signal_names
from forensics.model.process import Thread
from forensics.model.syscalls import syscall_name


def syscall_text(th: Thread) -> str | None:
    """Name and number, the same everywhere: "nanosleep (35)"."""
    if th.syscall is None:
        return None
    name = syscall_name(th.syscall, th.registers.arch) if th.registers else None
    return f"{name} ({th.syscall})" if name and not name.startswith("syscall ") else str(th.syscall)


def fd_detail(obj: f.FileObject | None) -> str:
    """What else matters about an open file, by kind (the same words in every format)."""
    if isinstance(obj, f.RegularFile):
        return f"pos {obj.pos}" + (f", size {obj.size}" if obj.size is not None else "")
    if isinstance(obj, (f.Pipe, f.Fifo, f.UnixSocket, f.InetSocket)):
        return f"{obj.queued_bytes} bytes queued" if obj.queued_bytes else ""
    if isinstance(obj, f.EventFd):
        return f"count {obj.count}"
    if isinstance(obj, f.TimerFd):
        return f"{obj.clock} ticks {obj.ticks}, every {obj.interval_ns} ns"
    if isinstance(obj, f.SignalFd):
        return "signals " + ", ".join(signal_names(obj.sigmask))
    if isinstance(obj, f.Inotify):
        return "; ".join(f"watch {w.path or w.ino}" for w in obj.watches)
    if isinstance(obj, f.Memfd):
        return f"size {obj.size}"
    if isinstance(obj, f.EventPoll):
        return f"{len(obj.targets)} watched fds"
    if isinstance(obj, f.OtherFile):
        return ", ".join(f"{k}={v}" for k, v in obj.fields.items())
    return ""


def fd_flags(fd: f.Fd) -> list[str]:
    obj = fd.file
    words = open_flag_words(obj.flags) if isinstance(obj, f.RegularFile) else []
    if fd.cloexec:
        words.append("cloexec")
    return words
