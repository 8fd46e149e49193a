"""CRIU's image messages as a given pycriu states them, translated into our declaration vocabulary.

pycriu ships one protoc-generated `<name>_pb2.py` per CRIU `.proto` file; each embeds its
`FileDescriptorProto` serialized as a bytes literal. Three ways to get at those descriptors:
- `from_rootfs`: run the rootfs's own python3 under chroot, import its installed pycriu and print
  every module's descriptor (what "the installed pycriu" means: the file list is whatever that CRIU
  version ships, never a list of ours);
- `from_pb2_dir`: read the bytes literal out of each `*_pb2.py` with `ast`, without running it (any
  CRIU release's files, copied out of a package or a guest: nothing foreign is executed);
- `from_descriptor_set`: a serialized `FileDescriptorSet`, as `protoc --include_imports
  --descriptor_set_out` writes it from CRIU's source tree.

CRIU's display hints are `(criu).hex` and friends: an extension of `google.protobuf.FieldOptions`
declared in opts.proto. They are read by parsing each field's options with a private message that
has the extension's field number and type, so no descriptor is ever registered in protobuf's default
pool and the extension's number and option names come from the files themselves.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from forensics.images.schema.declare import OPT, REP, REQ, Enum, Field, Msg

_FDP = descriptor_pb2.FieldDescriptorProto
SCALARS: dict[int, str] = {
    _FDP.TYPE_UINT32: "uint32", _FDP.TYPE_UINT64: "uint64", _FDP.TYPE_INT32: "int32",
    _FDP.TYPE_INT64: "int64", _FDP.TYPE_SINT32: "sint32", _FDP.TYPE_SINT64: "sint64",
    _FDP.TYPE_BOOL: "bool", _FDP.TYPE_STRING: "string", _FDP.TYPE_BYTES: "bytes",
    _FDP.TYPE_FIXED32: "fixed32", _FDP.TYPE_FIXED64: "fixed64",
}
LABELS: dict[int, str] = {_FDP.LABEL_OPTIONAL: OPT, _FDP.LABEL_REQUIRED: REQ, _FDP.LABEL_REPEATED: REP}
_INTEGERS = frozenset(SCALARS.values()) - {"bool", "string", "bytes"}
# Field attributes of ours that hold a `(criu)` option; everything else in Field is wire format.
HINTS: tuple[str, ...] = tuple(f.name for f in fields(Field))[5:]
FIELD_OPTIONS = ".google.protobuf.FieldOptions"

# Run by the rootfs's python3 under chroot: prints the installed pycriu's descriptors as one
# FileDescriptorSet. Only the standard library and that python's own protobuf (3.x or later).
COLLECT = r"""
import importlib, os, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import pycriu.images
from google.protobuf import descriptor_pb2
here = os.path.dirname(pycriu.images.__file__)
out = descriptor_pb2.FileDescriptorSet()
for name in sorted(os.listdir(here)):
    if name.endswith("_pb2.py"):
        module = importlib.import_module("pycriu.images." + name[:-3])
        out.file.add().MergeFromString(module.DESCRIPTOR.serialized_pb)
