"""Opening evidence files safely: read-only, never through a final symlink unless asked, never blocking,
and refused unless fstat says a regular file outside /proc and /sys; mapping them read-only.

A leaf (it needs only forensics.errors) so that both floors that read files, images and locate, share one
rule without importing each other.
"""

from __future__ import annotations

import errno
import io
import mmap
import os
import stat

from forensics.errors import ForensicsError

# O_NOATIME keeps a read from changing the evidence's access time; the kernel allows it only to the file's
# owner (or CAP_FOWNER), so it is tried first and dropped when refused. O_NONBLOCK makes opening a FIFO
# return at once instead of waiting for a writer (it changes nothing for a regular file), so the type
# check below happens before anything can block.
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_NOATIME = getattr(os, "O_NOATIME", 0)
# Files of these pseudo-filesystems look regular but are the live kernel's (/proc/self/mem, /proc/kcore,
# /sys/...): reading them is never reading evidence, and some block or fail with EIO.
_PSEUDO_ROOTS = ("/proc", "/sys")
_pseudo_devs: set[int] | None = None


def _pseudo_devices() -> set[int]:
    global _pseudo_devs
    if _pseudo_devs is None:
        found = set()
        for root in _PSEUDO_ROOTS:
            try:
                found.add(os.stat(root).st_dev)
            except OSError:
                pass
        _pseudo_devs = found
    return _pseudo_devs


def check_regular(fd: int, path: str | os.PathLike[str]) -> os.stat_result:
    """fstat of an open fd: ForensicsError unless it is a regular file outside /proc and /sys (a FIFO,
    socket, device or kernel file named like evidence is refused before a byte is read)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a fifo" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file")
        raise ForensicsError(f"is {kind}, not a regular file; not read", os.fspath(path))
    if st.st_dev in _pseudo_devices():
        raise ForensicsError("is a file of the running kernel (/proc or /sys), not evidence; not read",
                             os.fspath(path))
    return st


def open_regular(path: str | os.PathLike[str], *, follow: bool = False) -> tuple[int, os.stat_result]:
    """(fd, stat) of a regular evidence file, opened read-only, non-blocking, not through a final symlink
    unless `follow`, and checked with `check_regular`. Raises ForensicsError (OSError becomes one too)."""
    try:
        fd = open_readonly(path, follow=follow)
    except OSError as exc:
        raise ForensicsError(f"cannot open: {exc.strerror}", os.fspath(path)) from None
    try:
        return fd, check_regular(fd, path)
    except BaseException:
        os.close(fd)
        raise


def open_evidence(path: str | os.PathLike[str], *, follow: bool = False) -> io.BufferedReader:
    """A buffered binary file over `open_regular` (the caller closes it)."""
    fd, _ = open_regular(path, follow=follow)
    return os.fdopen(fd, "rb")


def open_readonly(path: str | os.PathLike[str], *, follow: bool = False) -> int:
    """A read-only fd for `path` (the last component is not followed unless `follow`); no type check:
    use `open_regular` before reading."""
    flags = _READ_FLAGS if not follow else _READ_FLAGS & ~os.O_NOFOLLOW
    try:
        return os.open(path, flags | _NOATIME)
    except PermissionError:
        if not _NOATIME:
            raise
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise ForensicsError("is a symbolic link; not followed", os.fspath(path)) from None
        raise


class MapFailed(ForensicsError):
    """A file that could not be mapped (most often the address-space limit, RLIMIT_AS, is below its size)."""


def map_fd(fd: int, size: int, path: str | os.PathLike[str] = "") -> mmap.mmap | None:
    """A read-only shared map of the first `size` bytes of `fd`; None for an empty file (mmap cannot map 0).
    Raises MapFailed, naming the size and the reason, when the kernel refuses the mapping."""
    if size == 0:
        return None
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    except (OSError, OverflowError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MapFailed(f"cannot map its {size} bytes ({reason}); the address-space limit (ulimit -v) is "
                        "probably lower: raise it to read this file", os.fspath(path)) from None
