"""What an archive member may be. Every rule for hostile archives is here, in one place.

A checkpoint archive is evidence, possibly built by an attacker. Its members are never extracted with
tarfile.extractall and never recreated as links, devices or fifos; only the bytes of regular files are
served (in place, or spilled into the tool's own scratch directory under a checked name). Each rule below
either skips the member with a warning recorded on the source, or stops reading the archive:

| member                                       | decision                                                       |
|----------------------------------------------|----------------------------------------------------------------|
| absolute name ("/etc/x"), or a ".."          | skipped, warning                                               |
| component                                    |                                                                |
| empty name, NUL in the name                  | skipped, warning                                               |
| "." or "./" (the archive root directory)     | ignored                                                        |
| directory                                    | noted, nothing to serve                                        |
| regular file (also contiguous, type "7")     | served                                                         |
| the same file name again                     | the LAST copy is served (what `tar x` and a runtime's restore  |
|                                              | end up with); warning naming both offsets                      |
| symlink named `<images dir>/parent`          | kept as the incremental-dump link, resolved by name inside the |
|                                              | archive, never on the filesystem; a target that leaves the     |
|                                              | archive is refused with a warning                              |
| any other symlink (e.g. to /etc)             | skipped, warning: links are never followed                     |
| a member whose path goes through a symlink   | skipped, warning (the write-through-link attack)               |
| member                                       |                                                                |
| hard link to an earlier regular member       | served as that member's bytes (a tar hard link means "same     |
|                                              | content as member X"); no filesystem link is made              |
| hard link that is absolute, has "..", or     | skipped, warning                                               |
| names no earlier regular member              |                                                                |
| character or block device, fifo              | skipped, warning                                               |
| GNU sparse file                              | skipped, warning (its stored bytes are not the file's bytes)   |
| any other type                               | skipped, warning                                               |
| size or data past the end of the archive     | reading stops there, warning; what came before is kept         |
| more than Limits.max_members headers         | reading stops there, warning                                   |
| a path more than MAX_DEPTH components deep    | skipped, warning (no runtime writes one; spilling it would     |
|                                              | need recursive makedirs/rmtree as deep)                        |
| a GNU long-name/long-link or pax header       | reading stops there, warning (tarfile would read the claimed   |
| claiming more than MAX_HEADER_BYTES           | size into memory: 7 GB for a file name); `SafeTarInfo`         |
| a time that is no date (NaN, inf, 1e20)       | kept as it is in the index; shown as unknown                   |
| decompressed bytes past Limits.max_bytes, or | reading stops, warning; refused (ArchiveError) if no CRIU      |
| past Limits.max_ratio                        | image had been found by then                                   |
| non-zero data after the last readable header | warning (a damaged header, or data appended to the archive)    |
| (uncompressed)                               |                                                                |
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass
from typing import ClassVar

PARENT_LINK = "parent"
MAX_DEPTH = 64       # path components of one member (checkpoint/pages-1.img has 2)


def normalize(name: str) -> str | None:
    """The member's path inside the archive ("./a//b/" -> "a/b"), or None if it is unsafe or empty.

    Unsafe: absolute, or any ".." component (even one that would stay inside after normalisation: an
    archive that needs ".." is not one a runtime wrote).
    """
    if not name or "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def is_root(name: str) -> bool:
    return name.strip("/") in ("", ".")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one member: `action` is "file", "dir", "link" (a parent link), "hardlink", or "skip"
    (then `reason` says why, for the warning); `path` is the normalised name; `target` the link's target."""

    action: str
    path: str = ""
    target: str = ""
    reason: str = ""


def decide(ti: tarfile.TarInfo) -> Decision:
    """Apply the table above to one header (without the duplicate and size rules, which need context)."""
    raw = ti.name
    path = normalize(raw)
    if path is None:
        if ti.isdir() and is_root(raw):
            return Decision("dir", "")
        why = "an absolute path" if raw.startswith("/") else "a '..' component" if ".." in raw.split("/") \
            else "an empty or invalid name"
        return Decision("skip", raw, reason=f"member {raw!r} has {why}; skipped")
    if path == "":
        return Decision("dir", "") if ti.isdir() else Decision("skip", raw, reason=f"member {raw!r} has no name")
    if path.count("/") >= MAX_DEPTH:
        return Decision("skip", path[:200], reason=f"member {path[:200]!r}... is nested {path.count('/') + 1} levels "
                                                 f"deep (more than {MAX_DEPTH}); skipped")
    if ti.issparse():
        return Decision("skip", path, reason=f"member {path!r} is a sparse file; skipped")
    if ti.isreg():
        return Decision("file", path)
    if ti.isdir():
        return Decision("dir", path)
    if ti.issym():
        if posixpath.basename(path) == PARENT_LINK:
            return Decision("link", path, ti.linkname)
        return Decision("skip", path, reason=f"symlink {path!r} -> {ti.linkname!r} skipped: links are never followed")
    if ti.islnk():
        target = normalize(ti.linkname)
        if target is None or target == "":
            return Decision("skip", path, reason=f"hard link {path!r} -> {ti.linkname!r} leaves the archive; skipped")
        return Decision("hardlink", path, target)
    if ti.ischr() or ti.isblk():
        kind = "character" if ti.ischr() else "block"
        return Decision("skip", path, reason=f"{kind} device {path!r} ({ti.devmajor}:{ti.devminor}) skipped")
    if ti.isfifo():
        return Decision("skip", path, reason=f"fifo {path!r} skipped")
    return Decision("skip", path, reason=f"member {path!r} of tar type {ti.type!r} skipped")


MAX_HEADER_BYTES = 1 << 20   # a long name is at most PATH_MAX (4096); pax records with xattrs stay in KiB


class SafeTarInfo(tarfile.TarInfo):
    """tarfile's header parser, refusing extended headers that claim more than MAX_HEADER_BYTES before
    tarfile reads them whole into memory. Pass as `tarinfo=SafeTarInfo` to tarfile.open."""

    _EXTENDED: ClassVar[dict[bytes, str]] = {tarfile.GNUTYPE_LONGNAME: "GNU long-name", tarfile.GNUTYPE_LONGLINK: "GNU long-link",
                 tarfile.XHDTYPE: "pax", tarfile.XGLTYPE: "pax global", tarfile.SOLARIS_XHDTYPE: "Solaris pax"}

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        kind = self._EXTENDED.get(self.type)
        if kind is not None and self.size > MAX_HEADER_BYTES:
            # SubsequentHeaderError: tarfile turns it into a ReadError with this message at any offset.
            raise tarfile.SubsequentHeaderError(  # type: ignore[attr-defined]
                f"a {kind} header at offset {self.offset} claims {self.size} bytes (more than "
                f"{MAX_HEADER_BYTES}); not read")
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]
        return member


def forget_headers(tar: tarfile.TarFile) -> None:
    """Drop the headers tarfile keeps for extraction (we never extract; an index of our own is kept)."""
    tar.members.clear()  # type: ignore[attr-defined]


def resolve_link(link_path: str, target: str) -> str | None:
    """The archive path a symlink at `link_path` names, or None if it is absolute or leaves the archive."""
    if not target or target.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    if joined == ".." or joined.startswith(("../", "/")):
        return None
    return "" if joined == "." else joined
