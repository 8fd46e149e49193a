"""Whether checkpoints given "oldest first" really are, from the most reliable clock each one has.

CRIU's dump_uptime (pre-dumps and --track-mem dumps of one boot) orders dumps exactly; engine metadata
and archive headers are wall clocks of the machine that made them; a file's mtime on this disk is not
evidence of anything (a copy resets it) and is never used to call an order reversed.
"""

from __future__ import annotations

from collections.abc import Sequence

from forensics.model.checkpoint import Checkpoint


def order_problems(checkpoints: Sequence[Checkpoint]) -> list[str]:
    """Warnings for pairs that look reversed, and a note when nothing reliable orders them."""
    out = []
    for a, b in zip(checkpoints, checkpoints[1:]):
        ua, ub = a.info.dump_uptime, b.info.dump_uptime
        if ua is not None and ub is not None:
            if ub < ua:
                out.append(f"{b.info.path} was dumped before {a.info.path} (CRIU dump_uptime {ub} < {ua} us): "
                           "the order given looks reversed")
            continue
        ta, tb = a.info.checkpoint_time, b.info.checkpoint_time
        if ta is not None and tb is not None and ta.reliable and tb.reliable and tb.utc < ta.utc:
            out.append(f"{b.info.path} ({tb.text()}) is older than {a.info.path} ({ta.text()}): "
                       "the order given looks reversed")
    if len(checkpoints) > 1 and not any(ck.info.dump_uptime is not None or
                                        (ck.info.checkpoint_time is not None and ck.info.checkpoint_time.reliable)
                                        for ck in checkpoints):
        out.append("no reliable time orders these checkpoints (only file mtimes, which a copy resets): "
                   "the order is the one given")
    return out


def related(a: Checkpoint, b: Checkpoint) -> str | None:
    """A warning when two checkpoints do not look like the same container at two times."""
    ia, ib = a.info, b.info
    if ia.container_id and ib.container_id and ia.container_id != ib.container_id:
        return f"different containers: {ia.container_id[:12]} and {ib.container_id[:12]}"
    ca = {(p.comm, tuple(p.argv or ())) for p in a.processes}
    cb = {(p.comm, tuple(p.argv or ())) for p in b.processes}
    if a.processes and b.processes and not ca & cb and not {p.pid for p in a.processes} & {p.pid for p in b.processes}:
        return "no process in common (not the same pids, not the same commands): these look like different containers"
    return None