sys.stdout.buffer.write(out.SerializeToString())
"""


class UpstreamError(Exception):
    """The reference descriptors could not be read (no pycriu there, a file that is no _pb2 module)."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """One CRIU release's image messages: declarations in our vocabulary, the `.proto` file each
    came from, and what could not be stated in our vocabulary (with the reason)."""

    source: str
    decls: tuple[Msg | Enum, ...]
    proto_of: dict[str, str]
    problems: tuple[str, ...]


def from_rootfs(rootfs: Path, timeout: float = 120) -> Upstream:
    """The descriptors of the pycriu installed in `rootfs`, read by importing it there (needs root)."""
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        raise UpstreamError("reading an installed pycriu runs chroot, which needs root; "
                            "give --pb2-dir ROOTFS/usr/lib/python3/dist-packages/pycriu/images instead")
    try:
        p = subprocess.run(["chroot", str(rootfs), "python3", "-c", COLLECT], capture_output=True,
                           timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpstreamError(f"{rootfs}: cannot run python3 there: {exc}") from None
    if p.returncode != 0:
        tail = p.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise UpstreamError(f"{rootfs}: python3 could not import pycriu: {tail[0]}")
    return translate(_parse_set(p.stdout, str(rootfs)), f"pycriu installed in {rootfs}")


def from_descriptor_set(path: Path) -> Upstream:
    """The descriptors in a serialized FileDescriptorSet file."""
    return translate(_parse_set(path.read_bytes(), str(path)), str(path))


def from_pb2_dir(directory: Path) -> Upstream:
    """The descriptors embedded in every `*_pb2.py` of a directory (a pycriu package or its images/
    folder), read as literals: the modules are parsed, never run."""
    if (directory / "images").is_dir() and not any(directory.glob("*_pb2.py")):
        directory = directory / "images"
    paths = sorted(directory.glob("*_pb2.py"))
    if not paths:
        raise UpstreamError(f"{directory}: no *_pb2.py files")
    return translate([serialized_descriptor(p) for p in paths], str(directory))


def installed_pb2_dir(rootfs: Path) -> Path | None:
    """Where a rootfs's pycriu keeps its *_pb2.py files, if it has one."""
    for pattern in ("usr/lib/python3*/dist-packages/pycriu/images",
                    "usr/lib/python3*/site-packages/pycriu/images",
                    "usr/local/lib/python3*/dist-packages/pycriu/images",
                    "usr/local/lib/python3*/site-packages/pycriu/images"):
        for found in sorted(rootfs.glob(pattern)):
            if found.is_dir():
                return found
    return None


def serialized_descriptor(path: Path) -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto a protoc-generated module embeds: the argument of
    `AddSerializedFile(b'...')` (protoc 3.20 and later) or `serialized_pb=b'...'` (earlier, where
    Python-2-compatible output wraps it as `_b('...')`)."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError) as exc:
        raise UpstreamError(f"{path}: not Python: {exc}") from None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        candidates: list[ast.expr] = []
        if name == "AddSerializedFile" and node.args:
            candidates.append(node.args[0])
        candidates += [k.value for k in node.keywords if k.arg == "serialized_pb"]
        for expr in candidates:
            raw = _literal_bytes(expr)
            if raw is not None:
                fdp = descriptor_pb2.FileDescriptorProto()
                try:
                    fdp.ParseFromString(raw)
                except DecodeError:
                    raise UpstreamError(f"{path}: the embedded descriptor does not parse") from None
                return fdp
    raise UpstreamError(f"{path}: no serialized descriptor (AddSerializedFile or serialized_pb) in it")


def _literal_bytes(expr: ast.expr) -> bytes | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, bytes):
        return expr.value
    if isinstance(expr, ast.Call) and len(expr.args) == 1 and isinstance(expr.args[0], ast.Constant):
        value = expr.args[0].value   # _b('...'): a str holding one byte per character
        if isinstance(value, str):
            return value.encode("latin-1")
    return None


