"""Memory mappings (mm image VMAs) with what CRIU dumped of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from forensics.model.flags import MAP_FLAGS, VMA_STATUS, bit_words, prot_string


class VmaKind(StrEnum):
    """What a mapping is, from CRIU's VMA status bits. GUARD entries are not mappings: CRIU 4.2 lists
    MADV_GUARD_INSTALL ranges as extra VMAs overlapping real ones; the loader keeps them apart
    (`Process.guards`)."""

    HEAP = "heap"
    STACK = "stack"
    VDSO = "vdso"
    VVAR = "vvar"
    VSYSCALL = "vsyscall"
    ANON = "anon"
    FILE = "file"
    SHARED = "shared"
    MEMFD = "memfd"
    SYSV = "sysv"
    GUARD = "guard"
    # Not a mapping either: a stretch of a pre-dump's pages, which come without mappings
    # (the memory floor's predump module).
    PRE_DUMP = "pre-dump"


# Mappings the kernel provides to every process: not the program's own memory.
KERNEL_KINDS = frozenset({VmaKind.VDSO, VmaKind.VVAR, VmaKind.VSYSCALL})


@dataclass(slots=True)
class Vma:
    """One mapping (see VmaKind); `dumped_pages` counts pages present in this checkpoint's pages files, `parent_pages` those
    CRIU left in a parent checkpoint, `lazy_pages` those only a lazy-pages server held."""

    start: int
    end: int
    pgoff: int
    prot: int
    flags: int
    status: int
    shmid: int
    path: str | None
    kind: VmaKind
    dumped_pages: int = 0
    parent_pages: int = 0
    lazy_pages: int = 0
    build_id: str | None = None

    @property
    def is_guard(self) -> bool:
        return self.kind is VmaKind.GUARD

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def held_pages(self) -> int:
        """Pages whose bytes the checkpoint holds: in its own pages files or, in an incremental chain,
        left in a parent (readable when the parent is there)."""
        return self.dumped_pages + self.parent_pages

    @property
    def prot_str(self) -> str:
        return prot_string(self.prot)

    @property
    def shared(self) -> bool:
        return bool(self.flags & 0x1)

    @property
    def status_words(self) -> list[str]:
        return bit_words(self.status, VMA_STATUS)

    @property
    def flag_words(self) -> list[str]:
        return bit_words(self.flags, MAP_FLAGS)

    @property
    def label(self) -> str:
        """What /proc/PID/maps would show in its last column."""
        if self.path:
            return self.path
        return _LABELS.get(self.kind, "")


_LABELS = {"heap": "[heap]", "stack": "[stack]", "vdso": "[vdso]", "vvar": "[vvar]", "vsyscall": "[vsyscall]"}
