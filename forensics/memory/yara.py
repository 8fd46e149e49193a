"""YARA rules over process memory (yara-x), matches reported like grep's: pid, address, mapping.

Each dumped range of each mapping is scanned as its own buffer (a window of at most 64 MiB, with an
overlap so a string across two windows is still seen once); shared memory is scanned in every process
that maps it, as that process sees it. Rules that look at the whole process (filesize, entrypoint)
see one window, not the process: YARA has no notion of a sparse address space.
"""

from __future__ import annotations

from collections.abc import Iterator
import re
from dataclasses import dataclass

from forensics.memory.space import spaces
from forensics.errors import ForensicsError
from forensics.memory import residency
from forensics.memory.select import VmaFilter
from forensics.model.checkpoint import Checkpoint
from forensics.model.vma import Vma

WINDOW = 64 << 20
OVERLAP = 4096


@dataclass(frozen=True, slots=True)
class YaraMatch:
    rule: str
    pattern: str
    pid: int
    address: int
    length: int
    vma: Vma


def compile_rules(text: str, name: str):  # noqa: ANN201 - yara_x.Rules
    try:
        import yara_x
    except ImportError:
        raise ForensicsError("YARA needs the yara-x package (pip install yara-x)") from None
    try:
        return yara_x.compile(text)
    except Exception as e:  # noqa: BLE001 - yara_x.CompileError carries the rule file's own message
        lines = str(e).strip().splitlines()
        first = lines[0] if lines else type(e).__name__
        # yara-x puts the place on the next line: " --> line:1:26"; keep it, a rule file can be long.
        where = next((m.group(1) for x in lines[1:3] if (m := re.search(r"line:(\d+:\d+)", x))), None)
        raise ForensicsError(f"rules do not compile at line {where}: {first}" if where else
                             f"rules do not compile: {first}", name) from None


def scan(ck: Checkpoint, rules, flt: VmaFilter) -> Iterator[YaraMatch]:  # noqa: ANN001
    import yara_x

    scanner = yara_x.Scanner(rules)
    for pid, space in spaces(ck).items():
        if not flt.wants_pid(pid):
            continue
        for addr, data, vma in space.segments():
            if not flt.wants_vma(vma):
                continue
            seen: set[tuple[str, str, int]] = set()
            for off in range(0, len(data), WINDOW):
                chunk = data[off:off + WINDOW + OVERLAP]
                result = scanner.scan(chunk.tobytes())
                for rule in result.matching_rules:
                    for pattern in rule.patterns:
                        for m in pattern.matches:
                            a = addr + off + m.offset
                            key = (rule.identifier, pattern.identifier, a)
                            if key in seen or not flt.wants_address(a, m.length):
                                continue
                            seen.add(key)
                            yield YaraMatch(rule.identifier, pattern.identifier, pid, a, m.length, vma)
                residency.drop(data, off, min(WINDOW, len(data) - off))
