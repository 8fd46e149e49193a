"""Checkpoint archives (Podman, CRI-O/kubelet, containerd exports, or a tar of a CRIU directory).

Two ways in, chosen by the archive's first bytes (`compression.sniff`), never by its name:

- Uncompressed tar: read IN PLACE. The file is opened O_RDONLY and mapped once (ACCESS_READ); tarfile walks
  the headers through a reader over that map, seeking past data, so only headers are touched. Each regular
  member becomes a `Window` (offset of its data, size) of the one map; `read()` slices it. Nothing is
  unpacked or copied, and `path_of()` is None.
- Compressed tar (gzip, zstd, bzip2, xz): streamed once through a `GuardedReader` (the bomb limits). Regular
  members are spilled into a private `ScratchDir` under their checked archive paths (so `path_of()` gives
  a real file whose name is the image name) and then mapped read-only like any file. Headers, padding
  and skipped members are never written. The scratch directory goes when the source is closed, at exit,
  or on SIGTERM/SIGHUP.

`members.py` holds every rule about which members are served. The CRIU images are the direct children of
`checkpoint/` (Podman/CRI-O/containerd), or of the only directory holding an inventory.img (a tar of a
bare image directory, possibly at the top level); every other regular member is a wrapper file.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from forensics.errors import ArchiveError, NotACheckpoint
from forensics.locate import engines
from forensics.locate.compression import READ_ERRORS, SNIFF_BYTES, GuardedReader, Limits, sniff
from forensics.locate.members import PARENT_LINK, decide, forget_headers, resolve_link
from forensics.locate.scratch import ScratchDir
from forensics.records import TimeSource
from forensics.locate.source import TAR, CheckpointMeta, Sizes, Source, image_sizes
from forensics.locate.views import Blob, MappedFile, SharedMap, ViewReader, Window, open_readonly

CHECKPOINT_DIR = "checkpoint"
STREAM_BUFFER = 1 << 20
_COMPRESSED_SUFFIXES = (".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".tar.bz2", ".tar.xz", ".tar")


@dataclass(slots=True)
class Member:
    blob: Blob
    offset: int      # of its header, in the (decompressed) tar stream
    mtime: float


@dataclass
class ArchiveIndex:
    """The members of one archive that may be served, and what was skipped (in `warnings`)."""

    path: Path
    compression: str
    files: dict[str, Member] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)     # parent links: archive path -> target as stored
    warnings: list[str] = field(default_factory=list)
    complete: bool = True                                   # False when reading stopped early
    refused: ArchiveError | None = None                     # the limit that stopped a compressed stream
    shared: SharedMap | None = None
    scratch: ScratchDir | None = None
    _headers: int = 0
    _symlinks: set[str] = field(default_factory=set)

    def close(self) -> None:
        for m in self.files.values():
            m.blob.close()
        if self.shared is not None:
            self.shared.close()
        if self.scratch is not None:
            self.scratch.remove()

    # ---- the rules that need context (members.py has the rest)
    def admit(self, ti: tarfile.TarInfo, limits: Limits) -> tuple[str, str] | None:
        """("file"|"dir", path) for a member to keep, None to skip; links are recorded here."""
        self._headers += 1
        if self._headers > limits.max_members:
            raise _Stop(f"more than {limits.max_members} members; the rest of the archive is not read")
        d = decide(ti)
        if d.action == "skip":
            self.warnings.append(d.reason)
            if ti.issym():
                self._symlinks.add(d.path)
            return None
        under = next((a for a in _ancestors(d.path) if a in self._symlinks), None)
        if under is not None:
            self.warnings.append(f"member {d.path!r} lies under the symlink {under!r} (a write-through-link "
                                 "attack); skipped")
            return None
        if d.action == "link":
            self.links[d.path] = d.target
            self._symlinks.add(d.path)
            return None
        if d.action == "hardlink":
            target = self.files.get(d.target)
            if target is None:
                self.warnings.append(f"hard link {d.path!r} -> {d.target!r} names no earlier regular member; skipped")
                return None
            self._put(d.path, Member(target.blob, ti.offset, ti.mtime))
            return None
        return d.action, d.path

    def _put(self, path: str, member: Member) -> None:
        old = self.files.get(path)
        if old is not None:
            self.warnings.append(f"member {path!r} appears again at offset {member.offset} (first at offset "
                                 f"{old.offset}); the last copy is used")
        self.files[path] = member


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class _Stop(Exception):
    """Reading stops here; the message becomes a warning."""


def open_tar(fileobj: object, compression: str, path: Path | str) -> tarfile.TarFile:
    """tarfile over `fileobj`: seekable headers in place for "none", one forward pass otherwise.

    Raises NotACheckpoint when the first header is not a tar header.
    """
    try:
        if compression == "none":
            return tarfile.open(fileobj=fileobj, mode="r:")  # type: ignore[call-overload]
        return tarfile.open(fileobj=fileobj, mode="r|", bufsize=STREAM_BUFFER)  # type: ignore[call-overload]
    except READ_ERRORS as exc:
        what = "not a tar archive" if compression == "none" else f"{compression}-compressed, but not a tar archive"
        raise NotACheckpoint(f"{what} ({exc})", path) from None


def sniff_file(path: Path) -> str | None:
    """The compression of the file at `path` ("none" for a plain tar) or None if it is no tar we know."""
    fd = open_readonly(path, follow=True)
    try:
        return sniff(os.pread(fd, SNIFF_BYTES, 0))
    finally:
        os.close(fd)


# ------------------------------------------------------------------ uncompressed: in place

def index_in_place(path: Path, limits: Limits) -> ArchiveIndex:
    shared = SharedMap(path)
    index = ArchiveIndex(path, "none", shared=shared)
    try:
        tar = open_tar(ViewReader(shared.view), "none", path)
    except NotACheckpoint:
        shared.close()
        raise
    try:
        _index_in_place(tar, shared, index, limits)
    except _Stop as stop:
        index.warnings.append(str(stop))
        index.complete = False
    finally:
        tar.close()
    return index


def _index_in_place(tar: tarfile.TarFile, shared: SharedMap, index: ArchiveIndex, limits: Limits) -> None:
    while True:
        try:
            ti = tar.next()
        except tarfile.TarError as exc:
            raise _Stop(f"damaged tar header at offset {tar.offset} ({exc})") from None
        if ti is None:
            _check_trailer(shared, tar.offset, index)
            return
        forget_headers(tar)
        kept = index.admit(ti, limits)
        if kept is None or kept[0] != "file":
            continue
        if ti.offset_data + ti.size > shared.size:
            raise _Stop(f"member {kept[1]!r} claims {ti.size} bytes at offset {ti.offset_data}, past the end "
                        f"of the archive ({shared.size} bytes); it and everything after it are skipped")
        index._put(kept[1], Member(Window(shared.view, ti.offset_data, ti.size), ti.offset, ti.mtime))


def _check_trailer(shared: SharedMap, end: int, index: ArchiveIndex) -> None:
    """After the last header only zero blocks may follow; anything else is a damaged header or appended data."""
    view = shared.view
    step = 1 << 20
    zero = bytes(step)
    for pos in range(end, shared.size, step):
        chunk = view[pos:min(pos + step, shared.size)]
        if chunk != zero[:len(chunk)]:
            first = next(i for i, b in enumerate(chunk.tobytes()) if b)
            index.warnings.append(f"data at offset {pos + first} after the last readable header at offset {end} "
                                  "is not part of the archive (a damaged header, or data appended to the file)")
            index.complete = False
            return


# ------------------------------------------------------------------ compressed: stream once, spill

def index_spilled(path: Path, compression: str, limits: Limits) -> ArchiveIndex:
    scratch = ScratchDir()
    index = ArchiveIndex(path, compression, scratch=scratch)
    try:
        fd = open_readonly(path, follow=True)
        with os.fdopen(fd, "rb") as raw:
            guard = GuardedReader(raw, compression, path, limits)
            try:
                with open_tar(guard, compression, path) as tar:
                    _stream_members(tar, index, limits, scratch.path)
            except ArchiveError as exc:       # a bomb limit: keep what was read before it
                index.warnings.append(str(exc))
                index.complete = False
                index.refused = exc
            except _Stop as stop:
                index.warnings.append(str(stop))
                index.complete = False
    except BaseException:
        index.close()
        raise
    return index


def _stream_members(tar: tarfile.TarFile, index: ArchiveIndex, limits: Limits, root: Path) -> None:
    dups = 0
    while True:
        try:
            ti = tar.next()
        except READ_ERRORS as exc:
            raise _Stop(f"archive damaged after decompressed offset {tar.offset} ({exc}); the rest is not read") \
                from None
        if ti is None:
            return
        forget_headers(tar)
        kept = index.admit(ti, limits)
        if kept is None or kept[0] != "file":
            continue
        name = kept[1]
        if name in index.files:
            dups += 1
            dest = root / f"dup-{dups}" / name
        else:
            dest = root / "members" / name
        try:
            os.makedirs(dest.parent, mode=0o700, exist_ok=True)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            index.warnings.append(f"member {name!r} could not be kept ({exc.strerror}); skipped")
            continue
        try:
            with os.fdopen(fd, "wb") as out:
                written = _copy(tar, ti, name, out)
        except OSError as exc:          # the last buffered write, at close
            dest.unlink()
            raise _Stop(f"member {name!r} could not be written to the scratch directory ({exc.strerror}); "
                        "the rest of the archive is not read") from None
        except BaseException:
            dest.unlink()
            raise
        index._put(name, Member(MappedFile(dest, written), ti.offset, ti.mtime))


def _copy(tar: tarfile.TarFile, ti: tarfile.TarInfo, name: str, out: BinaryIO) -> int:
    """Copy one member's bytes from the stream to `out`; _Stop if the stream or the disk gives out."""
    src = tar.extractfile(ti)
    assert src is not None
    written = 0
    while True:
        try:
            chunk = src.read(STREAM_BUFFER)
        except READ_ERRORS as exc:
            raise _Stop(f"member {name!r} ({ti.size} bytes at decompressed offset {ti.offset_data}) is cut off "
                        f"after {written} bytes ({exc}); it and everything after it are skipped") from None
        if not chunk:
            return written
        try:
            out.write(chunk)
        except OSError as exc:
            raise _Stop(f"member {name!r} could not be written to the scratch directory {exc.filename or ''} "
                        f"({exc.strerror}); the rest of the archive is not read") from None
        written += len(chunk)


