"""`inspect --python` as a declared table (forensics.records.kinds.PYTHON_FRAME): one row per Python frame,
for --format json, jsonl and csv."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from forensics.model.secrets import Masker
from forensics.records import Table
from forensics.records.kinds import PYTHON_FRAME


def python_frames(py_procs: Iterable[Any], masker: Masker, pids: set[int] | None = None) -> Table:
    """`py_procs`: forensics.symbols.python.PyProcess records; secret-looking locals masked by `masker`."""
    t = Table(PYTHON_FRAME)
    for p in py_procs:
        if pids is not None and p.pid not in pids:
            continue
        version = ".".join(map(str, p.version)) if p.version else None
        for th in p.threads:
            for depth, fr in enumerate(th.frames):
                shown = [f"{v.name} = " + (masker.value(v.name, v.value) if v.secret else masker.text(v.value))
                         for v in fr.locals]
                t.add(p.pid, th.tid, depth, fr.function, fr.file, fr.line, fr.qualname, shown, version)
    return t
