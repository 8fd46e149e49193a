"""The hunt itself: targets in, one CheckpointResult per target out, whatever the backend.

Results of a checkpoint's parts are merged when its last part is in; `on_done` hears each checkpoint as
it completes (the progress bar, a streaming writer). A part that failed makes the checkpoint partial
(failed when no part succeeded), with the part named in its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from forensics.hunt.backends import Backend
from forensics.hunt.fold import fold_shared
from forensics.hunt.question import DiffQuestion, Question
from forensics.hunt.rows import CheckpointResult, Hit, Row, Status, Target
from forensics.hunt.targets import Unusable
from forensics.hunt.tasks import DEFAULT_SPLIT_BYTES, Task, TaskResult


@dataclass(slots=True)
class Hunt:
    question: str
    results: list[CheckpointResult] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return any(r.status is not Status.OK for r in self.results)


@dataclass(slots=True)
class _Progress:
    result: CheckpointResult
    outstanding: int = 1
    answered: int = 0
    hits: list[Hit] = field(default_factory=list)


def hunt(items: list[Target | Unusable], question: Question, backend: Backend, *,
         split_bytes: int = DEFAULT_SPLIT_BYTES,
         on_done: Callable[[CheckpointResult], None] | None = None,
         progress: Callable[[int], None] | None = None) -> Hunt:
    """Run `question` over `items` on `backend`. `progress` hears 1 as each checkpoint completes;
    `on_done` gets each checkpoint's final result: as it completes, except with --diff-against, where
    folding needs every checkpoint's changes first."""
    out = Hunt(question.describe())
    state: dict[int, _Progress] = {}
    deferred = isinstance(question, DiffQuestion)
    for i, item in enumerate(items):
        if isinstance(item, Unusable):
            r = CheckpointResult(item.target, Status.FAILED, errors=[item.error])
            out.results.append(r)
            if progress:
                progress(1)
            if on_done:
                on_done(r)
            continue
        r = CheckpointResult(item)
        out.results.append(r)
        state[i] = _Progress(r)
        backend.submit(Task(f"{i}", i, item, question, None, split_bytes))
    for res in backend.results():
        p = state[res.target_index]
        p.outstanding -= 1
        _merge(p, res, backend, question, split_bytes)
        if p.outstanding == 0:
            _finish(p)
            if progress:
                progress(1)
            if on_done and not deferred:
                on_done(p.result)
    if deferred:
        fold_shared(out.results)
        if on_done:
            for p in state.values():
                on_done(p.result)
    return out


def _merge(p: _Progress, res: TaskResult, backend: Backend, question: Question, split_bytes: int) -> None:
    r = p.result
    r.tasks += 1
    r.seconds += res.seconds
    for e in res.partial_errors:
        if e not in r.errors:
            r.errors.append(e)
    if res.error is not None:
        which = "" if "/" not in res.task_id else f" (part {res.task_id.split('/', 1)[1]})"
        r.errors.append(res.error + which)
        return
    if res.parts is not None:
        for k, part in enumerate(res.parts):
            backend.submit(Task(f"{res.task_id}/{k}", res.target_index, r.target, question, part,
                                split_bytes))
        p.outstanding += len(res.parts)
        return
    p.answered += 1
    p.hits.extend(res.hits)


def _finish(p: _Progress) -> None:
    r = p.result
    r.hits = sorted(p.hits, key=Hit.sort_key)
    if p.answered == 0:
        r.status = Status.FAILED
    elif r.errors:
        r.status = Status.PARTIAL


def rows(h: Hunt, per_checkpoint: bool = False, quiet: bool = False) -> list[Row]:
    """The table: a row per checkpoint and hit (a checkpoint without hits gets one row, count 0, unless
    `quiet`; a failed or partial one always does), or with `per_checkpoint` one row per checkpoint with
    its hit count."""
    out = []
    for r in h.results:
        t = r.target
        error = "; ".join(r.errors) if r.errors else None

        def row(count: int, hit: Hit | None, t: Target = t, r: CheckpointResult = r,
                error: str | None = error) -> Row:
            return Row(t.label, t.ref, t.engine, t.container, t.pod, t.namespace, t.time, r.status, count,
                       hit, error, t.time_source)

        if per_checkpoint or not r.hits:
            if per_checkpoint or not quiet or r.status is not Status.OK:
                out.append(row(len(r.hits), None))
        else:
            out.extend(row(1, hit) for hit in r.hits)
    return out
