"""hunt: one question over many checkpoints, answered in parallel (local processes or a Dask cluster).

    targets.expand(inputs, from_) -> list[Target]      which checkpoints (locate only, nothing decoded)
    tasks.plan(targets, question) -> list[Task]        one task per checkpoint, or per part of a big one
    backends.LocalBackend / DaskBackend .run(tasks)    TaskResults as they finish
    run.hunt(...) -> Hunt                              the rows, one per checkpoint and hit

Workers open the evidence by path (a shared filesystem on a cluster); only results travel back.
"""
