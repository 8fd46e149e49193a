"""The one entry point that composes the floors: locate -> images -> model -> memory layout.

`load_checkpoint` (alias `open_checkpoint`) takes whatever the user named, opens it read-only through
forensics.locate, decodes its images, builds the typed model with forensics.model's pure builders and
attaches each process's memory reader (forensics.memory.space). The model itself imports neither locate
nor memory; this module is the only place that knows all three.

`ImageSet` opens each image the first time something asks for it and keeps it, so a checkpoint with
hundreds of processes decodes each file once; every decoding error lands in one list with its file and
byte offset, and what decoded before the damage is still used.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from forensics.errors import ArchiveError, ForensicsError, ImageError, NotACheckpoint
from forensics.images.decode import Image, open_image_data
from forensics.locate import metajson
from forensics.locate.compression import SNIFF_BYTES, GuardedReader, Limits, sniff
from forensics.locate.engines import valid_timestamp
from forensics.locate.members import SafeTarInfo, forget_headers
from forensics.locate.resolve import open_checkpoint as open_source
from forensics.locate.views import ViewReader, open_evidence
from forensics.locate.rootfs_diff import rootfs_diff
from forensics.locate.source import Source
from forensics.records import Timestamp, TimeSource
from forensics.images.magic import kind_by_filename
from forensics.images.pagemap import pagemap_runs
from forensics.memory.space import PE_PARENT, AddressSpace, MemoryGap, PageStore, layout, read_string_table
from forensics.memory import predump
from forensics.model import build
from forensics.model.checkpoint import (
    CgroupSet, Checkpoint, CheckpointInfo, ImageKind, ImageStatus, NamespaceUse, RootfsEntry, TarMember,
    TmpfsArchive,
)
from forensics.model.files import Memfd
from forensics.model import syscalls
from forensics.model.process import Arch, Process

PAGE_SIZE = 4096   # the fallback page size only: see page_size_of
MAX_TMPFS_MEMBERS = 100_000
# A tmpfs archive is only listed, but listing a gzip stream means inflating all of it.
TMPFS_LIMITS = Limits(max_bytes=16 << 30)
STDIO_BYTES = 1 << 20          # descriptors.json: CRIU writes three short strings
AT_PAGESZ = 6


class ImageSet:
    """The image files of one checkpoint (any Source: a directory, an archive read in place), decoded on
    first use."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.directory = Path(str(source.meta.path))
        self.names = source.list()
        self._names = set(self.names)
        self._images: dict[str, Image] = {}
        self._unreadable: set[str] = set()
        self.errors: list[str] = []
        self._noted: set[str] = set()   # errors already in the list: a damaged image can repeat one per entry
        self.warnings: list[str] = list(source.warnings)

    def exists(self, name: str) -> bool:
        return name in self._names

    def image(self, name: str) -> Image | None:
        if name not in self._names:
            return None
        if name not in self._images:
            data = self._read(name)
            if data is None:
                return None
            img = open_image_data(self.directory / name, data)
            self._images[name] = img
            self.warnings.extend(f"{name}: {w}" for w in img.warnings)
        return self._images[name]

    def _read(self, name: str) -> memoryview | None:
        """The bytes of one image, or None with the reason in `errors` (a file that vanished, became a
        fifo, or cannot be mapped under the address-space limit): one unreadable image costs what needs
        it, not the whole checkpoint."""
        if name in self._unreadable:
            return None
        try:
            return self.source.read(name)
        except ForensicsError as exc:
            self._unreadable.add(name)
            self.note_errors([exc if exc.path else ImageError(exc.message, self.directory / name)])
            return None

    def note_errors(self, errors: list[Any]) -> None:
        for e in errors:
            msg = str(e)
            if msg not in self._noted:
                self._noted.add(msg)
                self.errors.append(msg)

    def _loaded(self, name: str) -> list[Any]:
        img = self.image(name)
        if img is None:
            return []
        self.note_errors(img.errors)
        expected = kind_by_filename(name)
        if expected is not None and img.header is not None and img.kind is not expected:
            # The name says what the model will read it as; entries of another kind would be misread.
            self.note_errors([ImageError(f"the file name says {expected.name} but the magic says {img.kind.name}; "
                                         "not used", img.path, 0)])
            return []
        return img.load() if img.decodable else []

    def entries(self, name: str) -> list[Any]:
        return [e.message for e in self._loaded(name)]

    def extras(self, name: str) -> list[tuple[Any, bytes | None]]:
        out = []
        for e in self._loaded(name):
            extra = e.extra
            out.append((e.message, extra.tobytes() if hasattr(extra, "tobytes") else None))
        return out

    def raw(self, name: str) -> memoryview:
        data = self._read(name) if name in self._names else None
        return data if data is not None else memoryview(b"")

    def warn(self, message: str) -> None:
        self.warnings.append(message)


