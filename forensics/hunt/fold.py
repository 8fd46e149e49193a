"""Diff folding: what every checkpoint of the hunt shares is not what tells them apart.

Each change against the baseline carries a key: the change with its values (a counter that moved from 8
to 80 has another key than one that moved to 24). A key found in every checkpoint that was compared is
the same change everywhere (a file every replica appended the same line to, a page every checkpoint
touches alike) and is folded away, counted in `folded`; what is left differs between checkpoints. With
fewer than two compared checkpoints nothing is folded: there is nothing to tell apart.
"""

from __future__ import annotations

from collections import Counter

from forensics.hunt.rows import CheckpointResult, Status


def fold_shared(results: list[CheckpointResult]) -> None:
    compared = [r for r in results if r.status is not Status.FAILED]
    if len(compared) < 2:
        return
    counts = Counter(k for r in compared for k in {h.key for h in r.hits if h.key is not None})
    shared = {k for k, n in counts.items() if n == len(compared)}
    for r in compared:
        kept = [h for h in r.hits if h.key is None or h.key not in shared]
        r.folded += len(r.hits) - len(kept)
        r.hits = kept