# ------------------------------------------------------------------ the source

def open_index(path: Path, limits: Limits) -> ArchiveIndex:
    compression = sniff_file(path)
    if compression is None:
        raise NotACheckpoint("expected a CRIU image directory, a Docker checkpoint name, or a checkpoint "
                             "archive (tar, plain or gzip/zstd/bzip2/xz-compressed)", path)
    if compression == "none":
        return index_in_place(path, limits)
    return index_spilled(path, compression, limits)


def image_dirs(index: ArchiveIndex) -> list[str]:
    """Archive directories holding an inventory.img ("" for the top level)."""
    return sorted({posixpath.dirname(n) for n in index.files if posixpath.basename(n) == "inventory.img"})


def choose_images_dir(index: ArchiveIndex) -> str:
    dirs = image_dirs(index)
    if CHECKPOINT_DIR in dirs:
        return CHECKPOINT_DIR
    if len(dirs) == 1:
        return dirs[0]
    if dirs:
        # Several image directories: the newest dump is the one no other directory's parent link names.
        named = {resolve_link(link, t) for link, t in index.links.items()}
        heads = [d for d in dirs if d not in named]
        if len(heads) == 1:
            return heads[0]
        raise NotACheckpoint(f"holds several CRIU image directories ({', '.join(d or '.' for d in dirs)}); "
                             "expected one checkpoint/", index.path)
    if index.refused is not None:
        raise index.refused
    raise NotACheckpoint("is a tar archive without CRIU images (expected checkpoint/inventory.img)", index.path)