MESSAGES_KEPT = 3    # of one shape, kept word for word before the rest is counted
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def collapse_messages(messages: list[str], what: str, kept: int = MESSAGES_KEPT) -> list[str]:
    """The same warning or error about 100,000 threads, fds or pagemap entries is one fact, not 100,000
    lines: messages that differ only in their numbers (one shape) keep their first `kept` in full, then one
    line counts the rest ("99,997 more warnings like: ..."). Without this a forged pstree of 100,000
    thread-less processes printed 100,000 warnings, and a pagemap of a million damaged entries a million
    errors, burying every other message and costing more than the decoding."""
    shapes: Counter[str] = Counter()
    out: list[str] = []
    for m in messages:
        shape = _NUMBERS.sub("N", m)
        shapes[shape] += 1
        if shapes[shape] <= kept:
            out.append(m)
    for shape, count in shapes.items():
        if count > kept:
            out.append(f"{count - kept:,} more {what} like: {shape}")
    return out


# ------------------------------------------------------------------ memory

def page_size_of(mm: Any) -> int:
    """A process's page size: the AT_PAGESZ entry of the auxv CRIU saved in its mm image (4K, 16K or 64K,
    the sizes Linux runs with on x86_64 and arm64); PAGE_SIZE only when the auxv says nothing usable."""
    auxv = list(mm.mm_saved_auxv)
    for i in range(0, len(auxv) - 1, 2):
        if auxv[i] == AT_PAGESZ and auxv[i + 1] in (4096, 16384, 65536):
            return auxv[i + 1]
    return PAGE_SIZE


class Memory:
    """Page stores of one checkpoint: per process and per shared-memory object."""

    def __init__(self, images: ImageSet, parent: Memory | None = None) -> None:
        self.images = images
        self.parent = parent
        self._shared: dict[int, PageStore | None] = {}

    def store(self, pagemap: str, page_size: int) -> PageStore | None:
        image = self.images.image(pagemap)
        if image is None:
            return None
        try:
            pm = pagemap_runs(image, page_size)
        except ImageError as e:  # e.g. a pagemap-*.img whose magic is another image's
            self.images.note_errors([e])
            return None
        self.images.note_errors(pm.errors)
        if pm.pages_file is None:
            return None
        data = self.images.raw(pm.pages_file)
        runs, errors = layout(pm.runs, page_size, len(data), str(self.images.directory / pm.pages_file))
        self.images.errors.extend(errors)
        # PE_PARENT pages are read from the same pagemap in the parent checkpoint, recursively.
        parent = self.parent.store(pagemap, page_size) if self.parent is not None else None
        if parent is None and any(r.offset is None and r.flags & PE_PARENT for r in runs):
            self.images.warn(f"{pagemap}: pages are in a parent checkpoint that is not available")
        path = self.images.source.path_of(pm.pages_file) if self.images.exists(pm.pages_file) else None
        return PageStore(runs, data, parent, page_size, pagemap, path)

    def shared(self, shmid: int, page_size: int) -> PageStore | None:
        if shmid not in self._shared:
            self._shared[shmid] = self.store(f"pagemap-shmem-{shmid}.img", page_size)
        return self._shared[shmid]


