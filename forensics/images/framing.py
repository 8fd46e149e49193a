"""The byte layout around the protobuf payloads: image header and entry frames.

    image  ::= [prefix magic] magic { entry }        prefix = IMG_COMMON or IMG_SERVICE
    entry  ::= u32 size, payload[size] [extra]

inventory.img has no prefix, raw images have no header at all. All words are in the dumping host's byte
order: little-endian except on s390x. The one layout here is a u32 word, so it is declared as a plain
`struct.Struct` per byte order: construct would add nothing to a single word but its import (~25 ms of
every command's start, with pdb behind it) and its per-call overhead.

Nothing here trusts a size: a frame that claims more bytes than the file has left is an ImageError at
the frame's offset, so a forged 0xFFFFFFFF costs nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from forensics.errors import ImageError
from forensics.images.magic import BY_MAGIC, IMG_COMMON, IMG_SERVICE, Prefix

ByteOrder = Literal["little", "big"]

# One u32 word (magic or entry size) in each byte order.
WORD: dict[ByteOrder, struct.Struct] = {"little": struct.Struct("<I"), "big": struct.Struct(">I")}
WORD_SIZE = 4


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed image header: the per-type magic, what preceded it, and where entries start."""

    byteorder: ByteOrder
    prefix: Prefix
    magic: int
    length: int


def _word(data: memoryview, offset: int, order: ByteOrder) -> int:
    value: int = WORD[order].unpack_from(data, offset)[0]
    return value


def parse_header(data: memoryview, path: str) -> Header | None:
    """The header of `data`, or None when its first word is no CRIU magic in either byte order (a raw
    or foreign file; the caller decides from the file name whether that is damage).

    A known prefix followed by an unknown or missing magic is damage and raises ImageError at offset 4.
    """
    if len(data) < WORD_SIZE:
        return None
    for order in ("little", "big"):
        first = _word(data, 0, order)
        if first in (IMG_COMMON, IMG_SERVICE):
            prefix = Prefix.COMMON if first == IMG_COMMON else Prefix.SERVICE
            if len(data) < 2 * WORD_SIZE:
                raise ImageError("header ends after the common magic", path, WORD_SIZE)
            second = _word(data, WORD_SIZE, order)
            if second not in BY_MAGIC:
                raise ImageError(f"unknown image magic {second:#010x} after the {prefix} magic", path, WORD_SIZE)
            return Header(order, prefix, second, 2 * WORD_SIZE)
        if first in BY_MAGIC:
            # inventory.img, or an images-v1.0 file (one magic only, before CRIU 1.6).
            return Header(order, Prefix.NONE, first, WORD_SIZE)
    return None


@dataclass(frozen=True, slots=True)
class Frame:
    """One entry's frame: `offset` of its size word, `size` of its payload."""

    offset: int
    size: int
    payload: memoryview

    @property
    def end(self) -> int:
        return self.offset + WORD_SIZE + self.size


def read_frame(data: memoryview, offset: int, order: ByteOrder, path: str) -> Frame:
    """The frame starting at `offset` (which must be before the end of `data`)."""
    left = len(data) - offset
    if left < WORD_SIZE:
        raise ImageError(f"entry size word cut short: {left} of 4 bytes", path, offset)
    (size,) = WORD[order].unpack_from(data, offset)
    if size > left - WORD_SIZE:
        raise ImageError(f"entry claims {size} payload bytes but only {left - WORD_SIZE} remain", path, offset)
    start = offset + WORD_SIZE
    return Frame(offset, size, data[start:start + size])


def frames(data: memoryview, offset: int, order: ByteOrder, path: str) -> Iterator[Frame]:
    """Every frame from `offset` to the end, for images whose entries carry no EXTRA payload."""
    end = len(data)
    while offset < end:
        frame = read_frame(data, offset, order, path)
        yield frame
        offset = frame.end

