"""Opening CRIU image files and decoding their entries, lazily and without trusting them.

`open_image(path)` reads at most the first 8 bytes to learn the image's kind (from its magic, or from
its name for the header-less raw images) and nothing else. `Image.entries()` then decodes entry by
entry. Damage never raises: decoding stops (or skips one entry, when the framing is intact and nothing
depends on the broken payload), and `Image.errors` holds an ImageError naming the file and the byte
offset of the damaged structure, while every entry before it stays available (`Image.partial`).

Offsets in errors point at: the header word (0 or 4) for header damage; an entry's size word for a
frame that is cut short or claims more bytes than remain; an entry's payload (size word + 4) for a
payload protobuf rejects or that lacks required fields; the first byte of an EXTRA payload that runs past
the end of the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from forensics.errors import ForensicsError, ImageError
from forensics.images.extra import READERS, Blob, Extra, take
from forensics.images.framing import ByteOrder, Header, parse_header, read_frame
from forensics.images.magic import (
    BY_MAGIC,
    RAW_IMAGE,
    UNKNOWN,
    ImageKind,
    Layout,
    kind_by_filename,
)
from forensics.images.messages import message_class
from forensics.images.unknown import UnknownField, find_unknown
from forensics.openfile import map_fd, open_regular

# Files up to this size are read into memory; larger ones (ghost files, big pipe buffers) are mapped.
READ_LIMIT = 16 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded entry.

    `offset` is the byte offset of the entry's u32 size word in the file, `size` the payload length,
    `message` the decoded protobuf message, `extra` the EXTRA payload that followed it (see
    `forensics.images.extra`; for ghost files the file content or chunk data), `unknown_fields` what the
    schema could not place (empty for images written by CRIU 4.2.1).
    """

    offset: int
    size: int
    message: Message
    extra: Extra | None = None
    unknown_fields: tuple[UnknownField, ...] = ()

    @property
    def payload_offset(self) -> int:
        return self.offset + 4

    @property
    def type_name(self) -> str:
        return self.message.DESCRIPTOR.name


def encode_entry(entry: Entry) -> bytes:
    """The entry's message serialised again (payload bytes only, without the size word).

    For an entry CRIU wrote this equals the original payload; unknown fields are kept (protobuf appends
    them after the known ones). Partial serialisation, so an entry with a missing required field can
    still be written out for inspection.
    """
    return entry.message.SerializePartialToString()


@dataclass(eq=False)
class Image:
    """One image file. Construct with `open_image`.

    `kind` comes from the magic (or the name, for raw files); `header` is None for raw, unknown or
    damaged files. Entries are decoded on demand; `load()` decodes them all once and remembers them.
    """

    path: Path
    kind: ImageKind
    header: Header | None
    file_size: int
    warnings: list[str] = field(default_factory=list)
    _header_errors: list[ImageError] = field(default_factory=list, repr=False)
    _errors: list[ImageError] | None = field(default=None, repr=False)
    _entries: list[Entry] | None = field(default=None, repr=False)
    _view: memoryview | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def magic(self) -> str:
        """The magic's name as crit prints it ("CORE", "PAGEMAP", ...), or the raw kind's name."""
        return self.kind.name

    @property
    def byteorder(self) -> ByteOrder:
        return self.header.byteorder if self.header else "little"

    @property
    def decodable(self) -> bool:
        """Whether the file holds protobuf entries (raw and unknown files do not)."""
        return self.header is not None and (self.kind.message is not None or self.kind.layout is Layout.PAGEMAP)

    @property
    def errors(self) -> list[ImageError]:
        """Every damage found; decodes the whole image first if that has not happened yet."""
        if self._errors is None:
            self.load()
        assert self._errors is not None
        return self._errors

    @property
    def partial(self) -> bool:
        """True when damage cut decoding short or made entries unreliable."""
        return bool(self.errors)

    def data(self) -> memoryview:
        """The file's bytes (read or mapped once; views into it stay valid as long as they are held)."""
        if self._view is None:
            self._view = _read(self.path, self.file_size)
        return self._view

    def payload(self, entry: Entry) -> bytes:
        """The raw payload bytes of `entry` as stored in the file."""
        return self.data()[entry.payload_offset:entry.payload_offset + entry.size].tobytes()

    def load(self) -> list[Entry]:
        """All entries (decoded once, then remembered); damage is in `errors`."""
        if self._entries is None:
            errors: list[ImageError] = []
            self._entries = list(self._decode(errors))
            self._errors = errors
        return self._entries

    def entries(self) -> Iterator[Entry]:
        """The entries in file order, decoded lazily. Pagemap images yield the pagemap_head first;
        ghost files yield the ghost_file_entry, then one entry per chunk of chunked content."""
        if self._entries is not None:
            yield from self._entries
            return
        errors: list[ImageError] = []
        done: list[Entry] = []
        for entry in self._decode(errors):
            done.append(entry)
            yield entry
        self._entries, self._errors = done, errors

    # ---------------------------------------------------------------- decoding

    def _decode(self, errors: list[ImageError]) -> Iterator[Entry]:
        errors.extend(self._header_errors)
        if not self.decodable:
            return
        assert self.header is not None
        path, layout = str(self.path), self.kind.layout
        data = self.data()
        order = self.header.byteorder
        if layout is Layout.PAGEMAP:
            first, rest = "pagemap_head", "pagemap_entry"
        elif layout is Layout.GHOST:
            first, rest = "ghost_file_entry", "ghost_chunk_entry"
        else:
            assert self.kind.message is not None  # decodable
            first = rest = self.kind.message
        reader = READERS.get(self.kind.extra) if self.kind.extra else None
        # Without a frame of its own, an EXTRA blob's length is only known from a decoded entry; if an
        # entry is unreadable nothing after it can be located.
        fatal_payload = reader is not None or layout is Layout.GHOST
        offset, count, end = self.header.length, 0, len(data)
        while offset < end:
            try:
                frame = read_frame(data, offset, order, path)
            except ImageError as exc:
                errors.append(exc)
                return
            if count >= 1 and layout is Layout.SINGLE and reader is None:
                # Only the first entry of a one-entry image is used: the rest are counted by their frames,
                # not parsed (a forged core-N.img of 50,000 copies must not cost 50,000 decodings).
                offset, count = frame.end, count + 1
                continue
            type_name = first if count == 0 else rest
            msg = message_class(type_name)()
            try:
                msg.ParseFromString(frame.payload)  # type: ignore[arg-type]  # any buffer; stubs say bytes
            except Exception as exc:  # noqa: BLE001 - protobuf's backends differ in what hostile bytes raise
                errors.append(ImageError(f"{type_name} payload does not decode: {exc}", path, frame.offset + 4))
                if fatal_payload:
                    return
                offset, count = frame.end, count + 1
                continue
            if not msg.IsInitialized():
                missing = ", ".join(msg.FindInitializationErrors())  # type: ignore[attr-defined]  # not in stubs
                errors.append(ImageError(f"{type_name} lacks required field(s) {missing}", path, frame.offset + 4))
            extra: Extra | None = None
            next_offset = frame.end
            try:
                if layout is Layout.GHOST:
                    extra, next_offset = _ghost_extra(data, frame.end, msg, count, path)
                elif reader is not None:
                    extra, next_offset = reader(data, frame.end, msg, order, path)
            except ImageError as exc:
                errors.append(exc)
                return
            yield Entry(frame.offset, frame.size, msg, extra, tuple(find_unknown(msg)))
            offset, count = next_offset, count + 1
        if count == 0 and layout in (Layout.SINGLE, Layout.PAGEMAP, Layout.GHOST):
            errors.append(ImageError(f"{self.kind.name} image has no entry", path, self.header.length))
        elif count > 1 and layout is Layout.SINGLE:
            self.warnings.append(f"{self.kind.name} image should hold one entry but holds {count}")


