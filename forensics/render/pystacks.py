"""`inspect --python` as text: per process and thread, the Python frames innermost first as
`function (file:line)`, each frame's locals under it when they were read (secret-looking values masked
unless --reveal), the GIL, and the system call each OS thread was frozen in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from forensics.model.checkpoint import Checkpoint
from forensics.model.secrets import Masker
from forensics.model.words import syscall_text
from forensics.records.format import printable


def write_python(ck: Checkpoint, py_procs: Iterable[Any], masker: Masker, out: TextIO,
                 pids: set[int] | None = None) -> None:
    """`py_procs`: forensics.symbols.python.PyProcess records."""
    shown = [p for p in py_procs if pids is None or p.pid in pids]
    out.write("\nPython stacks\n")
    if not shown:
        out.write("  no process runs CPython\n")
    for p in shown:
        version = "CPython " + ".".join(map(str, p.version)) if p.version else "CPython"
        status = "" if p.status.value == "ok" else f"  [{p.status.value}]"
        out.write(f"pid {p.pid} {printable(p.binary)} ({version}){status}\n")
        if p.note:
            out.write(f"  {printable(p.note)}\n")
        if p.gil is not None:
            holder = f"thread {p.gil.holder_tid}" if p.gil.holder_tid is not None else "no listed thread"
            out.write(f"  GIL: held by {holder} (running Python code)\n" if p.gil.locked
                      else f"  GIL: free, last held by {holder}\n")
        proc = ck.process(p.pid)
        syscalls = {th.tid: syscall_text(th) for th in proc.threads} if proc is not None else {}
        for t in p.threads:
            inside = f", in {syscalls[t.tid]}" if syscalls.get(t.tid) else ""
            out.write(f"  thread {t.tid} (pthread 0x{t.pthread_id:x}{inside})\n")
            for fr in t.frames:
                line = fr.line if fr.line is not None else "?"
                note = f"  [{printable(fr.note)}]" if fr.note else ""
                out.write(f"    {printable(fr.function)} ({printable(fr.file)}:{line}){note}\n")
                for v in fr.locals:
                    value = masker.value(v.name, v.value) if v.secret else masker.text(v.value)
                    out.write(f"        {printable(v.name)} = {printable(value)}"
                              + ("  (cut)" if v.truncated else "") + "\n")
            if t.note:
                out.write(f"    {printable(t.note)}\n")
        without = sorted(set(syscalls) - {t.tid for t in p.threads}) if p.threads else []
        if without:
            out.write("  threads without a Python thread state (C threads): " + ", ".join(map(str, without)) + "\n")
