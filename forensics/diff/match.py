"""Which process of checkpoint A is which process of checkpoint B.

Rules, in order, each stated on the pair it made: `pid` (same pid and same comm: the normal case for
checkpoints of one running container; a pre-dump's processes, which have pids and pages only, pair by
pid alone, as `pid (pre-dump)`), then `comm+argv` (same command line, paired in start order, i.e.
pid order: a restarted worker or a reused pid). What is left is added or removed.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from forensics.model.process import Process


@dataclass(frozen=True, slots=True)
class Pair:
    a: Process
    b: Process
    rule: str


def match_processes(a: list[Process], b: list[Process]) -> tuple[list[Pair], list[Process], list[Process]]:
    """(pairs, removed from A, added in B)."""
    pairs: list[Pair] = []
    b_by_pid = {p.pid: p for p in b}
    left_a, used_b = [], set()
    for p in sorted(a, key=lambda x: x.pid):
        q = b_by_pid.get(p.pid)
        if q is not None and (q.comm == p.comm or p.memory_only or q.memory_only):
            pairs.append(Pair(p, q, "pid" if q.comm == p.comm else "pid (pre-dump)"))
            used_b.add(q.pid)
        else:
            left_a.append(p)
    left_b = [q for q in sorted(b, key=lambda x: x.pid) if q.pid not in used_b]

    def key(p: Process) -> tuple:
        return (p.comm, tuple(p.argv or ()))

    # A deque per command line: pop(0) on a list is linear, quadratic over 100,000 identical workers.
    queue: dict[tuple, deque[Process]] = defaultdict(deque)
    for q in left_b:
        queue[key(q)].append(q)
    removed = []
    for p in left_a:
        candidates = queue.get(key(p))
        if candidates:
            pairs.append(Pair(p, candidates.popleft(), "comm+argv"))
        else:
            removed.append(p)
    matched_b = {pair.b.pid for pair in pairs}
    added = [q for q in left_b if q.pid not in matched_b]
    return pairs, removed, added