def _ghost_extra(data: memoryview, offset: int, msg: Any, index: int, path: str) -> tuple[Blob | None, int]:
    """A ghost file's content: everything after the first entry, or `len` bytes after each chunk entry."""
    if index == 0:
        if msg.chunks:
            return None, offset
        blob = Blob(offset, len(data) - offset, data[offset:])
        return blob, len(data)
    blob = take(data, offset, msg.len, path, "ghost file chunk")
    return blob, offset + blob.length


def _read(path: Path, size: int) -> memoryview:
    if size == 0:
        return memoryview(b"")
    try:
        fd, st = open_regular(path)
    except ForensicsError as exc:
        raise ImageError(exc.message, path) from None
    try:
        if st.st_size <= READ_LIMIT:
            with os.fdopen(os.dup(fd), "rb") as f:
                return memoryview(f.read(READ_LIMIT))
        mapped = map_fd(fd, st.st_size, path)
        return memoryview(mapped) if mapped is not None else memoryview(b"")
    except ForensicsError as exc:
        raise ImageError(exc.message, path) from None
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror}", path) from None
    finally:
        os.close(fd)


def open_image(path: str | os.PathLike[str]) -> Image:
    """Open one image file and learn its kind; no entry is decoded yet.

    Raises ImageError only if the file cannot be opened; every other problem (unknown magic, empty file,
    name and magic that disagree) is recorded on the Image. Files no CRIU format describes become
    kind UNKNOWN with no entries and no error.
    """
    p = Path(path)
    try:
        fd, st = open_regular(p, follow=True)
    except ForensicsError as exc:
        raise ImageError(exc.message, p) from None
    try:
        head = os.pread(fd, 8, 0)
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror}", p) from None
    finally:
        os.close(fd)
    return _classify(p, head, st.st_size, None)


def open_image_data(path: str | os.PathLike[str], data: memoryview) -> Image:
    """The same for bytes already at hand (a member of an archive read in place): `path` names it in
    errors and its file name tells raw kinds apart; nothing is copied."""
    return _classify(Path(path), bytes(data[:8]), len(data), data)


def _classify(p: Path, head: bytes, size: int, view: memoryview | None) -> Image:
    by_name = kind_by_filename(p.name)
    if by_name is not None and by_name.layout is Layout.RAW and by_name.magic == RAW_IMAGE:
        return Image(p, by_name, None, size, _view=view)
    try:
        header = parse_header(memoryview(head), str(p))
    except ImageError as exc:
        return Image(p, by_name or UNKNOWN, None, size, _header_errors=[exc], _view=view)
    if header is None:
        if by_name is None:
            return Image(p, UNKNOWN, None, size, _view=view)
        what = "file is empty" if not head else f"first word {head[:4].hex(' ')} is no CRIU magic"
        return Image(p, by_name, None, size, _header_errors=[ImageError(what, p, 0)], _view=view)
    kind = BY_MAGIC[header.magic]
    image = Image(p, kind, header, size, _view=view)
    if by_name is not None and by_name is not kind:
        image.warnings.append(f"the file name says {by_name.name} but the magic says {kind.name}")
    if header.prefix is not kind.prefix:
        image.warnings.append(f"{kind.name} image with {header.prefix} prefix, CRIU writes {kind.prefix}")
    return image


def list_images(directory: str | os.PathLike[str]) -> list[Image]:
    """Every regular file of a checkpoint directory, opened (not decoded), sorted by name. Links such as
    `parent` and subdirectories are left out."""
    d = Path(directory)
    return [open_image(p) for p in sorted(d.iterdir()) if p.is_file() and not p.is_symlink()]
