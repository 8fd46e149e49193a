"""The unit of work: a Task (which checkpoint, which question, which part), run by `run_task` wherever
the backend puts it. `run_task` never raises: whatever goes wrong becomes the result's error, so a
damaged checkpoint is a row, not the end of the hunt.

A task without a part on a big checkpoint (more pages than `split_bytes`) first answers with a split:
the parts to run instead (whole processes grouped up to `split_bytes`; for grep, one big process cut
into pages-file spans). The driver submits those parts as their own tasks, so one 50 GiB checkpoint is
spread over the cluster too. The split is made on a worker because it needs the decoded model.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from forensics.errors import ForensicsError
from forensics.hunt.question import Part, Question, ask
from forensics.hunt.rows import Hit, Target
from forensics.memory.space import spaces

DEFAULT_SPLIT_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class Task:
    """`id` is unique in one hunt; `target_index` says which checkpoint the result belongs to."""

    id: str
    target_index: int
    target: Target
    question: Question
    part: Part | None = None
    split_bytes: int = DEFAULT_SPLIT_BYTES


@dataclass(slots=True)
class TaskResult:
    """What comes back from a worker: only this travels, never evidence. `parts` is set when the task
    split its checkpoint instead of answering; `partial` when the checkpoint decoded with errors."""

    task_id: str
    target_index: int
    hits: list[Hit] = field(default_factory=list)
    error: str | None = None
    partial_errors: list[str] = field(default_factory=list)
    parts: list[Part] | None = None
    seconds: float = 0.0
    worker: str = ""


def run_task(task: Task) -> TaskResult:
    """Open, answer, close. Picklable in and out (for worker processes and Dask)."""
    from forensics.hunt.open import close, load

    t0 = time.perf_counter()
    res = TaskResult(task.id, task.target_index, worker=f"{socket.gethostname()}:{os.getpid()}")
    ck = None
    try:
        ck = load(task.target)
        res.partial_errors = list(ck.errors)
        if task.part is None:
            parts = split(ck, task.question, task.split_bytes)
            if parts is not None:
                res.parts = parts
                return res
        res.hits = ask(ck, task.question, task.part)
    except ForensicsError as e:
        res.error = str(e)
    except MemoryError:
        res.error = "out of memory on the worker"
    except Exception as e:  # noqa: BLE001 - one checkpoint's failure must not end the hunt; no locals, no
        # evidence in the message: the type and where it happened, as the CLI's last line of defence says it
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno}" if tb else ""
        res.error = f"internal error ({type(e).__name__}{where}); this is a bug, please report it"
    finally:
        if ck is not None:
            close(ck)
        res.seconds = time.perf_counter() - t0
    return res


def split(ck, q: Question, split_bytes: int) -> list[Part] | None:  # noqa: ANN001 - Checkpoint
    """The parts of a checkpoint with more private pages than `split_bytes`, or None to answer it whole.
    Memory questions only (grep, yara): findings and diff need the whole model at once."""
    from forensics.hunt.question import GrepQuestion, YaraQuestion

    if not isinstance(q, GrepQuestion | YaraQuestion):
        return None
    sizes = {pid: len(space.store.pages) for pid, space in spaces(ck).items()}
    if sum(sizes.values()) <= split_bytes:
        return None
    parts: list[Part] = []
    group: list[int] = []
    group_bytes = 0
    for pid in sorted(sizes):
        n = sizes[pid]
        if n > split_bytes and q.splittable:
            parts.extend(Part(frozenset({pid}), (lo, min(lo + split_bytes, n)))
                         for lo in range(0, n, split_bytes))
            continue
        if group and group_bytes + n > split_bytes:
            parts.append(Part(frozenset(group)))
            group, group_bytes = [], 0
        group.append(pid)
        group_bytes += n
    if group:
        parts.append(Part(frozenset(group)))
    return parts
