"""The masker for one command: every secret-looking value of the checkpoints at hand, learned once.

It learns environment variables with secret-like names or values, `NAME=value` words of command lines,
and of commands typed into shells (recovered from bash's heap), so a token typed into a shell is masked
in the shell-history finding, in grep context and in strings just as in the environment table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from forensics.memory.space import AddressSpace, space_of
from forensics.model.checkpoint import Checkpoint
from forensics.model.secrets import Masker

# A pre-dump's process has no mm image, so where its environment lies is unknown: its pages are searched
# for NAME=value strings instead (masking a value that only looks secret hides, it never misleads).
ASSIGNMENT_BYTES = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{0,63}=[\x21-\x7e]{8,256}")
MAX_SCAN = 64 << 20


def _learn_from_pages(masker: Masker, space: AddressSpace) -> None:
    scanned = 0
    for _addr, piece, _vma in space.segments():
        for m in ASSIGNMENT_BYTES.finditer(piece):
            masker.learn_words(m.group().decode("ascii"))
        scanned += len(piece)
        if scanned >= MAX_SCAN:
            return


def masker_for(checkpoints: Iterable[Checkpoint], reveal: bool, history: bool = True) -> Masker:
    masker = Masker(reveal=reveal)
    if reveal:
        return masker
    for ck in checkpoints:
        for p in ck.processes:
            masker.learn_env(p.env)
            if p.argv:
                masker.learn_words(" ".join(p.argv))
            if p.memory_only and (space := space_of(ck, p.pid)) is not None:
                _learn_from_pages(masker, space)
        if history:
            from forensics.memory.shellhistory import shell_history

            for c in shell_history(ck):
                masker.learn_words(c.command)
    return masker
