"""Protobuf message classes built from the schema declarations, without protoc or generated code.

The declarations in `forensics.images.schema` become one proto2 `FileDescriptorProto` in a private
`DescriptorPool` (private so that it can never clash with another library that registers CRIU's own
descriptors under the same names), and classes come from `message_factory.GetMessageClass`.

Building that file costs every command ~40 ms (importing descriptor_pb2 and the schema modules, then
assembling ~200 messages), so the serialized file is cached: the first run writes it under the user's
cache directory, named by a hash of the declarations' source (and this module's, and protobuf's
version), and later runs load it with `AddSerializedFile`. A changed declaration changes the hash, so a
stale cache is never read; an unwritable cache directory only means building every time. The
declarations stay the one source: `MESSAGES`, `ENUMS` and `field_decl` still read them (imported on
first use).
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor_pool, message_factory

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2
    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

    from forensics.images.schema.declare import Enum, Field, Msg

PACKAGE = "criu"
FILE_NAME = "checkpoint_forensics/criu_images.proto"


@cache
def _declarations() -> tuple[dict[str, Msg], dict[str, Enum]]:
    """MESSAGES and ENUMS: every message by name, every enum by name (nested ones as `outer.inner`)."""
    from forensics.images.schema import ALL
    from forensics.images.schema.declare import Enum, Msg

    messages: dict[str, Msg] = {d.name: d for d in ALL if isinstance(d, Msg)}
    enums: dict[str, Enum] = {d.name: d for d in ALL if isinstance(d, Enum)}
    enums.update({f"{m.name}.{e.name}": e for m in messages.values() for e in m.enums})
    return messages, enums


def __getattr__(name: str) -> Any:
    """MESSAGES, ENUMS and POOL are made on first use (PEP 562): most commands need only the pool,
    and that from the cache."""
    if name == "MESSAGES":
        return _declarations()[0]
    if name == "ENUMS":
        return _declarations()[1]
    if name == "POOL":
        return _pool()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from google.protobuf import descriptor_pb2

    from forensics.images.schema import ALL
    from forensics.images.schema.declare import OPT, REP, REQ, SCALARS, Enum

    fdp_type = descriptor_pb2.FieldDescriptorProto
    scalar_types = {
        "uint32": fdp_type.TYPE_UINT32, "uint64": fdp_type.TYPE_UINT64, "int32": fdp_type.TYPE_INT32,
        "int64": fdp_type.TYPE_INT64, "sint32": fdp_type.TYPE_SINT32, "sint64": fdp_type.TYPE_SINT64,
        "bool": fdp_type.TYPE_BOOL, "string": fdp_type.TYPE_STRING, "bytes": fdp_type.TYPE_BYTES,
        "fixed32": fdp_type.TYPE_FIXED32, "fixed64": fdp_type.TYPE_FIXED64,
    }
    labels = {OPT: fdp_type.LABEL_OPTIONAL, REQ: fdp_type.LABEL_REQUIRED, REP: fdp_type.LABEL_REPEATED}
    messages, enums = _declarations()
    fp = descriptor_pb2.FileDescriptorProto(name=FILE_NAME, package=PACKAGE, syntax="proto2")
    for decl in ALL:
        if isinstance(decl, Enum):
            _add_enum(fp, decl)
            continue
        mp = fp.message_type.add(name=decl.name)
        for enum in decl.enums:
            _add_enum(mp, enum)
        for f in decl.fields:
            fdp = mp.field.add(name=f.name, number=f.number, label=labels[f.label])
            if f.type in SCALARS:
                fdp.type = scalar_types[f.type]
            elif f.type in messages:
                fdp.type = fdp_type.TYPE_MESSAGE
                fdp.type_name = f".{PACKAGE}.{f.type}"
            elif f.type in enums:
                fdp.type = fdp_type.TYPE_ENUM
                fdp.type_name = f".{PACKAGE}.{f.type}"
            else:
                raise TypeError(f"{decl.name}.{f.name}: no message or enum called {f.type!r}")
            if f.default is not None:
                fdp.default_value = _default_text(f)
    return fp


def _source_hash() -> str:
    """What the serialized file is made from: the schema modules, this module, protobuf's version."""
    import google.protobuf

    h = hashlib.sha256(google.protobuf.__version__.encode())
    schema = Path(__file__).parent / "schema"
    for path in [Path(__file__), *sorted(schema.glob("*.py"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:24]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "checkpoint-forensics"


def serialized_file() -> bytes:
    """The schema as a serialized FileDescriptorProto: from the cache when it was made from these very
    declarations, else built now (and cached when the cache directory is writable)."""
    path = _cache_dir() / f"criu-images-{_source_hash()}.pb"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = _file_proto().SerializeToString()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: build every time
    return data


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    try:
        pool.AddSerializedFile(serialized_file())
    except Exception:  # noqa: BLE001 - a cache file damaged on disk: rebuild from the declarations
        pool = descriptor_pool.DescriptorPool()
        pool.Add(_file_proto())
    return pool


@cache
def message_class(name: str) -> type[Message]:
    """The class of CRIU message `name` (e.g. "core_entry"); KeyError if the schema has no such message."""
    try:
        desc = _pool().FindMessageTypeByName(f"{PACKAGE}.{name}")
    except KeyError:
        raise KeyError(name) from None
    return message_factory.GetMessageClass(desc)


def descriptor(name: str) -> Descriptor:
    return _pool().FindMessageTypeByName(f"{PACKAGE}.{name}")


def field_decl(message: str, field: str) -> Field:
    """The declaration of one field, for its display hints (hex, flags map, dev, ...)."""
    for f in _declarations()[0][message].fields:
        if f.name == field:
            return f
    raise KeyError(f"{message}.{field}")
