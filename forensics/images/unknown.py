"""Finding what the schema does not describe inside a decoded message.

protobuf keeps fields it does not know (and, for proto2's closed enums, known fields holding a value
the enum lacks) as unknown fields, and drops them from `ListFields()`. A forensic decoder must not lose
them: they are the sign of an image written by a newer CRIU (4.2's pagemap `nr_pages` looked like this
to 4.1) or of a forged record. This walks a message tree and reports every one with where it sits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

WIRE_TYPES = {0: "varint", 1: "fixed64", 2: "length-delimited", 3: "group-start", 4: "group-end", 5: "fixed32"}


@dataclass(frozen=True, slots=True)
class UnknownField:
    """One field the schema could not place.

    `where` is the dotted path of the message that holds it ("" for the entry itself,
    "tc.sigactions[3]" deeper down); `known_as` names the declared field with that number when the
    value was rejected by a closed enum (an enum value newer than the schema).
    """

    where: str
    number: int
    wire_type: int
    value: int | bytes
    known_as: str | None = None

    def __str__(self) -> str:
        at = f"{self.where}." if self.where else ""
        what = f"{at}{self.known_as}" if self.known_as else f"{at}#{self.number}"
        value = self.value.hex() if isinstance(self.value, bytes) else self.value
        kind = "unknown enum value" if self.known_as else f"unknown {WIRE_TYPES.get(self.wire_type, '?')} field"
        return f"{kind} {what} = {value}"


@cache
def _message_fields(desc: Descriptor) -> tuple[tuple[str, bool], ...]:
    """(name, repeated) of the message-typed fields: the only places unknown fields can hide below."""
    return tuple((f.name, f.is_repeated) for f in desc.fields if f.type == FieldDescriptor.TYPE_MESSAGE)


def _value(data: object) -> int | bytes:
    if isinstance(data, int):
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    # A group: a nested UnknownFieldSet. Groups never occur in CRIU images; keep a marker, not a crash.
    return b""


def find_unknown(msg: Message, where: str = "") -> list[UnknownField]:
    """Every unknown field in `msg` and the messages inside it."""
    if not _has_unknown(msg):
        return []
    found: list[UnknownField] = []
    _walk(msg, where, found)
    return found


def _has_unknown(msg: Message) -> bool:
    """Whether any message in the tree holds an unknown field, in protobuf's C code: a copy without them
    (DiscardUnknownFields is recursive) serializes shorter exactly when there was one, since each
    unknown field costs at least its tag byte. The walk in Python below costs ~10x more per message and
    is needed only for the rare message that has one."""
    try:
        bare = type(msg)()
        bare.CopyFrom(msg)
        bare.DiscardUnknownFields()
        return bare.ByteSize() != msg.ByteSize()
    except Exception:  # noqa: BLE001 - e.g. ByteSize of a message that lacks a required field: walk it
        return True


def _walk(msg: Message, where: str, found: list[UnknownField]) -> None:
    desc = msg.DESCRIPTOR
    unknown = UnknownFieldSet(msg)
    if len(unknown):
        by_number = desc.fields_by_number
        for uf in (unknown[i] for i in range(len(unknown))):   # the stubs give it no __iter__
            declared = by_number.get(uf.field_number)
            found.append(UnknownField(where, uf.field_number, uf.wire_type, _value(uf.data),
                                      declared.name if declared is not None else None))
    for name, repeated in _message_fields(desc):
        prefix = f"{where}.{name}" if where else name
        if repeated:
            for i, sub in enumerate(getattr(msg, name)):
                _walk(sub, f"{prefix}[{i}]", found)
        elif msg.HasField(name):
            _walk(getattr(msg, name), prefix, found)