def address_space(proc: Process, mm: Any, memory: Memory, ctx: build.FileContext) -> AddressSpace | None:
    page_size = page_size_of(mm)
    store = memory.store(f"pagemap-{proc.pid}.img", page_size)
    if store is None:
        return None
    shared: dict[int, PageStore] = {}
    shared_of: dict[int, tuple[int, int]] = {}
    for v in proc.vmas:
        key = None
        if v.kind in ("shared", "memfd") and v.status & (1 << 14):
            obj = ctx.object(v.shmid)
            if isinstance(obj, Memfd) and obj.shmid is not None:
                key = obj.shmid
        elif v.kind in ("shared", "sysv"):
            key = v.shmid
        if key is None:
            continue
        s = memory.shared(key, page_size)
        if s is not None:
            shared[key] = s
        shared_of[v.start] = (key, v.pgoff)
    return AddressSpace(proc.vmas, store, shared, shared_of)


def count_pages(proc: Process, space: AddressSpace) -> None:
    for v in proc.vmas:
        link = space.shared_of.get(v.start)
        if link is not None:
            store = space.shared.get(link[0])
            if store is not None:
                v.dumped_pages, v.parent_pages, v.lazy_pages = store.dumped_pages(link[1], link[1] + v.size)
            continue
        v.dumped_pages, v.parent_pages, v.lazy_pages = space.store.dumped_pages(v.start, v.end)


def _assignment(kv: str) -> tuple[str, str]:
    name, _, value = kv.partition("=")
    return name, value


def argv_env(proc: Process, mm: Any, space: AddressSpace, warn) -> None:
    try:
        proc.argv = read_string_table(space, mm.mm_arg_start, mm.mm_arg_end)
    except MemoryGap as gap:
        warn(f"pid {proc.pid}: argv not readable: {gap.reason}")
    try:
        env = read_string_table(space, mm.mm_env_start, mm.mm_env_end)
        proc.env = dict(_assignment(kv) for kv in env)
    except MemoryGap as gap:
        warn(f"pid {proc.pid}: environment not readable: {gap.reason}")


# ------------------------------------------------------------------ the whole checkpoint

def _tree_order(procs: list[Process]) -> list[Process]:
    """Parents before children, siblings by pid; processes whose parent is absent become roots (and
    cycles cannot loop: each pid is placed once)."""
    by_pid = {p.pid: p for p in procs}
    kids: dict[int, list[Process]] = defaultdict(list)
    roots = []
    for p in sorted(procs, key=lambda x: x.pid):
        if p.ppid in by_pid and p.ppid != p.pid:
            kids[p.ppid].append(p)
        else:
            roots.append(p)
    out, seen = [], set()
    stack = list(reversed(roots))
    while stack:
        p = stack.pop()
        if p.pid in seen:
            continue
        seen.add(p.pid)
        out.append(p)
        p.children = [c.pid for c in kids[p.pid]]
        stack.extend(reversed(kids[p.pid]))
    out.extend(p for p in sorted(procs, key=lambda x: x.pid) if p.pid not in seen)
    return out


def _criu_version(images: ImageSet, info: CheckpointInfo) -> None:
    source = images.source
    texts = []
    for log in ("dump.log", "pre-dump.log"):  # CRIU's -o name for `criu dump` and `criu pre-dump`
        if source.exists(log):
            texts.append((log, source.read(log)[:4096].tobytes()))
    for name in source.wrapper_files():
        if name.endswith("dump.log"):
            texts.append((name, source.read_wrapper(name)[:4096].tobytes()))
    for beside in (images.directory.parent / f"{images.directory.name}.dump.log",
                   images.directory.parent / f"{images.directory.name}.pre-dump.log"):
        if os.path.lexists(beside):
            try:
                with open_evidence(beside) as fh:   # never a fifo or /proc/self/mem under a log's name
                    texts.append((beside.name, fh.read(4096)))
            except (ForensicsError, OSError) as exc:
                images.warn(f"{beside}: not read ({exc})")
    for name, head in texts:
        m = re.search(rb"Version: (\S+)", head)
        if m:
            info.criu_version, info.criu_version_source = m.group(1).decode("ascii", "replace"), name
            return
    inv = images.entries("inventory.img")
    newest = None
    for name in images.names:
        if name.startswith("pagemap-"):
            entries = images.entries(name)
            if any(build.has(e, "nr_pages") for e in entries[1:]):
                newest = ">= 4.2"
                break
    if newest is None and inv and build.has(inv[0], "allow_uprobes"):
        newest = ">= 4.2"
    if newest is None and inv and build.has(inv[0], "dump_criu_run_id"):
        newest = ">= 4.1"
    if newest:
        info.criu_version, info.criu_version_source = newest, "inferred from the image format"


