"""JSON metadata from the evidence (config.dump, spec.dump, CRI-O annotations, deleted.files, bind.mounts,
descriptors.json), parsed with a size and a nesting cap.

Python's json module parses nesting recursively: `[[[[...` a few thousand deep raises RecursionError,
and a value nested a few hundred deep makes every later recursive walk over it (a renderer, a copy) a
risk too. Metadata a runtime writes is a few levels deep, so `loads` refuses more than MAX_DEPTH
levels before parsing. The depth is measured in C-speed passes: strings are blanked out, everything but
brackets is dropped, and innermost `[]`/`{}` pairs are removed once per level; more than MAX_DEPTH
passes that still change something means deeper nesting.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64                 # levels of [ and { in one metadata document
MAX_BYTES = 16 << 20           # bytes of one metadata document (Limits.max_meta_bytes)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_INNERMOST = re.compile(rb"\[\]|\{\}")
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


class MetadataError(ValueError):
    """A JSON document refused before or while parsing (too big, too deep, not JSON)."""


def depth_exceeds(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when `data` nests [ and { more than `limit` deep (strings do not count)."""
    skeleton = _STRING.sub(b'""', data).translate(None, _BRACKETS)
    if re.search(rb"[\[{]{%d}" % (limit + 1), skeleton):
        return True               # a run of openers deeper than the limit: no need to peel
    for _ in range(limit):
        if not skeleton:
            return False
        thinner = _INNERMOST.sub(b"", skeleton)
        if thinner == skeleton:
            return False          # unbalanced: json.loads will say where
        skeleton = thinner
    return bool(skeleton) and _INNERMOST.search(skeleton) is not None


def loads(data: bytes | bytearray | memoryview | str, what: str, *, max_bytes: int = MAX_BYTES,
          max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in `data`; MetadataError (a ValueError) naming `what` when it is larger than
    `max_bytes`, nested deeper than `max_depth`, or not JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise MetadataError(f"{what} is {len(raw)} bytes, more than the {max_bytes} read for metadata")
    if depth_exceeds(raw, max_depth):
        raise MetadataError(f"{what} nests JSON more than {max_depth} levels deep; not parsed")
    try:
        return json.loads(raw)
    except RecursionError:
        raise MetadataError(f"{what} nests JSON too deep to parse") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{what} is not JSON ({exc})") from None