def _parse_set(raw: bytes, where: str) -> list[descriptor_pb2.FileDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet()
    try:
        fds.ParseFromString(raw)
    except DecodeError:
        raise UpstreamError(f"{where}: not a serialized FileDescriptorSet") from None
    if not fds.file:
        raise UpstreamError(f"{where}: no descriptors in it")
    return list(fds.file)


class _Options:
    """Reads the `(criu)` extension out of a FieldOptions: a private message with one field of the
    extension's number and type parses the options' bytes, where the extension is an unknown field."""

    def __init__(self, files: Sequence[descriptor_pb2.FileDescriptorProto]) -> None:
        self.view: type[Message] | None = None
        self.names: tuple[str, ...] = ()
        for fdp in files:
            for ext in fdp.extension:
                if ext.extendee == FIELD_OPTIONS and ext.type == _FDP.TYPE_MESSAGE:
                    self._build(fdp, ext)
                    return

    def _build(self, fdp: descriptor_pb2.FileDescriptorProto,
               ext: descriptor_pb2.FieldDescriptorProto) -> None:
        wanted = ext.type_name.rsplit(".", 1)[-1]
        options = next((m for m in fdp.message_type if m.name == wanted), None)
        if options is None:
            return
        private = descriptor_pb2.FileDescriptorProto(name="checkpoint_forensics/sync_options.proto",
                                                     package="sync", syntax="proto2")
        private.message_type.add().CopyFrom(options)
        view = private.message_type.add(name="options_view")
        view.field.add(name="opts", number=ext.number, label=_FDP.LABEL_OPTIONAL, type=_FDP.TYPE_MESSAGE,
                       type_name=f".sync.{options.name}")
        pool = descriptor_pool.DescriptorPool()
        pool.Add(private)
        self.view = message_factory.GetMessageClass(pool.FindMessageTypeByName("sync.options_view"))
        self.names = tuple(f.name for f in options.field)

    def of(self, fdp: descriptor_pb2.FieldDescriptorProto) -> dict[str, object]:
        if self.view is None or not fdp.HasField("options"):
            return {}
        parsed = self.view.FromString(fdp.options.SerializeToString())
        for _, opts in parsed.ListFields():   # the view's one field, when the options set it
            return {f.name: value for f, value in opts.ListFields()}
        return {}


def _is_options_file(fdp: descriptor_pb2.FileDescriptorProto) -> bool:
    return fdp.name.startswith("google/protobuf/") or any(e.extendee == FIELD_OPTIONS for e in fdp.extension)


def translate(files: Iterable[descriptor_pb2.FileDescriptorProto], source: str) -> Upstream:
    """Our declarations for every message and enum of `files` (the options vocabulary itself left out)."""
    files = list(files)
    options = _Options(files)
    decls: list[Msg | Enum] = []
    proto_of: dict[str, str] = {}
    problems: list[str] = []
    if options.view is None:
        problems.append("no file declares the (criu) field options (opts.proto is missing): "
                        "display hints cannot be read")
    for fdp in files:
        if _is_options_file(fdp):
            continue
        prefix = f".{fdp.package}." if fdp.package else "."
        for ep in fdp.enum_type:
            decls.append(_enum(ep))
            proto_of[ep.name] = fdp.name
        for mp in fdp.message_type:
            decls.append(_message(mp, prefix, options, problems))
            proto_of[mp.name] = fdp.name
    return Upstream(source, tuple(decls), proto_of, tuple(problems))


def _enum(ep: descriptor_pb2.EnumDescriptorProto) -> Enum:
    return Enum(ep.name, tuple((v.name, v.number) for v in ep.value))


def _message(mp: descriptor_pb2.DescriptorProto, prefix: str, options: _Options, problems: list[str]) -> Msg:
    for nested in mp.nested_type:
        problems.append(f"{mp.name}.{nested.name}: a nested message, which declare.Msg cannot state "
                        "(declare it at top level and extend messages.py to nest it)")
    out: list[Field] = []
    for fp in mp.field:
        where = f"{mp.name}.{fp.name}"
        if fp.type in SCALARS:
            type_name = SCALARS[fp.type]
        elif fp.type in (_FDP.TYPE_MESSAGE, _FDP.TYPE_ENUM):
            type_name = fp.type_name.removeprefix(prefix).lstrip(".")
        else:
            problems.append(f"{where}: wire type {_FDP.Type.Name(fp.type)} is not in declare.SCALARS")
            continue
        hints: dict[str, object] = {}
        for name, value in options.of(fp).items():
            if name in HINTS:
                hints[name] = value
            else:
                problems.append(f"{where}: (criu).{name} is an option declare.Field has no attribute for")
        default = _default(fp, type_name) if fp.HasField("default_value") else None
        out.append(Field(fp.number, fp.name, type_name, LABELS[fp.label], default, **hints))  # type: ignore[arg-type]
    return Msg(mp.name, tuple(out), tuple(_enum(e) for e in mp.enum_type))


def _default(fp: descriptor_pb2.FieldDescriptorProto, type_name: str) -> bool | int | str:
    """A default as ours states it: Python bool or int for those types, else the text (enum value
    names, strings)."""
    text = fp.default_value
    if type_name == "bool":
        return text == "true"
    if type_name in _INTEGERS:
        return int(text, 0)
    return text