def _tmpfs(images: ImageSet, mounts_by_dev: dict[int, str]) -> list[TmpfsArchive]:
    out = []
    for name in images.names:
        m = re.fullmatch(r"tmpfs-dev-(\d+)\.tar\.gz(?:\.img)?", name)
        if not m:
            continue
        dev = int(m.group(1))
        arch = TmpfsArchive(name, dev, mounts_by_dev.get(dev))
        data = images.raw(name)
        path = images.directory / name
        try:
            # Streamed under the archive bomb limits (a 4 GB gzip bomb stops after 64 MiB at its ratio):
            # members are listed as they pass, so memory stays small whatever the archive claims, and a
            # damaged archive keeps the members before the damage.
            compression = sniff(data[:SNIFF_BYTES].tobytes()) or "gzip"
            stream: Any = ViewReader(data)
            if compression != "none":
                stream = GuardedReader(stream, compression, path, TMPFS_LIMITS)
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=SafeTarInfo) as tar:
                for member in tar:
                    forget_headers(tar)
                    if len(arch.members) >= MAX_TMPFS_MEMBERS:
                        images.warn(f"{name}: more than {MAX_TMPFS_MEMBERS} files; listing cut")
                        break
                    kind = "dir" if member.isdir() else "symlink" if member.issym() else \
                        "file" if member.isfile() else "other"
                    mtime = valid_timestamp(member.mtime)
                    arch.members.append(TarMember(member.name, member.size, member.mode,
                                                  None if mtime is None else int(mtime), kind))
        except ArchiveError as e:
            images.errors.append(f"{path}: tmpfs archive listing stopped after {len(arch.members)} files: "
                                 f"{e.message}")
        except Exception as e:  # noqa: BLE001 - the stdlib's tar/gzip readers raise TypeError and
            # friends on hostile headers (seen while fuzzing); a damaged archive is a finding, not a crash.
            images.errors.append(f"{path}: tmpfs archive unreadable after {len(arch.members)} files: {e}")
        out.append(arch)
    return out


def _process(entry: Any, images: ImageSet, ctx: build.FileContext, memory: Memory,
             memories: dict[int, AddressSpace], mnt_ns: set[int], ns_members: dict[tuple[str, int], list[int]], uts_ids: set[int]) -> Process:
    proc = build.process(entry, images)
    ids = images.entries(f"ids-{proc.pid}.img")
    if ids:
        proc.namespaces = build.namespaces(ids[0])
        for kind, ns_id in proc.namespaces.items():
            ns_members[(kind, ns_id)].append(proc.pid)
        if "mnt" in proc.namespaces:
            mnt_ns.add(proc.namespaces["mnt"])
        if "uts" in proc.namespaces:
            uts_ids.add(proc.namespaces["uts"])
        proc.fds = build.fds(ids[0].files_id, ctx, images)
    fs = images.entries(f"fs-{proc.pid}.img")
    if fs:
        proc.cwd = ctx.reg_name(fs[0].cwd_id)
        proc.root = ctx.reg_name(fs[0].root_id)
        proc.umask = fs[0].umask
    mm = images.entries(f"mm-{proc.pid}.img")
    if mm:
        every = build.vmas(mm[0], ctx)
        proc.vmas = [v for v in every if not v.is_guard]
        proc.guards = [v for v in every if v.is_guard]
        proc.page_size = page_size_of(mm[0])
        proc.auxv = list(mm[0].mm_saved_auxv)
        if build.has(mm[0], "exe_file_id"):
            proc.exe = ctx.reg_name(mm[0].exe_file_id)
        space = address_space(proc, mm[0], memory, ctx)
        if space is not None:
            memories[proc.pid] = space
            count_pages(proc, space)
            argv_env(proc, mm[0], space, images.warn)
            _prove_syscalls(proc, space)
    return proc


