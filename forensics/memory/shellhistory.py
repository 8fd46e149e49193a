"""Commands typed into bash, recovered from its heap, the way Volatility's linux.bash does it.

bash keeps its history as HIST_ENTRY structs {char *line; char *timestamp; void *data} on its heap, and
stamps every entry with a string "#<unix time>" (history_comment_char '#'). Each such string whose
address is stored in a word right after another pointer marks an entry; the word before it points at the
command line. This finds history even when HISTFILE is never written (a shell killed or checkpointed).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from forensics.memory.space import AddressSpace, MemoryGap, space_of
from forensics.model.checkpoint import Checkpoint

TIMESTAMP = re.compile(rb"#(1[0-9]{9})\x00")
SHELLS = ("bash",)


@dataclass(frozen=True, slots=True)
class ShellCommand:
    pid: int
    command: str
    timestamp: int
    entry: int


def _history(pid: int, space: AddressSpace) -> list[ShellCommand]:
    heaps = [(addr, bytes(data)) for addr, data, vma in space.segments() if vma.kind in ("heap", "anon")
             and vma.prot & 2]
    stamps: dict[int, int] = {}
    for addr, data in heaps:
        for m in TIMESTAMP.finditer(data):
            stamps[addr + m.start()] = int(m.group(1))
    out: list[ShellCommand] = []
    if not stamps:
        return out
    for addr, data in heaps:
        for i, (word,) in enumerate(struct.iter_unpack("<Q", data[:len(data) // 8 * 8])):
            if word in stamps and i > 0:
                (line_ptr,) = struct.unpack_from("<Q", data, (i - 1) * 8)
                try:
                    line = space.read_cstring(line_ptr, 4096)
                except MemoryGap:
                    continue
                if line:
                    out.append(ShellCommand(pid, line.decode("utf-8", "backslashreplace"), stamps[word],
                                            addr + (i - 1) * 8))
    return sorted(out, key=lambda c: (c.timestamp, c.entry))


def shell_history(ck: Checkpoint) -> list[ShellCommand]:
    """The history of every bash process of the checkpoint, oldest first per shell."""
    out: list[ShellCommand] = []
    for p in ck.processes:
        space = space_of(ck, p.pid)
        if space is not None and (p.comm in SHELLS or (p.exe or "").endswith("/bash")):
            out.extend(_history(p.pid, space))
    return out
