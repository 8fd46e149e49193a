"""Readers of the raw EXTRA payload that follows an entry in some images.

An EXTRA blob has no frame of its own: its length comes from fields of the entry before it, and a
reader that gets that rule wrong misreads every later entry. The rules, per CRIU 4.2's writers:

| image              | after each entry                                    | length                         |
|--------------------|-----------------------------------------------------|--------------------------------|
| pipes-/fifo-data   | pipe contents                                        | `bytes`                        |
| sk-queues          | one queued packet                                    | `length`                       |
| tcp-stream         | receive queue, then send queue                       | `inq_len`, then `outq_len`     |
| bpfmap-data        | keys, then values                                    | `keys_bytes`, `values_bytes`   |
| ipcns-sem          | `nsems` u16 semaphore values                         | 2*nsems rounded up to 8        |
| ipcns-msg          | `qnum` x (u32 size, ipc_msg, `msize` bytes)          | each text rounded up to 8      |
| ipcns-shm          | segment bytes, only when `in_pagemaps` is not set    | `size` rounded up to 4         |

(pre-3.0 images; since 3.0 shm contents live in pagemap-shmem-<id> + pages). Ghost files are a layout of
their own and are handled by the decoder. Blobs are views into the image bytes, never copies, because
they can be as large as the data a process had in flight.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError, Message

from forensics.errors import ImageError
from forensics.images.framing import ByteOrder, read_frame
from forensics.images.messages import message_class
from forensics.images.unknown import UnknownField, find_unknown


@dataclass(frozen=True, slots=True)
class Blob:
    """`length` raw bytes at byte `offset` of the image file; `data` is a view of them."""

    offset: int
    length: int
    data: memoryview = field(repr=False, compare=False)

    def tobytes(self) -> bytes:
        return self.data.tobytes()


@dataclass(frozen=True, slots=True)
class TcpQueues:
    """The unread receive queue and the unacknowledged send queue of one TCP socket."""

    inq: Blob
    outq: Blob


@dataclass(frozen=True, slots=True)
class BpfMapData:
    """A bpf map's keys array and values array (key_size*count and value_size*count bytes)."""

    keys: Blob
    values: Blob


@dataclass(frozen=True, slots=True)
class SemaphoreValues:
    """The values of one SysV semaphore set; `blob` covers them without the alignment padding."""

    blob: Blob
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One message of a SysV message queue: its `ipc_msg` header (mtype, msize) and its text."""

    offset: int
    header: Message
    text: Blob
    unknown_fields: tuple[UnknownField, ...] = ()


Extra = Blob | TcpQueues | BpfMapData | SemaphoreValues | tuple[QueuedMessage, ...]
Reader = Callable[[memoryview, int, Any, ByteOrder, str], tuple[Extra | None, int]]


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def take(data: memoryview, offset: int, length: int, path: str, what: str) -> Blob:
    """`length` bytes at `offset`, or an ImageError at `offset` if the file ends first."""
    left = len(data) - offset
    if length > left:
        raise ImageError(f"{what}: needs {length} bytes, the file has {left} left", path, offset)
    return Blob(offset, length, data[offset:offset + length])


def _skip(data: memoryview, offset: int, length: int, path: str, what: str) -> int:
    take(data, offset, length, path, what)
    return offset + length


def read_pipe_data(data: memoryview, offset: int, msg: Any, order: ByteOrder, path: str) -> tuple[Blob, int]:
    blob = take(data, offset, msg.bytes, path, "pipe data")
    return blob, offset + blob.length


def read_sk_queue(data: memoryview, offset: int, msg: Any, order: ByteOrder, path: str) -> tuple[Blob, int]:
    blob = take(data, offset, msg.length, path, "queued packet")
    return blob, offset + blob.length


def read_tcp_stream(data: memoryview, offset: int, msg: Any, order: ByteOrder,
                    path: str) -> tuple[TcpQueues, int]:
    inq = take(data, offset, msg.inq_len, path, "TCP receive queue")
    outq = take(data, inq.offset + inq.length, msg.outq_len, path, "TCP send queue")
    return TcpQueues(inq, outq), outq.offset + outq.length


def read_bpfmap_data(data: memoryview, offset: int, msg: Any, order: ByteOrder,
                     path: str) -> tuple[BpfMapData, int]:
    keys = take(data, offset, msg.keys_bytes, path, "bpf map keys")
    values = take(data, keys.offset + keys.length, msg.values_bytes, path,
                  "bpf map values")
    return BpfMapData(keys, values), values.offset + values.length


def read_ipc_sem(data: memoryview, offset: int, msg: Any, order: ByteOrder,
                 path: str) -> tuple[SemaphoreValues, int]:
    nsems = msg.nsems
    blob = take(data, offset, 2 * nsems, path, "semaphore values")
    end = _skip(data, offset, round_up(2 * nsems, 8), path, "semaphore values padding")
    values = struct.unpack(("<" if order == "little" else ">") + f"{nsems}H", blob.data)
    return SemaphoreValues(blob, values), end


def read_ipc_msg(data: memoryview, offset: int, msg: Any, order: ByteOrder,
                 path: str) -> tuple[tuple[QueuedMessage, ...], int]:
    header_class = message_class("ipc_msg")
    queued: list[QueuedMessage] = []
    for _ in range(msg.qnum):
        frame = read_frame(data, offset, order, path)
        header: Any = header_class()   # a class built at run time: mypy cannot know its fields
        try:
            header.ParseFromString(frame.payload)
        except DecodeError as exc:
            raise ImageError(f"queued message header does not decode: {exc}", path, frame.offset + 4) from None
        text = take(data, frame.end, header.msize, path, "queued message text")
        offset = _skip(data, frame.end, round_up(text.length, 8), path, "queued message padding")
        queued.append(QueuedMessage(frame.offset, header, text, tuple(find_unknown(header))))
    return tuple(queued), offset


def read_ipc_shm(data: memoryview, offset: int, msg: Any, order: ByteOrder,
                 path: str) -> tuple[Blob | None, int]:
    if msg.in_pagemaps:
        return None, offset  # contents are in pagemap-shmem-<id>.img, nothing follows the entry
    blob = take(data, offset, msg.size, path, "shared memory segment")
    return blob, _skip(data, offset, round_up(blob.length, 4), path, "shared memory padding")


READERS: dict[str, Reader] = {
    "pipe_data": read_pipe_data,
    "sk_queue": read_sk_queue,
    "tcp_stream": read_tcp_stream,
    "bpfmap_data": read_bpfmap_data,
    "ipc_sem": read_ipc_sem,
    "ipc_msg": read_ipc_msg,
    "ipc_shm": read_ipc_shm,
}
