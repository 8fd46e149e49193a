"""How each column kind reads as text and as JSON: one place, so every renderer agrees.

Text is for people (terminal, plain pipes, CSV, HTML cells); JSON keeps exact values. Strings that come
from the evidence are escaped for text: a process can set its own name or argv to terminal control
sequences (colours, a window title, a screen clear), and those must reach an analyst's terminal as
visible `\\x1b` text, never as commands.
"""

from __future__ import annotations

import base64
from typing import Any

from forensics.records import Kind, Timestamp
from forensics.records.escape import shown


def printable(text: str) -> str:
    """Evidence text safe for a terminal: forensics.records.escape.shown, the one escaping function (C0
    controls, tab included, DEL, C1, lone surrogates and bidi controls as \\xNN / \\uNNNN)."""
    return shown(text)


def printable_bytes(data: bytes) -> str:
    """Raw bytes as text: printable ASCII kept, everything else \\xNN (like a C string literal)."""
    return "".join(chr(b) if 0x20 <= b < 0x7f and b != 0x5c else ("\\\\" if b == 0x5c else f"\\x{b:02x}")
                   for b in data)


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def text(value: Any, kind: Kind, *, human: bool = True) -> str:
    """One cell as text. None is empty; `human` uses units for sizes (terminals), else exact numbers."""
    if value is None:
        return ""
    if kind is Kind.ADDRESS or kind is Kind.HEX:
        return f"0x{value:x}" if isinstance(value, int) else printable(str(value))
    if kind is Kind.SIZE:
        return human_size(value) if human and isinstance(value, int) else str(value)
    if kind is Kind.TIME:
        return value.text() if isinstance(value, Timestamp) else printable(str(value))
    if kind is Kind.WORDS:
        return ", ".join(printable(str(v)) for v in value) if isinstance(value, (list, tuple)) else printable(str(value))
    if kind is Kind.BYTES:
        return printable_bytes(bytes(value)) if isinstance(value, (bytes, bytearray, memoryview)) \
            else printable(str(value))
    if kind is Kind.BOOL:
        return "yes" if value else "no"
    if kind is Kind.VALUE and isinstance(value, str):
        return '"' + printable(value) + '"'
    if isinstance(value, str):
        return printable(value)
    return str(value)


def json_value(value: Any, kind: Kind) -> Any:
    """One cell as a JSON value: numbers stay numbers, bytes become {"hex", "text"}, times carry their
    source."""
    if value is None:
        return None
    if kind is Kind.TIME and isinstance(value, Timestamp):
        return value.doc()
    if kind is Kind.BYTES and isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return {"hex": raw.hex(), "text": raw.decode("utf-8", "backslashreplace")}
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (int, float, str, bool, list, dict)):
        return value
    return str(value)
