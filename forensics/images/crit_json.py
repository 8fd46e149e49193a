"""A decoded image in exactly the JSON shape `crit decode` (CRIU 4.2.1, without --pretty) prints.

It exists so tests can hold our decoding against the reference tool field by field; the toolkit's own
JSON output is the renderers' business. crit's conventions, as its pb2dict/images modules apply them:

- `{"magic": NAME, "entries": [...]}`; the common/service prefix is not shown;
- only fields present on the wire, by name; enums by value name; integers as numbers;
- bytes as base64 with the MIME line breaks of `base64.encodebytes` (a newline every 76 characters and
  at the end), except fields marked `conv=unix_name` (unix socket names), which are quoted-printable;
- EXTRA under `"extra"`: base64 for pipe/fifo data, queued packets, bpf map data, ipc shm segments and
  ghost file content (for chunked ghost files, under each chunk entry); `{"inq", "outq"}` for TCP
  queues; the list of values for semaphores; alternating `[ipc_msg, base64 text, ...]` for message
  queues. crit reads `size` bytes after every ipc shm entry even when they live in pagemaps, which at
  the end of the file gives an empty string: that is what is shown for those.

Unknown fields are dropped here, as crit drops them; `Entry.unknown_fields` keeps them.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from forensics.errors import ImageError
from forensics.images.decode import Entry, Image
from forensics.images.extra import Blob, BpfMapData, QueuedMessage, SemaphoreValues, TcpQueues
from forensics.images.messages import MESSAGES

JSON = Any


def b64(data: bytes | memoryview) -> str:
    return base64.encodebytes(bytes(data)).decode()


def _unix_name(data: bytes) -> str:
    return quopri.encodestring(data).decode()


_converters: dict[str, Callable[[Any], JSON]] = {}


def _converter(fd: FieldDescriptor) -> Callable[[Any], JSON]:
    conv = _converters.get(fd.full_name)
    if conv is not None:
        return conv
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        conv = message_json
    elif fd.type == FieldDescriptor.TYPE_BYTES:
        assert fd.containing_type is not None   # a field always belongs to a message
        owner = MESSAGES[fd.containing_type.name]
        decl = next(f for f in owner.fields if f.number == fd.number)
        conv = _unix_name if decl.conv == "unix_name" else b64
    elif fd.type == FieldDescriptor.TYPE_ENUM:
        assert fd.enum_type is not None   # an enum field always names its enum
        names = {v.number: v.name for v in fd.enum_type.values}
        conv = names.__getitem__
    else:
        conv = _identity
    _converters[fd.full_name] = conv
    return conv


def _identity(value: Any) -> Any:
    return value


def message_json(msg: Message) -> dict[str, JSON]:
    """One message as crit's pb2dict renders it without --pretty."""
    out: dict[str, JSON] = {}
    for fd, value in msg.ListFields():
        conv = _converter(fd)
        out[fd.name] = [conv(v) for v in value] if fd.is_repeated else conv(value)
    return out


def extra_json(entry: Entry) -> JSON:
    extra = entry.extra
    if isinstance(extra, Blob):
        return b64(extra.data)
    if isinstance(extra, TcpQueues):
        return {"inq": b64(extra.inq.data), "outq": b64(extra.outq.data)}
    if isinstance(extra, BpfMapData):
        return b64(bytes(extra.keys.data) + bytes(extra.values.data))
    if isinstance(extra, SemaphoreValues):
        return list(extra.values)
    if isinstance(extra, tuple):
        out: list[JSON] = []
        for queued in extra:
            assert isinstance(queued, QueuedMessage)
            out += [message_json(queued.header), b64(queued.text.data)]
        return out
    return None


def entry_json(entry: Entry, magic: str) -> dict[str, JSON]:
    d = message_json(entry.message)
    if entry.extra is not None:
        d["extra"] = extra_json(entry)
    elif magic == "IPCNS_SHM":
        d["extra"] = ""  # crit reads `size` bytes past the last segment anyway and finds none
    return d


def image_json(image: Image) -> dict[str, JSON]:
    """`crit decode` output for `image`. Raises ImageError for raw/unknown files (crit cannot decode
    them either) and for damaged images (crit would fail or print something else)."""
    if not image.decodable:
        raise ImageError(f"crit cannot decode {image.magic} files", image.path)
    entries = image.load()
    if image.errors:
        raise image.errors[0]
    return {"magic": image.magic, "entries": [entry_json(e, image.magic) for e in entries]}
