"""A classic hexdump: address, 16 bytes in hex, the printable ones as ASCII, `*` for repeated lines."""

from __future__ import annotations

from collections.abc import Iterator


def hexdump_lines(data: bytes, address: int = 0, width: int = 16) -> Iterator[str]:
    previous: bytes | None = None
    starred = False
    for off in range(0, len(data), width):
        row = data[off:off + width]
        if row == previous and len(row) == width and off + width < len(data):
            if not starred:
                yield "*"
                starred = True
            continue
        starred = False
        previous = row
        hexpart = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        ascii_part = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        yield f"{address + off:016x}  {hexpart:<{width * 3}} |{ascii_part}|"
    if data:
        yield f"{address + len(data):016x}"


def hexdump(data: bytes, address: int = 0) -> str:
    return "\n".join(hexdump_lines(data, address))
