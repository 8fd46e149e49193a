"""Text that is not a table: the console every command prints with, and the per-thread stop listing
(instructions around the stop, then the proven call chain, then — apart and unnumbered — code addresses
that merely lie on the stack)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from rich.console import Console

from forensics.records.format import printable


def make_console(stderr: bool = False) -> Console:
    """The console every command prints with: decoded strings such as "[heap]" or a process's argv are
    data, so rich markup and auto-highlighting are off."""
    return Console(markup=False, highlight=False, stderr=stderr)


def thread_stops(procs: Iterable[Any], stops: Mapping[tuple[int, int], Any], out: TextIO) -> None:
    """Per thread: where it stopped, the instructions there, the frames an unwinder proved (numbered), and
    the code addresses a stack scan found (never numbered: a return address left over from an earlier
    call looks the same as a live one)."""
    for p in procs:
        for th in p.threads:
            stop = stops.get((p.pid, th.tid))
            if stop is None:
                continue
            loc = stop.location
            out.write(f"\npid {p.pid} tid {th.tid} {printable(th.comm or '')}: {printable(str(loc))}"
                      + (f"  ({printable(loc.note)})" if loc.note else "") + "\n")
            for ins in stop.instructions:
                out.write(("  => " if ins.current else "     ") + f"0x{ins.address:x}  {ins.mnemonic} {ins.op_str}\n")
            chain = [(fr, floc) for fr, floc in stop.frames if not fr.heuristic]
            scanned = [(fr, floc) for fr, floc in stop.frames if fr.heuristic]
            if chain:
                out.write("  call chain (proven):\n")
                for n, (fr, floc) in enumerate(chain[:32]):
                    out.write(f"    #{n:<2} 0x{fr.ip:x}  {printable(str(floc))}\n")
            if scanned:
                out.write("  code addresses found on the stack (a scan, not a call chain):\n")
                for fr, floc in scanned[:16]:
                    out.write(f"        0x{fr.ip:x}  {printable(str(floc))}\n")
