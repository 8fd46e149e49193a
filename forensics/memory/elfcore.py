"""One process of a checkpoint as an ELF core file that gdb and delve open (x86_64 and aarch64).

The layout is the kernel's (fs/binfmt_elf.c, elf_core_dump): an ELF header of type ET_CORE, one PT_NOTE
and one PT_LOAD per piece of every mapping, then the notes, then the memory, page aligned.

Notes, in the kernel's order: for the first thread (the leader) NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO,
NT_AUXV, NT_FILE, NT_FPREGSET, NT_X86_XSTATE; for each other thread NT_PRSTATUS, NT_SIGINFO, NT_FPREGSET,
NT_X86_XSTATE (gdb ties a NT_SIGINFO to the thread of the NT_PRSTATUS before it). Struct layouts are x86_64 Linux's (include/uapi/linux/elfcore.h, asm/user_64.h).
On aarch64 (EM_AARCH64) pr_reg is user_pt_regs (x0-x30, sp, pc, pstate: 34 words), NT_FPREGSET
(NT_PRFPREG) is user_fpsimd_state (v0-v31, fpsr, fpcr, 8 reserved bytes) and NT_ARM_TLS holds tpidr_el0.
Pages and alignment are the process's page size (from its auxv; 4096 only when CRIU saved none).

Memory of a mapping comes from three places, and a mapping is cut into PT_LOADs where the source changes:
- the pages CRIU dumped (DUMPED);
- pages CRIU did not dump because they are clean pages of a file (private or shared file mappings): read
  from that file when the resolver finds it (FILE), else left out (MISSING, listed in the report);
- anonymous pages CRIU did not dump: never touched, so zero (ZERO: a hole in a sparse file);
- pages held by a missing parent checkpoint or a lazy-pages server: MISSING.
A MISSING piece has no PT_LOAD: gdb then says it cannot read that memory instead of showing zeros, and
for a binary's text reads its own copy of the file.

The checkpoint was not stopped by a signal: NT_SIGINFO carries signal 0 and pr_cursig is 0.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from forensics.errors import ForensicsError
from forensics.locate.views import open_readonly
from forensics.memory.space import AddressSpace, GapKind, MemoryGap, VmaLike
from forensics.model.process import AARCH64_GP, Arch, Process, Thread
from forensics.model.vma import Vma

DEFAULT_PAGE = 4096   # only when neither the process nor the page store says otherwise
EM_X86_64, EM_AARCH64 = 62, 183
NT_ARM_TLS, NT_ARM_PAC_MASK = 0x401, 0x406
AT_HWCAP, HWCAP_PACA = 16, 1 << 30
# user_pac_mask for a process whose mappings all lie below 2**48: the kernel's GENMASK(54, vabits) with
# 48 bits of user address space (a 52-bit kernel signs bits 52-54 of such addresses: the same mask
# clears them and only zero bits besides).
PAC_MASK_48 = ((1 << 55) - 1) & ~((1 << 48) - 1)
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
NT_PRSTATUS, NT_FPREGSET, NT_PRPSINFO, NT_AUXV = 1, 2, 3, 6
NT_X86_XSTATE, NT_SIGINFO, NT_FILE = 0x202, 0x53494749, 0x46494C45
VMA_FILE_MAPPED = (1 << 6) | (1 << 7)  # CRIU's VMA_FILE_PRIVATE | VMA_FILE_SHARED
# user_regs_struct order (arch/x86/include/asm/user_64.h), CRIU's names.
USER_REGS = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
             "orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")
STATES = {"running": "R", "sleeping": "S", "stopped": "T", "dead": "Z", "zombie": "Z"}
XSAVE_HEADER = 512
XSAVE_YMM = 576
XSAVE_AVX_SIZE = 832  # legacy area + header + AVX upper halves
XCR0_OFFSET = 464     # where the kernel keeps xcr0 in the FXSAVE software-reserved bytes (gdb reads it there)

FileFinder = Callable[[str], Path | None]


class Source(StrEnum):
    DUMPED = "dumped"
    FILE = "file"
    ZERO = "zero"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Piece:
    """[start, end) of one mapping whose bytes all come from one `source`: `data` (the checkpoint's bytes,
    a view into the pages file) for DUMPED, `why` for MISSING."""

    start: int
    end: int
    source: Source
    why: str = ""
    data: memoryview | None = None


@dataclass(slots=True)
class CoreReport:
    """What went into a core: PT_LOAD count, bytes from the checkpoint and from files, the files read,
    and the ranges left out (MISSING pieces) with the reason."""

    path: Path
    threads: int = 0
    loads: int = 0
    dumped_bytes: int = 0
    file_bytes: int = 0
    files_used: list[str] = field(default_factory=list)
    missing: list[Piece] = field(default_factory=list)


def pieces(space: AddressSpace, vma: VmaLike, file_size: int | None) -> Iterator[Piece]:
    """The pieces of one mapping in address order. `file_size`: the size of the mapped file when it was
    found (None when the mapping is not a file, or the file is not available)."""
    addr = vma.start
    for seg_addr, data in space.vma_segments(vma):
        if seg_addr > addr:
            yield from _gap(space, vma, addr, seg_addr, file_size)
        yield Piece(seg_addr, seg_addr + len(data), Source.DUMPED, data=data)
        addr = seg_addr + len(data)
    if addr < vma.end:
        yield from _gap(space, vma, addr, vma.end, file_size)


def _gap(space: AddressSpace, vma: VmaLike, start: int, end: int, file_size: int | None) -> Iterator[Piece]:
    """Pages [start, end) the checkpoint does not hold, by kind. A private mapping's page store says, run by
    run, whether a page was never dumped (no run) or is elsewhere (a lazy or parent run); a shared
    mapping's store is asked page by page."""
    shared = vma.start in space.shared_of
    # A memfd or shared anonymous mapping is a shmem object with its own page store: never dumped is zero.
    file_backed = bool(getattr(vma, "status", 0) & VMA_FILE_MAPPED) and bool(vma.path) and not shared
    pgoff = getattr(vma, "pgoff", 0)
    PAGE = space.store.page_size or DEFAULT_PAGE  # noqa: N806 - the process's page size
    addr = start
    while addr < end:
        if shared:
            nxt = min(end, (addr // PAGE + 1) * PAGE)
            elsewhere = _elsewhere(space, addr)
        else:
            run = space.store.run_at(addr)
            if run is None:
                following = space.store.next_run_start(addr)
                nxt = end if following is None else min(end, following)
                elsewhere = None
            else:
                nxt = min(end, run.end)
                elsewhere = _elsewhere(space, addr) or "not in the checkpoint"
        if elsewhere is not None:
            yield Piece(addr, nxt, Source.MISSING, elsewhere)
        elif not file_backed:
            yield Piece(addr, nxt, Source.ZERO)
        elif file_size is None:
            yield Piece(addr, nxt, Source.MISSING, f"clean page of {vma.path}: file not found, give --rootfs")
        else:
            in_file = max(addr, min(nxt, vma.start + file_size - pgoff))
            if in_file > addr:
                yield Piece(addr, in_file, Source.FILE)
            if in_file < nxt:
                yield Piece(in_file, nxt, Source.MISSING, f"past the end of {vma.path} ({file_size} bytes)")
        addr = nxt


def _elsewhere(space: AddressSpace, addr: int) -> str | None:
    """Why a page is not here when it exists somewhere else or is damaged (a missing parent checkpoint, a
    lazy-pages server, a truncated pages file, a shared object whose pages are missing); None for a page
    that was simply never dumped."""
    try:
        space.read(addr, 1)
        return None
    except MemoryGap as gap:
        if gap.kind in (GapKind.PARENT_MISSING, GapKind.LAZY, GapKind.DAMAGED) or "not in the checkpoint" in gap.reason:
            return gap.reason
    return None


def _merge(items: Iterator[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in items:
        last = out[-1] if out else None
        if (last is not None and last.end == p.start and last.source == p.source and last.why == p.why
                and p.source is not Source.DUMPED):
            out[-1] = Piece(last.start, p.end, p.source, p.why)
        else:
            out.append(p)
    return out


@dataclass(slots=True)
class _Load:
    vaddr: int
    memsz: int
    flags: int
    parts: list[Piece]
    offset: int = 0

    @property
    def filesz(self) -> int:
        return self.memsz


def _flags(vma: VmaLike) -> int:
    prot = getattr(vma, "prot", 0)
    return (PF_R if prot & 1 else 0) | (PF_W if prot & 2 else 0) | (PF_X if prot & 4 else 0)


def _loads(vma: VmaLike, parts: list[Piece]) -> list[_Load]:
    """One PT_LOAD per run of adjacent pieces that have bytes (dumped, file, zero). A MISSING piece gets
    none: gdb reads a PT_LOAD's bytes past p_filesz as zeros, so only leaving the range out makes it
    answer "Cannot access memory" (or read the binary it was given) instead of showing zeros."""
    loads: list[_Load] = []
    for p in parts:
        if p.source is Source.MISSING:
            continue
        last = loads[-1] if loads else None
        if last is not None and last.vaddr + last.memsz == p.start:
            last.memsz = p.end - last.vaddr
            last.parts.append(p)
        else:
            loads.append(_Load(p.start, p.end - p.start, _flags(vma), [p]))
    return loads


# ------------------------------------------------------------------ notes

def _note(name: bytes, ntype: int, desc: bytes) -> bytes:
    name0 = name + b"\0"
    return (struct.pack("<III", len(name0), len(desc), ntype) + name0.ljust(_align4(len(name0)), b"\0")
            + desc.ljust(_align4(len(desc)), b"\0"))


def _align4(n: int) -> int:
    return (n + 3) & ~3


def prstatus(proc: Process, thread: Thread) -> bytes:
    """struct elf_prstatus (336 bytes): signal info, pids, times (zero: CRIU does not save them), the
    general registers (user_regs_struct) and pr_fpvalid."""
    gp = thread.registers.gp if thread.registers is not None else {}
    head = struct.pack("<iiih2xQQiiii", 0, 0, 0, 0, 0, thread.blocked_signals, thread.tid, proc.ppid,
                       proc.pgid, proc.sid)
    times = bytes(64)
    names = AARCH64_USER_REGS if _arch(proc) is Arch.AARCH64 else USER_REGS
    regs = struct.pack(f"<{len(names)}Q", *(gp.get(name, 0) & 0xFFFFFFFFFFFFFFFF for name in names))
    fpvalid = 1 if thread.registers is not None and thread.registers.fpu is not None else 0
    return head + times + regs + struct.pack("<i4x", fpvalid)


# user_pt_regs (arch/arm64/include/uapi/asm/ptrace.h): the aarch64 pr_reg.
AARCH64_USER_REGS = AARCH64_GP[:34]


def _arch(proc: Process) -> Arch:
    """The machine of a process: its threads' registers say it (x86_64 when none were saved)."""
    for t in proc.threads:
        if t.registers is not None:
            return t.registers.arch
    return Arch.X86_64


def fpsimd(thread: Thread) -> bytes | None:
    """aarch64 user_fpsimd_state (528 bytes): v0-v31, fpsr, fpcr, reserved."""
    fpu = thread.registers.fpu if thread.registers is not None else None
    if fpu is None:
        return None
    fpsr, fpcr = fpu.get("fpsr", 0), fpu.get("fpcr", 0)
    return _words(fpu.get("v"), 32, 16) + struct.pack("<II8x", fpsr if isinstance(fpsr, int) else 0,
                                                         fpcr if isinstance(fpcr, int) else 0)


def prpsinfo(proc: Process) -> bytes:
    """struct elf_prpsinfo (136 bytes): state, uid/gid, pids, comm (16) and the start of argv (80)."""
    state = STATES.get(proc.state, "S")
    creds = proc.creds
    uid = creds.uids[0] if creds is not None else 0
    gid = creds.gids[0] if creds is not None else 0
    args = " ".join(proc.argv or [proc.comm]).encode("utf-8", "replace")[:79]
    return struct.pack("<bcbbxxxxQIIiiii16s80s", "RSDTZW".find(state) if state in "RSDTZW" else 1,
                       state.encode(), 1 if state == "Z" else 0, 0, 0, uid, gid, proc.pid, proc.ppid,
                       proc.pgid, proc.sid, proc.comm.encode("utf-8", "replace")[:15], args)


def _words(hexes: object, count: int, width: int) -> bytes:
    raw = b"".join(bytes.fromhex(h) for h in hexes) if isinstance(hexes, list) else b""
    return raw[:count * width].ljust(count * width, b"\0")


def fpregset(thread: Thread) -> bytes | None:
    """user_fpregs_struct: the 512-byte FXSAVE image."""
    fpu = thread.registers.fpu if thread.registers is not None else None
    if fpu is None:
        return None

    def num(key: str) -> int:
        v = fpu.get(key, 0)
        return v if isinstance(v, int) else 0

    head = struct.pack("<HHHHQQII", num("cwd") & 0xFFFF, num("swd") & 0xFFFF, num("twd") & 0xFFFF,
                       num("fop") & 0xFFFF, num("rip"), num("rdp"), num("mxcsr"), num("mxcsr_mask"))
    return head + _words(fpu.get("st"), 8, 16) + _words(fpu.get("xmm"), 16, 16) + bytes(96)


def xstate(thread: Thread, fxsave: bytes) -> bytes | None:
    """The XSAVE area with x87, SSE and AVX state (xcr0 = 7), when CRIU saved the AVX upper halves."""
    fpu = thread.registers.fpu if thread.registers is not None else None
    if fpu is None or "ymmh" not in fpu:
        return None
    area = bytearray(XSAVE_AVX_SIZE)
    area[:512] = fxsave
    xcr0 = 0x7
    struct.pack_into("<Q", area, XCR0_OFFSET, xcr0)
    bv = fpu.get("xstate_bv", xcr0)
    struct.pack_into("<Q", area, XSAVE_HEADER, (bv if isinstance(bv, int) else xcr0) & xcr0)
    area[XSAVE_YMM:XSAVE_YMM + 256] = _words(fpu.get("ymmh"), 16, 16)
    return bytes(area)


def nt_file(vmas: list[Vma], page: int = DEFAULT_PAGE) -> bytes:
    """NT_FILE: count, page size, (start, end, file offset in pages) per file mapping, then the names."""
    PAGE = page  # noqa: N806
    files = [v for v in vmas if v.status & VMA_FILE_MAPPED and v.path]
    head = struct.pack("<QQ", len(files), PAGE)
    table = b"".join(struct.pack("<QQQ", v.start, v.end, v.pgoff // PAGE) for v in files)
    names = b"".join(v.path.encode("utf-8", "replace") + b"\0" for v in files if v.path)
    return head + table + names


def notes(proc: Process) -> bytes:
    threads = sorted(proc.threads, key=lambda t: t.tid != proc.pid)
    arch_notes = _aarch64_notes(proc) if _arch(proc) is Arch.AARCH64 else _x86_64_notes
    out = []
    for i, t in enumerate(threads):
        out += _thread_notes(proc, t, first=i == 0)
        out += arch_notes(t)
    return b"".join(out)


def _thread_notes(proc: Process, t: Thread, first: bool) -> list[bytes]:
    """What every arch's core starts each thread with, in the kernel's order: NT_PRSTATUS, then for the
    first thread NT_PRPSINFO, NT_SIGINFO, NT_AUXV and NT_FILE (NT_SIGINFO per thread, so that gdb's
    $_siginfo answers in every thread: no signal, si_signo 0)."""
    out = [_note(b"CORE", NT_PRSTATUS, prstatus(proc, t))]
    if first:
        out.append(_note(b"CORE", NT_PRPSINFO, prpsinfo(proc)))
    out.append(_note(b"CORE", NT_SIGINFO, bytes(128)))
    if first:
        if proc.auxv:
            out.append(_note(b"CORE", NT_AUXV, struct.pack(f"<{len(proc.auxv)}Q", *proc.auxv)))
        out.append(_note(b"CORE", NT_FILE, nt_file(proc.vmas, proc.page_size)))
    return out


def _x86_64_notes(t: Thread) -> list[bytes]:
    """NT_FPREGSET (the fxsave area) and the xstate note holding it, where CRIU saved them."""
    fx = fpregset(t)
    if fx is None:
        return []
    xs = xstate(t, fx)
    return [_note(b"CORE", NT_FPREGSET, fx), *([_note(b"LINUX", NT_X86_XSTATE, xs)] if xs is not None else [])]


def _aarch64_notes(proc: Process) -> Callable[[Thread], list[bytes]]:
    """After the common notes, the kernel's aarch64 order: NT_PRFPREG (fpsimd), NT_ARM_TLS, and
    NT_ARM_PAC_MASK where the auxv's AT_HWCAP says the process had pointer authentication (gdb needs the
    mask to strip signed return addresses when it unwinds)."""
    auxv = dict(zip(proc.auxv[::2], proc.auxv[1::2], strict=False))
    pac = bool(auxv.get(AT_HWCAP, 0) & HWCAP_PACA) and all(v.end <= 1 << 48 for v in proc.vmas)

    def per_thread(t: Thread) -> list[bytes]:
        out = []
        fp = fpsimd(t)
        if fp is not None:
            out.append(_note(b"CORE", NT_FPREGSET, fp))
        tls = t.registers.gp.get("tpidr_el0") if t.registers is not None else None
        if tls is not None:
            out.append(_note(b"LINUX", NT_ARM_TLS, struct.pack("<Q", tls)))
        if pac:
            out.append(_note(b"LINUX", NT_ARM_PAC_MASK, struct.pack("<QQ", PAC_MASK_48, PAC_MASK_48)))
        return out

    return per_thread


# ------------------------------------------------------------------ the file

def write_core(proc: Process, space: AddressSpace, find_file: FileFinder, out: BinaryIO,
               path: Path) -> CoreReport:
    """Write the core of `proc` to `out` (a seekable file opened for writing; holes stay sparse)."""
    report = CoreReport(path, threads=len(proc.threads))
    files: dict[str, tuple[Path, int] | None] = {}

    def file_of(vma: VmaLike) -> tuple[Path, int] | None:
        if not (getattr(vma, "status", 0) & VMA_FILE_MAPPED) or not vma.path:
            return None
        key = vma.path.removesuffix(" (deleted)")
        if key not in files:
            found = None
            try:
                local = find_file(key)
                if local is not None:
                    found = (local, os.stat(local).st_size)
            except (OSError, ForensicsError):
                found = None
            files[key] = found
        return files[key]

    loads: list[_Load] = []
    for vma in space.vmas:
        if vma.kind in ("vvar", "vsyscall"):
            continue  # kernel pages, not the process's memory; the kernel leaves them out of cores too
        local = file_of(vma)
        parts = _merge(pieces(space, vma, local[1] if local else None))
        for p in parts:
            if p.source is Source.MISSING:
                report.missing.append(p)
        loads.extend(_loads(vma, parts))

    note = notes(proc)
    PAGE = proc.page_size or DEFAULT_PAGE  # noqa: N806 - the process's page size, from its auxv
    machine = EM_AARCH64 if _arch(proc) is Arch.AARCH64 else EM_X86_64
    phoff = 64
    phnum = 1 + len(loads)
    note_off = phoff + 56 * phnum
    offset = (note_off + len(note) + PAGE - 1) & ~(PAGE - 1)
    for ld in loads:
        ld.offset = offset if ld.filesz else 0
        offset += ld.filesz
    total = offset

    header = struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 4, machine, 1, 0, phoff, 0,
                         0, 64, 56, phnum, 0, 0, 0)
    phdrs = [struct.pack("<IIQQQQQQ", PT_NOTE, 0, note_off, 0, 0, len(note), 0, 4)]
    phdrs += [struct.pack("<IIQQQQQQ", PT_LOAD, ld.flags, ld.offset, ld.vaddr, 0, ld.filesz, ld.memsz, PAGE)
              for ld in loads]
    out.write(header + b"".join(phdrs) + note)
    out.truncate(total)
    report.loads = len(loads)

    out.flush()
    copier = _KernelCopy(space, out)
    try:
        _fill(loads, space, out, copier, file_of, report)
    finally:
        copier.close()
    return report


def _fill(loads: list[_Load], space: AddressSpace, out: BinaryIO, copier: _KernelCopy,
          file_of: Callable[[VmaLike], tuple[Path, int] | None], report: CoreReport) -> None:
    for ld in loads:
        if not ld.filesz:
            continue
        for p in ld.parts:
            at = ld.offset + (p.start - ld.vaddr)
            if p.source is Source.DUMPED:
                assert p.data is not None
                if not copier.copy(p.start, len(p.data), at):
                    out.seek(at)
                    out.write(p.data)
                report.dumped_bytes += len(p.data)
            elif p.source is Source.FILE:
                vma = space.vma_at(p.start)
                assert vma is not None
                local = file_of(vma)
                assert local is not None
                with open(local[0], "rb") as f:
                    f.seek(vma.pgoff + (p.start - vma.start))
                    data = f.read(p.end - p.start)
                out.seek(at)
                out.write(data)
                report.file_bytes += len(data)
                if str(local[0]) not in report.files_used:
                    report.files_used.append(str(local[0]))


class _KernelCopy:
    """Pages copied from the pages file to the core inside the kernel (copy_file_range): no page of the
    evidence passes through this process, which is what makes a core as fast as `cp`. Only for private
    pages held in this checkpoint's own pages file on disk; anything else (an archive member, a parent
    checkpoint's or a shared object's pages) is written from the mapped bytes."""

    def __init__(self, space: AddressSpace, out: BinaryIO) -> None:
        self.space = space
        self.out_fd = out.fileno()
        self.fd: int | None = None
        self.usable = hasattr(os, "copy_file_range") and space.store.pages_path is not None

    def copy(self, addr: int, length: int, at: int) -> bool:
        if not self.usable:
            return False
        vma = self.space.vma_at(addr)
        run = self.space.store.run_at(addr)
        if vma is None or vma.start in self.space.shared_of or run is None or run.offset is None:
            return False
        if addr + length > run.end:
            return False
        try:
            if self.fd is None:
                assert self.space.store.pages_path is not None
                self.fd = open_readonly(self.space.store.pages_path)
                os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            src = run.offset + (addr - run.start)
            done = 0
            while done < length:
                n = os.copy_file_range(self.fd, self.out_fd, length - done, src + done, at + done)
                if n <= 0:
                    raise OSError("copy_file_range copied nothing")
                done += n
        except OSError:
            self.usable = False  # another filesystem or an old kernel: write the mapped bytes instead
            return False
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