def _prove_syscalls(proc: Process, space: AddressSpace) -> None:
    """aarch64 threads: the system call x8 names, where the code at pc is in the checkpoint's own pages
    (see forensics.model.syscalls; with clean file-backed code, the symbols floor completes it from the
    binary)."""
    word_at = syscalls.word_reader(space.read)
    for th in proc.threads:
        if th.syscall is None and th.registers is not None and th.registers.arch is not Arch.X86_64:
            th.syscall, th.syscall_evidence = syscalls.syscall_of(th.registers, word_at)


LOG_TAIL_LINES = 200
LOGS = ("ctr.log", "container.log", "dump.log", "restore.log")


def _wrapper(ck: Checkpoint, source: Source, images: ImageSet) -> None:
    """What an archive holds besides the images: its files, what the container wrote (rootfs-diff.tar)
    and deleted (deleted.files), bind mounts, and the tail of its logs (the container's own output and
    CRIU's)."""
    names = source.wrapper_files()
    w = ck.wrapper
    w.files = {name: len(source.read_wrapper(name)) for name in names}
    diff = rootfs_diff(source)
    if diff is not None:
        w.rootfs_diff = [RootfsEntry(e.path, e.type, e.size, e.mode,
                                     Timestamp(e.mtime, TimeSource.ARCHIVE_MEMBER, "file modified",
                                               f"rootfs-diff.tar:{e.path}") if e.mtime else None)
                         for e in diff.entries]
        w.deleted_files = list(diff.deleted)
        images.warnings.extend(f"rootfs-diff: {x}" for x in diff.warnings)
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if base in LOGS:
            text = source.read_wrapper(name)[-(1 << 20):].tobytes().decode("utf-8", "backslashreplace")
            w.logs[name] = text.splitlines()[-LOG_TAIL_LINES:]
        elif base == "bind.mounts":
            try:
                loaded = metajson.loads(source.read_wrapper(name), name)
            except metajson.MetadataError as exc:
                images.warn(str(exc))
                continue
            w.bind_mounts = loaded if isinstance(loaded, list) else [loaded]


def load_directory(directory: Path) -> Checkpoint:
    """A CRIU image directory given by path (what tests and the bench mostly need)."""
    return load_checkpoint(directory)


def _parent_memory(source: Source | None, depth: int = 0) -> Memory | None:
    """Only the page stores of the parent chain: PE_PARENT pages are all a child needs from its parents
    (locate already refuses links that loop or leave the archive; the depth bound is belt and braces)."""
    if source is None or depth >= 32:
        return None
    return Memory(ImageSet(source), _parent_memory(source.parent(), depth + 1))


