"""Text that is not a table: the console every command prints with, and the per-thread stop listing
(instructions around the stop, then the proven call chain, then — apart and unnumbered — code addresses
that merely lie on the stack)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from forensics.records.format import printable

if TYPE_CHECKING:
    from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """The console every command prints with: decoded strings such as "[heap]" or a process's argv are
    data, so rich markup and auto-highlighting are off. rich is imported here, not with the module:
    the stop listing in a pipe does not need it (~12 ms of a small `inspect`)."""
    from rich.console import Console

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
            if stop.frames:
                out.write("  call chain (proven; each frame says how: registers, cfi, fp, signal):\n")
                for fr, floc in stop.frames[:32]:
                    out.write(f"    #{fr.index:<2} 0x{fr.ip:x}  {printable(str(floc))}  [{fr.method}]\n")
            if stop.unwind is not None and not stop.unwind.complete:
                out.write(f"    (chain ends early: {printable(stop.unwind.detail)})\n")
            if stop.stack_hits:
                out.write("  code addresses found on the stack (a scan, not a call chain):\n")
                for hit, floc in stop.stack_hits[:16]:
                    out.write(f"        [0x{hit.slot:x}] 0x{hit.value:x}  {printable(str(floc))}\n")


def goroutine_listing(listings: Mapping[int, Any], out: TextIO, wanted: set[int] | None = None) -> None:
    """Per Go process (forensics.symbols.goroutines): each goroutine's id, status, function, creator and
    its chain unwound from the saved gobuf; a process without a listing says why."""
    for pid, listing in sorted(listings.items()):
        if wanted is not None and pid not in wanted:
            continue
        if listing.note and not listing.goroutines:
            out.write(f"\npid {pid}: no goroutines ({printable(listing.note)})\n")
            continue
        out.write(f"\npid {pid}: {len(listing.goroutines)} goroutines\n")
        for g in listing.goroutines:
            status = getattr(g.status, "name", str(g.status)).lower()
            out.write(f"  goroutine {g.id} [{status}] {printable(str(g.function))}  "
                      f"created by {printable(str(g.created_by))}\n")
            for fr, floc in g.frames[:32]:
                out.write(f"    #{fr.index:<2} 0x{fr.ip:x}  {printable(str(floc))}  [{fr.method}]\n")
            if g.unwind is not None and not g.unwind.complete:
                out.write(f"    (chain ends early: {printable(g.unwind.detail)})\n")
        if listing.note:
            out.write(f"  ({printable(listing.note)})\n")
