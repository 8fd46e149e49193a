"""Progress for long scans: a rich bar on a terminal, nothing at all in pipes or with --json."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

# Below this a scan takes well under a second and a bar would only flicker.
MIN_BYTES = 256 << 20


@contextmanager
def scan_progress(total: int, what: str, enabled: bool = True) -> Iterator[Callable[[int], None] | None]:
    if not enabled or total < MIN_BYTES or not sys.stderr.isatty():
        yield None
        return
    with Progress(TextColumn(what), BarColumn(), DownloadColumn(binary_units=True), TransferSpeedColumn(),
                  TimeRemainingColumn(), transient=True, console=None) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def count_progress(total: int, what: str, enabled: bool = True) -> Iterator[Callable[[int], None] | None]:
    """A bar over items (checkpoints of a hunt), on a terminal only; nothing in pipes or with --json."""
    if not enabled or total < 2 or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import MofNCompleteColumn, TimeElapsedColumn

    with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), transient=True, console=None) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)
