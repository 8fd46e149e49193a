"""One exception family for every input problem.

Every error that can reach a user names the file and, where it applies, the byte offset, so the CLI can
print one line and an analyst can go straight to the damaged spot with a hex editor. Errors never carry
memory contents: a checkpoint's memory holds other people's secrets.
"""

from __future__ import annotations

from pathlib import Path


class ForensicsError(Exception):
    """An input that cannot be read as what it claims to be."""

    def __init__(self, message: str, path: str | Path | None = None, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.offset = offset

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.offset is not None:
                where += f" at byte {self.offset}"
            where += ": "
        return where + self.message


class ImageError(ForensicsError):
    """A CRIU image file whose framing or payload is damaged."""


class NotACheckpoint(ForensicsError):
    """A path that is none of the checkpoint forms the tool knows."""


class ArchiveError(ForensicsError):
    """A checkpoint archive that is damaged or hostile."""


class UsageError(ForensicsError):
    """A mistake in what the user typed (a missing file, an unknown pid, a bad option value): one line
    with a hint, exit code 2, never "internal error"."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message + (f" ({hint})" if hint else ""))
