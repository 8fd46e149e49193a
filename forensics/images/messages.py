"""Protobuf message classes built at import time from the schema declarations.

No protoc and no generated code: the declarations in `forensics.images.schema` become one proto2
`FileDescriptorProto` in a private `DescriptorPool` (private so that it can never clash with another
library that registers CRIU's own descriptors under the same names), and classes come from
`message_factory.GetMessageClass`. Building takes a few milliseconds.
"""

from __future__ import annotations

from functools import cache

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from forensics.images.schema import ALL
from forensics.images.schema.declare import OPT, REP, REQ, SCALARS, Enum, Field, Msg

PACKAGE = "criu"
FILE_NAME = "checkpoint_forensics/criu_images.proto"

_FDP = descriptor_pb2.FieldDescriptorProto
_SCALAR_TYPES = {
    "uint32": _FDP.TYPE_UINT32, "uint64": _FDP.TYPE_UINT64, "int32": _FDP.TYPE_INT32,
    "int64": _FDP.TYPE_INT64, "sint32": _FDP.TYPE_SINT32, "sint64": _FDP.TYPE_SINT64,
    "bool": _FDP.TYPE_BOOL, "string": _FDP.TYPE_STRING, "bytes": _FDP.TYPE_BYTES,
    "fixed32": _FDP.TYPE_FIXED32, "fixed64": _FDP.TYPE_FIXED64,
}
_LABELS = {OPT: _FDP.LABEL_OPTIONAL, REQ: _FDP.LABEL_REQUIRED, REP: _FDP.LABEL_REPEATED}

MESSAGES: dict[str, Msg] = {d.name: d for d in ALL if isinstance(d, Msg)}
ENUMS: dict[str, Enum] = {d.name: d for d in ALL if isinstance(d, Enum)}
ENUMS.update({f"{m.name}.{e.name}": e for m in MESSAGES.values() for e in m.enums})


def _default_text(f: Field) -> str:
    """A default in the text form descriptor.proto wants (enum defaults by value name)."""
    value = f.default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add_enum(container: descriptor_pb2.FileDescriptorProto | descriptor_pb2.DescriptorProto,
              enum: Enum) -> None:
    ep = container.enum_type.add(name=enum.name)
    for name, number in enum.values:
        ep.value.add(name=name, number=number)


def _file_proto() -> descriptor_pb2.FileDescriptorProto:
    fp = descriptor_pb2.FileDescriptorProto(name=FILE_NAME, package=PACKAGE, syntax="proto2")
    for decl in ALL:
        if isinstance(decl, Enum):
            _add_enum(fp, decl)
            continue
        mp = fp.message_type.add(name=decl.name)
        for enum in decl.enums:
            _add_enum(mp, enum)
        for f in decl.fields:
            fdp = mp.field.add(name=f.name, number=f.number, label=_LABELS[f.label])
            if f.type in SCALARS:
                fdp.type = _SCALAR_TYPES[f.type]
            elif f.type in MESSAGES:
                fdp.type = _FDP.TYPE_MESSAGE
                fdp.type_name = f".{PACKAGE}.{f.type}"
            elif f.type in ENUMS:
                fdp.type = _FDP.TYPE_ENUM
                fdp.type_name = f".{PACKAGE}.{f.type}"
            else:
                raise TypeError(f"{decl.name}.{f.name}: no message or enum called {f.type!r}")
            if f.default is not None:
                fdp.default_value = _default_text(f)
    return fp


POOL = descriptor_pool.DescriptorPool()
POOL.Add(_file_proto())


@cache
def message_class(name: str) -> type[Message]:
    """The class of CRIU message `name` (e.g. "core_entry"); KeyError if the schema has no such message."""
    if name not in MESSAGES:
        raise KeyError(name)
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


def descriptor(name: str) -> Descriptor:
    return POOL.FindMessageTypeByName(f"{PACKAGE}.{name}")


def field_decl(message: str, field: str) -> Field:
    """The declaration of one field, for its display hints (hex, flags map, dev, ...)."""
    for f in MESSAGES[message].fields:
        if f.name == field:
            return f
    raise KeyError(f"{message}.{field}")
