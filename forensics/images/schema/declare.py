"""The vocabulary in which the schema modules state CRIU's protobuf messages.

CRIU describes its images with proto2 `.proto` files. This project keeps its own statement of the same
facts (names, field numbers, types, labels, enum values) as plain Python data, so the format is readable
and checkable without protoc, and `forensics.images.messages` turns it into protobuf classes at import
time. Display hints that CRIU attaches as `(criu)` field options (hex, IP address, flag map, device
number, dict, custom conversion) are kept as attributes of the field: they matter only to renderers and
to the crit-compatible JSON, never to the wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Scalar wire types, spelled as in a .proto file.
U32 = "uint32"
U64 = "uint64"
I32 = "int32"
I64 = "int64"
S32 = "sint32"
S64 = "sint64"
BOOL = "bool"
STRING = "string"
BYTES = "bytes"
FIXED32 = "fixed32"
FIXED64 = "fixed64"

SCALARS = frozenset({U32, U64, I32, I64, S32, S64, BOOL, STRING, BYTES, FIXED32, FIXED64})

# Labels (proto2).
OPT = "optional"
REQ = "required"
REP = "repeated"


@dataclass(frozen=True, slots=True)
class Field:
    """One field: `type` is a scalar name above, or the name of a message or enum declared somewhere in
    the schema (nested enums as `outer.inner`)."""

    number: int
    name: str
    type: str
    label: str = OPT
    default: bool | int | str | None = None
    hex: bool = False
    ipadd: bool = False
    flags: str | None = None
    dev: bool = False
    odev: bool = False
    dict: str | None = None
    conv: str | None = None


def F(number: int, name: str, type: str, label: str = OPT, **hints: object) -> Field:
    """Shorthand used by the schema modules: `F(1, "vaddr", U64, REQ, hex=True)`."""
    return Field(number, name, type, label, **hints)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Enum:
    """A closed proto2 enum: value names and numbers."""

    name: str
    values: tuple[tuple[str, int], ...]


def E(name: str, *values: tuple[str, int]) -> Enum:
    return Enum(name, tuple(values))


@dataclass(frozen=True, slots=True)
class Msg:
    """A message with its fields; `enums` are enums scoped inside it (as CRIU nests `march` in
    `core_entry`), which keeps their value names from clashing with top-level ones."""

    name: str
    fields: tuple[Field, ...]
    enums: tuple[Enum, ...] = field(default=())


def M(name: str, fields: list[Field], enums: list[Enum] | None = None) -> Msg:
    return Msg(name, tuple(fields), tuple(enums or ()))
