"""The tool's own temporary directories, and the guarantee that they are gone when the process ends.

Members of a compressed archive that callers read at random (the CRIU images, the wrapper files) are
spilled into a directory made by `tempfile.mkdtemp` (so under $TMPDIR); nothing else is ever written. A
`ScratchDir` is removed by `remove()` / leaving its `with` block, and every one still alive is removed:
- at interpreter exit (atexit), which also covers Ctrl-C, since KeyboardInterrupt unwinds to exit;
- on SIGTERM and SIGHUP: while any scratch directory exists, a handler is installed (main thread only)
  that removes them all, then hands the signal to the previous handler, or, if that was the default,
  restores the default and re-raises the signal so the process still ends as the sender intended.
  When the last directory goes, the previous handlers are put back.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

PREFIX = "forensics-"
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_lock = threading.RLock()
_live: dict[Path, None] = {}
_saved: dict[int, Any] = {}


class ScratchDir:
    """A fresh private directory (mode 0700) for this process, removed on `remove()` or exit."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))
        with _lock:
            _live[self.path] = None
            if len(_live) == 1:
                _install_handlers()

    def remove(self) -> None:
        with _lock:
            if self.path not in _live:
                return
            del _live[self.path]
            shutil.rmtree(self.path, ignore_errors=True)
            if not _live:
                _restore_handlers()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.remove()


def live_scratch_dirs() -> list[Path]:
    """The scratch directories not yet removed (for tests and diagnostics)."""
    with _lock:
        return list(_live)


def remove_live() -> None:
    """Remove every scratch directory still live and restore the signal handlers: what exit does, for a
    caller that runs commands in-process (the CLI's commands never close their checkpoint: exit does)."""
    with _lock:
        _remove_all()
        _restore_handlers()


def _remove_all() -> None:
    with _lock:
        for path in list(_live):
            shutil.rmtree(path, ignore_errors=True)
        _live.clear()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _remove_all()
    previous = _saved.get(signum, signal.SIG_DFL)
    _restore_handlers()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return   # signal handlers can only be set from the main thread; atexit still cleans up
    for sig in _SIGNALS:
        try:
            _saved[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, previous in list(_saved.items()):
        try:
            if signal.getsignal(sig) is _on_signal:
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        del _saved[sig]


atexit.register(_remove_all)