def children(index: ArchiveIndex, directory: str) -> dict[str, Member]:
    prefix = f"{directory}/" if directory else ""
    return {n[len(prefix):]: m for n, m in index.files.items()
            if n.startswith(prefix) and "/" not in n[len(prefix):]}


def checkpoint_name_of(path: Path) -> str:
    name = path.name
    for suffix in _COMPRESSED_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


class ArchiveSource(Source):
    """A checkpoint inside an archive; its parent (if any) is another directory of the same archive."""

    def __init__(self, name: str, index: ArchiveIndex, images_dir: str, meta: CheckpointMeta, *,
                 owner: bool, visited: tuple[str, ...] = ()) -> None:
        members = children(index, images_dir)
        images = {n: m.blob for n, m in members.items()}
        all_dirs = set(image_dirs(index))
        wrappers = {} if not owner else {
            n: m.blob for n, m in index.files.items() if posixpath.dirname(n) not in all_dirs}
        super().__init__(name, meta, images, wrappers)
        self.index = index
        self.images_dir = images_dir
        self._owner = owner
        self._visited = (*visited, images_dir)
        self._parent: Source | None = None
        self._parent_done = False
        if owner:
            self.warnings[:0] = index.warnings
            for link in index.links:
                if posixpath.basename(link) == PARENT_LINK and posixpath.dirname(link) in all_dirs:
                    continue
                self.warnings.append(f"symlink {link!r} skipped: links are never followed")

    def parent(self) -> Source | None:
        if self._parent_done:
            return self._parent
        self._parent_done = True
        link = posixpath.join(self.images_dir, PARENT_LINK) if self.images_dir else PARENT_LINK
        stored = self.index.links.get(link)
        if stored is None:
            return None
        target = resolve_link(link, stored)
        if target is None:
            self.warnings.append(f"parent link {link!r} -> {stored!r} leaves the archive; not followed")
            return None
        if target in self._visited:
            self.warnings.append(f"parent link {link!r} -> {stored!r} makes a loop; the chain stops here")
            return None
        if target not in image_dirs(self.index):
            self.warnings.append(f"parent link {link!r} -> {stored!r}: the archive has no CRIU images there")
            return None
        meta = dataclasses.replace(self.meta, checkpoint_name=target or ".", warnings=[],
                                   sizes=Sizes(archive=self.meta.sizes.archive))
        parent = ArchiveSource(f"{self.name}:{target}", self.index, target, meta, owner=False,
                               visited=self._visited)
        parent.meta.sizes.images, parent.meta.sizes.pages = image_sizes(parent._images)
        inv = self.index.files.get(posixpath.join(target, "inventory.img"))
        parent.meta.checkpoint_time = engines.file_mtime(inv.mtime, f"{target}/inventory.img", TimeSource.ARCHIVE_MEMBER) \
            if inv else None
        self._parent = parent
        return parent

    def _release(self) -> None:
        if self._parent is not None:
            self._parent.close()
        if self._owner:
            self.index.close()


