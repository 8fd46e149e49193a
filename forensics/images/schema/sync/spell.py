"""A declaration written the way the schema modules write it: `F(1, "vaddr", U64, REQ, hex=True)`.

Both the difference report and the file rewriter use these, so what a reviewer reads in a report is
exactly the text a rewrite puts into the file.
"""

from __future__ import annotations

import json

from forensics.images.schema import declare
from forensics.images.schema.declare import OPT, Enum, Field, Msg
from forensics.images.schema.sync.upstream import HINTS

WIDTH = 110
# The declare constant that spells each scalar type and label.
CONSTANTS: dict[str, str] = {
    value: name for name, value in vars(declare).items()
    if name.isupper() and isinstance(value, str) and name not in ("OPT",)
}


def field(f: Field) -> str:
    parts = [str(f.number), json.dumps(f.name), CONSTANTS.get(f.type) or json.dumps(f.type)]
    if f.label != OPT:
        parts.append(CONSTANTS[f.label])
    if f.default is not None:
        parts.append("default=" + (json.dumps(f.default) if isinstance(f.default, str) else repr(f.default)))
    for hint in HINTS:
        value = getattr(f, hint)
        if value:
            parts.append(f"{hint}={value!r}")
    return f"F({', '.join(parts)})"


def enum(e: Enum, indent: int) -> str:
    """One line when it fits (with the comma that follows it), else values packed onto lines
    indented four more, as the modules lay out long enums."""
    values = [f"({json.dumps(name)}, {number})" for name, number in e.values]
    one = f"E({json.dumps(e.name)}, {', '.join(values)})"
    if indent + len(one) + 1 <= WIDTH:
        return one
    lines = [f"E({json.dumps(e.name)},"]
    current = ""
    pad = " " * (indent + 4)
    for i, value in enumerate(values):
        piece = value + ("," if i < len(values) - 1 else ")")
        candidate = f"{current} {piece}" if current else piece
        if current and len(pad) + len(candidate) + 1 > WIDTH:
            lines.append(pad + current)
            candidate = piece
        current = candidate
    lines.append(pad + current)
    return "\n".join(lines)


def message(m: Msg, indent: int) -> str:
    pad, inner = " " * indent, " " * (indent + 4)
    if not m.fields and not m.enums:
        return f"M({json.dumps(m.name)}, [])"
    text = f"M({json.dumps(m.name)}, ["
    text += "".join(f"\n{inner}{field(f)}," for f in m.fields) + f"\n{pad}]"
    if m.enums:
        text += ", [" + "".join(f"\n{inner}{enum(e, indent + 4)}," for e in m.enums) + f"\n{pad}]"
    return text + ")"


def decl(d: Msg | Enum, indent: int) -> str:
    return message(d, indent) if isinstance(d, Msg) else enum(d, indent)