def load_source(source: Source, parent: Source | None = None) -> Checkpoint:
    """The model of one checkpoint. `parent`: the checkpoint its PE_PARENT pages are in, when that lives
    somewhere its own `parent` link cannot reach (a Podman --with-previous export, whose link points at
    the --pre-checkpoint export's directory); otherwise the link is followed."""
    if not source.exists("inventory.img"):
        raise NotACheckpoint("no inventory.img among its images: not a CRIU checkpoint", source.meta.path)
    images = ImageSet(source)
    directory = images.directory
    info = CheckpointInfo(source.meta)
    ck = Checkpoint(info)
    inv = images.entries("inventory.img")
    if inv:
        info.img_version = inv[0].img_version
        info.pre_dump = build.has(inv[0], "pre_dump_mode")
        info.dump_uptime = inv[0].dump_uptime if build.has(inv[0], "dump_uptime") else None
    if parent is not None:
        source.use_parent(parent)
    parent_source = source.parent()
    if parent_source is not None:
        info.parent = str(parent_source.meta.path) + (" (given with --parent)" if parent is not None else "")
    for name in images.names:
        img = images.image(name)
        if img is None:      # unreadable: the reason is in errors
            continue
        size = img.file_size
        info.total_size += size
        if name.startswith("pages-"):
            info.pages_size += size
        status = ImageStatus(name, ImageKind.UNKNOWN, size, magic=img.magic)
        if img.decodable:
            status.kind = ImageKind.DECODED
        elif img.kind.name != "UNKNOWN":
            status.kind = ImageKind.RAW
        info.images.append(status)
    _criu_version(images, info)

    ctx = build.FileContext(images)
    memory = Memory(images, _parent_memory(parent_source))
    pstree = images.entries("pstree.img")
    procs = []
    memories: dict[int, AddressSpace] = {}
    ck.memory = memories
    mnt_ns: set[int] = set()
    ns_members: dict[tuple[str, int], list[int]] = defaultdict(list)
    uts_ids: set[int] = set()
    for entry in pstree:
        try:
            procs.append(_process(entry, images, ctx, memory, memories, mnt_ns, ns_members, uts_ids))
        except Exception as e:  # noqa: BLE001 - forged values must cost one process, not the report
            images.errors.append(f"{directory}: internal error decoding pid {entry.pid}: {type(e).__name__}; "
                                 "this is a bug in forensics, please report it")
    if info.pre_dump and not pstree:
        # A pre-dump has pages only: its processes are the pids of its pagemaps (forensics.memory.predump).
        for pid in predump.pids_of(images.names):
            mm = images.entries(f"mm-{pid}.img")
            store = memory.store(f"pagemap-{pid}.img", page_size_of(mm[0]) if mm else PAGE_SIZE)
            if store is not None:
                proc, ck.memory[pid] = predump.memory_only_process(pid, store)
                procs.append(proc)
    ck.processes = _tree_order(procs)

    if not pstree and not info.pre_dump:
        images.errors.append(f"{directory / 'pstree.img'}: no process tree decoded")
    ck.mounts = build.mounts(images, mnt_ns)
    ck.namespaces = [NamespaceUse(k, i, sorted(p)) for (k, i), p in sorted(ns_members.items())]
    for cg in images.entries("cgroup.img")[:1]:
        ck.cgroups = [CgroupSet(s.id, {build.text(c.name): build.text(c.path) for c in s.ctls}) for s in cg.sets]
    for uts in sorted(uts_ids):
        got = images.entries(f"utsns-{uts}.img")
        if got:
            ck.hostname, ck.domainname = build.text(got[0].nodename), build.text(got[0].domainname)
            break
    by_dev = {m.root_dev: m.mountpoint for m in ck.mounts if m.fstype in ("tmpfs", "devtmpfs")}
    ck.tmpfs = _tmpfs(images, by_dev)
    if images.exists("descriptors.json"):
        try:
            stdio = metajson.loads(images.raw("descriptors.json"), "descriptors.json", max_bytes=STDIO_BYTES)
        except metajson.MetadataError as exc:
            images.warn(str(exc))
        else:
            # CRIU writes a list of three strings (what fds 0-2 were); anything else is not used.
            if isinstance(stdio, list) and all(isinstance(x, str) for x in stdio):
                ck.stdio = stdio
            else:
                images.warn("descriptors.json is not a JSON list of strings; not used")
    _wrapper(ck, source, images)
    ck.warnings = collapse_messages(images.warnings, "warnings")
    ck.errors = collapse_messages(images.errors, "errors")
    ck.source = source
    return ck


def load_checkpoint(target: str | Path, *, docker_root: Path | None = None, container: str | None = None,
                    parent: str | Path | None = None) -> Checkpoint:
    """A checkpoint in any form: a CRIU image directory, a Docker checkpoint by name (under the Docker
    data root or a --checkpoint-dir), or a Podman/CRI-O/containerd archive, plain or compressed.
    `parent` (default: DEFAULT_PARENT, which `forensics --parent PATH` sets): where the PE_PARENT pages
    are, when the checkpoint's own parent link cannot reach them; never applied to that parent itself."""
    source = open_source(target, docker_root=docker_root, container=container)
    parent = parent if parent is not None else DEFAULT_PARENT
    try:
        if parent is None or _same_place(target, parent):
            return load_source(source)
        return load_source(source, open_source(parent))
    except BaseException:
        source.close()        # an archive's scratch directory goes now, not at exit
        raise


open_checkpoint = load_checkpoint


def source_of(ck: Checkpoint) -> Source | None:
    """The input a checkpoint was read from, typed (the model keeps it as a plain handle)."""
    return ck.source if isinstance(ck.source, Source) else None


def close_checkpoint(ck: Checkpoint) -> None:
    """Unmap the evidence and drop a spilled archive's scratch copy, once nothing more will be read."""
    source = source_of(ck)
    if source is not None:
        source.close()


DEFAULT_PARENT: str | Path | None = None


def _same_place(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