def open_archive(path: Path, name: str, limits: Limits) -> ArchiveSource:
    """Open a checkpoint archive (any compression); raises NotACheckpoint / ArchiveError."""
    index = open_index(path, limits)
    try:
        images_dir = choose_images_dir(index)
        meta = archive_meta(index, images_dir, limits)
        return ArchiveSource(name, index, images_dir, meta, owner=True)
    except BaseException:
        index.close()
        raise


def archive_meta(index: ArchiveIndex, images_dir: str | None, limits: Limits | None = None) -> CheckpointMeta:
    """The meta of an indexed archive (every header read)."""
    limits = limits or Limits()
    files = index.files

    def content(name: str) -> bytes | None:
        m = files.get(name)
        return m.blob.view().tobytes() if m is not None else None

    return build_meta(index.path, index.compression, {n: m.blob.size for n, m in files.items()},
                      {n: m.mtime for n, m in files.items()}, content, images_dir, complete=True, limits=limits)


def build_meta(path: Path, compression: str, sizes: Mapping[str, int], mtimes: Mapping[str, float],
               content: Callable[[str], bytes | None], images_dir: str | None, *, complete: bool,
               limits: Limits) -> CheckpointMeta:
    """Meta from an archive's member names, sizes and mtimes, and the bytes of its small JSON wrappers.

    `complete` False (a listing that read only the start of a compressed archive) leaves image sizes None.
    """
    meta = CheckpointMeta(path=path, kind=TAR, layout="criu-tar", compression=compression,
                          checkpoint_name=checkpoint_name_of(path))
    warnings = meta.warnings

    def small(name: str) -> bytes | None:
        size = sizes.get(name)
        if size is None:
            return None
        if size > limits.max_meta_bytes:
            warnings.append(f"{name} is {size} bytes, more than the {limits.max_meta_bytes} read for metadata")
            return None
        return content(name)

    config = engines.load_json(small("config.dump"), "config.dump", warnings)
    spec = engines.load_json(small("spec.dump"), "spec.dump", warnings)
    if config is not None or spec is not None:
        meta.layout = "container-archive"
        engines.fill_from_container_dumps(meta, config, spec, "status.dump" in sizes)
        meta.kind = engines.ARCHIVE_KIND.get(meta.engine or "", TAR)
    if images_dir is not None:
        inv = posixpath.join(images_dir, "inventory.img") if images_dir else "inventory.img"
        if meta.checkpoint_time is None and inv in mtimes:
            meta.checkpoint_time = engines.file_mtime(mtimes[inv], inv, TimeSource.ARCHIVE_MEMBER)
    meta.sizes.archive = os.stat(path).st_size
    meta.sizes.rootfs_diff = sizes.get("rootfs-diff.tar")
    if complete and images_dir is not None:
        prefix = f"{images_dir}/" if images_dir else ""
        direct = {n[len(prefix):]: s for n, s in sizes.items()
                  if n.startswith(prefix) and "/" not in n[len(prefix):]}
        meta.sizes.images = sum(direct.values())
        meta.sizes.pages = sum(s for n, s in direct.items() if n.startswith("pages-") and n.endswith(".img"))
    return meta
