"""hunt: one question over many checkpoints, answered in parallel (local processes or a Dask cluster).

    targets.expand(named, from_) -> [Target | Unusable]   which checkpoints (locate only, nothing decoded)
    question: GrepQuestion, YaraQuestion, FindingsQuestion, DiffQuestion; ask(ck, q, part) -> [Hit]
    tasks.run_task(Task) -> TaskResult                    one checkpoint, or one part of a big one
    backends: InProcessBackend, LocalBackend(jobs), DaskBackend(scheduler)
    run.hunt(items, q, backend) -> Hunt; run.rows(hunt) -> [Row]

Workers open the evidence by path (a shared filesystem on a cluster); only results travel back.
"""
