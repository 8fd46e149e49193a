"""What an archive is compressed with, told by its first bytes, and a decompressing reader with limits.

The file name is never consulted: Podman 5 writes zstd for `--export x.tar.gz`, and containerd's CRI writes
a gzip stream named `rootfs-diff.tar`.

| compression | magic (first bytes)                            | reader                        |
|-------------|------------------------------------------------|-------------------------------|
| gzip        | 1f 8b                                          | gzip.GzipFile (multi-member)  |
| zstd        | 28 b5 2f fd, or a skippable frame 5? 2a 4d 18  | zstandard stream_reader       |
| bzip2       | "BZh" + block size digit '1'..'9'              | bz2.BZ2File                   |
| xz          | fd "7zXZ" 00                                   | lzma.LZMAFile                 |
| none        | a tar header: "ustar" at 257, or a valid       | read in place                 |
|             | header checksum (v7 tar)                       |                               |

Decompression bombs: `GuardedReader` counts the bytes it has produced and refuses to go past
`Limits.max_bytes`, or past `Limits.max_ratio` times the compressed bytes consumed once more than
`Limits.ratio_floor` bytes have come out (CRIU pages of a mostly idle heap compress very well, so small
archives are allowed any ratio).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from forensics.errors import ArchiveError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a compressed archive may expand, and how much of it is read for metadata and listings."""

    max_bytes: int = 64 * GIB        # decompressed bytes read from one archive (and so spilled at most)
    max_ratio: float = 1000.0        # decompressed / compressed, checked once past ratio_floor
    ratio_floor: int = 64 * MIB
    max_members: int = 200_000       # tar headers in one archive (~25,000 processes' images)
    max_meta_bytes: int = 16 * MIB   # a JSON wrapper (config.dump, config.v2.json...) parsed for metadata
    list_budget: int = 64 * MIB      # decompressed bytes a listing reads to find an archive's metadata


DEFAULT_LIMITS = Limits()

_ZSTD = b"\x28\xb5\x2f\xfd"
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (_ZSTD, "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
)
SNIFF_BYTES = 512


def _is_zstd_skippable(head: bytes) -> bool:
    return len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50


def is_tar_header(block: bytes) -> bool:
    """True for a 512-byte block that is a tar header: ustar/GNU magic, or a correct v7 checksum."""
    if len(block) < 512 or block[:512] == bytes(512):
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == unsigned


def sniff(head: bytes) -> str | None:
    """The compression of a file that starts with `head` ("none" for a plain tar), or None if unknown."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    if _is_zstd_skippable(head):
        return "zstd"
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[3:4] != b"0":
        return "bzip2"
    if is_tar_header(head):
        return "none"
    return None


class GuardedReader(io.RawIOBase):
    """The decompressed stream of `raw`, refusing to produce more than the limits allow.

    Raises ArchiveError (path, compressed offset) when a limit is hit; `produced` is how many bytes came out.
    """

    def __init__(self, raw: BinaryIO, compression: str, path: Path | str, limits: Limits,
                 budget: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        self.path = path
        self.limits = limits
        self.budget = budget if budget is not None else limits.max_bytes
        self.produced = 0
        self._inner, self._codec_errors = _decompressor(raw, compression)

    def readable(self) -> bool:
        return True

    @property
    def consumed(self) -> int:
        """Compressed bytes taken from the file so far (approximate: decompressors read ahead)."""
        return self._raw.tell()

    def readinto(self, buffer: WriteableBuffer) -> int:
        room = self.budget - self.produced
        if room <= 0:
            raise ArchiveError(
                f"decompresses to more than {self.budget} bytes; refused as a possible decompression bomb "
                "(raise Limits.max_bytes to read it)", self.path, self.consumed)
        target = memoryview(buffer).cast("B")
        want = min(len(target), room)
        try:
            data = self._inner.read(want)
        except self._codec_errors as exc:
            raise OSError(str(exc)) from None
        n = len(data)
        target[:n] = data
        self.produced += n
        if self.produced > self.limits.ratio_floor:
            ratio = self.produced / max(1, self.consumed)
            if ratio > self.limits.max_ratio:
                raise ArchiveError(
                    f"expands {ratio:.0f} times (more than {self.limits.max_ratio:.0f}) after "
                    f"{self.produced} bytes; refused as a possible decompression bomb", self.path, self.consumed)
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def _decompressor(raw: BinaryIO, compression: str) -> tuple[BinaryIO, tuple[type[Exception], ...]]:
    """The decompressing stream, and the errors of its codec that READ_ERRORS does not name (said as
    OSError, same text, by GuardedReader). zstandard is imported only to read zstd: ~5 ms of every
    command's start otherwise."""
    if compression == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")), ()
    if compression == "zstd":
        import zstandard

        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True,
                                                                          closefd=False)), (zstandard.ZstdError,)
    if compression == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(raw, "rb")), ()
    if compression == "xz":
        return cast(BinaryIO, lzma.LZMAFile(raw, "rb")), ()
    raise ValueError(f"unknown compression {compression!r}")


# What a damaged tar, or a damaged compressed stream under it, raises while being read.
READ_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error, ValueError,  # zstd's: see GuardedReader
)
