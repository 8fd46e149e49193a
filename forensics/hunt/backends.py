"""Where tasks run: local worker processes (--jobs N) or a Dask distributed cluster (--scheduler).

Both take tasks with `submit` and hand back `TaskResult`s in the order they finish with `results()`,
which also yields the results of tasks submitted while iterating (the parts of a split checkpoint).
A task whose worker died is retried by Dask (the scheduler reschedules the work of a lost worker, up to
its `allowed-failures`); when it gives up, or a local worker process dies, the task comes back as a
failed result naming why: it is never silently missing.
"""

from __future__ import annotations

import os
import queue
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from forensics.errors import ForensicsError
from forensics.hunt.tasks import Task, TaskResult, run_task


class Backend(Protocol):
    def submit(self, task: Task) -> None: ...

    def results(self) -> Iterator[TaskResult]: ...

    def close(self) -> None: ...


def default_jobs() -> int:
    """The cores this process may run on (a cgroup or taskset may give fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _failed(task: Task, why: str) -> TaskResult:
    return TaskResult(task.id, task.target_index, error=why)


class InProcessBackend:
    """--jobs 1: the tasks run here, one after the other (no pickling, the reference for the others)."""

    def __init__(self) -> None:
        self._queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def results(self) -> Iterator[TaskResult]:
        while self._queue:
            yield run_task(self._queue.popleft())

    def close(self) -> None:
        self._queue.clear()


class LocalBackend:
    """--jobs N: N worker processes on this machine. Workers start by forkserver with the hunt's
    modules preloaded (no fork of a process that may hold threads and open maps)."""

    def __init__(self, jobs: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["forensics.hunt.tasks", "forensics.hunt.question",
                                    "forensics.loader"])
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
        self._pending: dict[Future[TaskResult], Task] = {}

    def submit(self, task: Task) -> None:
        try:
            fut = self._pool.submit(run_task, task)
        except RuntimeError as e:   # the pool broke earlier (a worker died): the task fails, with why
            fut = Future()
            fut.set_result(_failed(task, f"not run: the local worker pool is broken ({e})"))
        self._pending[fut] = task

    def results(self) -> Iterator[TaskResult]:
        while self._pending:
            done, _ = wait(list(self._pending), return_when=FIRST_COMPLETED)
            for fut in done:
                task = self._pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as e:  # noqa: BLE001 - BrokenProcessPool and friends: the task failed
                    yield _failed(task, f"worker process died ({type(e).__name__})")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """--scheduler tcp://HOST:8786 (or an existing distributed.Client): each task a Dask task, results
    streamed back as they finish (a done-callback per future feeds a queue). Only tasks (paths and the
    question) go out and results come back; the workers read the evidence from the shared path themselves.

    A hunt must not hang on a cluster that stopped working (every worker gone, a scheduler that lost the
    tasks): when for `stall_seconds` no result came back and the scheduler runs none of the hunt's tasks,
    the tasks still out come back failed, saying so."""

    def __init__(self, scheduler: Any, timeout: float = 30, stall_seconds: float = 300) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ForensicsError("--scheduler needs the distributed package: pip install "
                                 "'checkpoint-forensics[hunt]'") from None
        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            try:
                self.client, self._own = Client(scheduler, timeout=timeout), True
            except (OSError, TimeoutError) as e:
                raise ForensicsError(f"cannot reach the Dask scheduler {scheduler}: {e}") from None
        self._done: queue.Queue[Any] = queue.Queue()
        self._futures: dict[Any, tuple[Any, Task]] = {}
        self._run = uuid.uuid4().hex[:12]
        self.stall_seconds = stall_seconds

    def submit(self, task: Task) -> None:
        fut = self.client.submit(run_task, task, pure=False, key=f"hunt-{self._run}-{task.id}")
        self._futures[fut.key] = (fut, task)
        fut.add_done_callback(self._done.put)

    def _busy(self) -> bool:
        """Whether any worker is running one of this hunt's tasks right now."""
        try:
            processing = self.client.processing()
        except Exception:  # noqa: BLE001 - a scheduler that does not answer is not busy for us
            return False
        return any(str(k).startswith(f"hunt-{self._run}-") for keys in processing.values() for k in keys)

    def results(self) -> Iterator[TaskResult]:
        idle_since = time.monotonic()
        while self._futures:
            try:
                fut = self._done.get(timeout=min(10.0, self.stall_seconds))
            except queue.Empty:
                if self._busy():
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= self.stall_seconds:
                    for key, (f, task) in list(self._futures.items()):
                        del self._futures[key]
                        f.release()
                        yield _failed(task, f"no result: the cluster ran none of the hunt's tasks for "
                                            f"{self.stall_seconds:.0f} s")
                continue
            idle_since = time.monotonic()
            entry = self._futures.pop(fut.key, None)
            if entry is None:
                continue
            task = entry[1]
            try:
                value = fut.result()
            except Exception as e:  # noqa: BLE001 - KilledWorker (its workers died more often than
                # allowed-failures), a lost connection, a cancelled future: the task failed, with why
                yield _failed(task, f"failed on the cluster: {type(e).__name__}: {str(e)[:300]}")
            else:
                yield value if isinstance(value, TaskResult) else _failed(task, "the cluster sent no result")
            finally:
                fut.release()

    def close(self) -> None:
        for fut, _ in self._futures.values():
            fut.release()
        self._futures.clear()
        if self._own:
            self.client.close()
