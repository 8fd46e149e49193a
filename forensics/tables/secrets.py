"""The masker for one command: every secret-looking value of the checkpoints at hand, learned once.

It learns environment variables with secret-like names or values, `NAME=value` words of command lines,
and of commands typed into shells (recovered from bash's heap), so a token typed into a shell is masked
in the shell-history finding, in grep context and in strings just as in the environment table.
"""

from __future__ import annotations

from collections.abc import Iterable

from forensics.model.checkpoint import Checkpoint
from forensics.model.secrets import Masker


def masker_for(checkpoints: Iterable[Checkpoint], reveal: bool, history: bool = True) -> Masker:
    masker = Masker(reveal=reveal)
    if reveal:
        return masker
    for ck in checkpoints:
        for p in ck.processes:
            masker.learn_env(p.env)
            if p.argv:
                masker.learn_words(" ".join(p.argv))
        if history:
            from forensics.memory.shellhistory import shell_history

            for c in shell_history(ck):
                masker.learn_words(c.command)
    return masker
