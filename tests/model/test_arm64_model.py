"""aarch64 facts of the model that need no checkpoint: which system call x8 names and when the code
proves one, the generic system call table against the kernel header it is generated from, and the ELF
core notes of an aarch64 thread as gdb-multiarch reads them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from forensics.memory.elfcore import AARCH64_USER_REGS, NT_ARM_TLS, NT_FPREGSET, fpsimd, notes, prstatus
from forensics.model.process import AARCH64_GP, Arch, Process, Registers, Thread
from forensics.model.syscalls import SVC0, SVC_AT_PC, SVC_BEFORE_PC, syscall_name, syscall_of
from forensics.model.unistd_generic import GENERIC_SYSCALLS
from tests.conftest import REPO

HEADERS = [Path("/var/cache/checkpoint-forensics/lab/rootfs/usr/include/asm-generic/unistd.h"),
           Path("/usr/include/asm-generic/unistd.h")]
EINTR = (1 << 64) - 4


def regs(**gp: int) -> Registers:
    base = {name: 0 for name in AARCH64_GP}
    base.update(gp)
    return Registers(Arch.AARCH64, base, {"v": [f"{i:032x}" for i in range(32)], "fpsr": 0x10, "fpcr": 0x3000000})


def code(words: dict[int, int]):
    return lambda addr: words.get(addr)


def test_x8_names_a_call_only_where_the_code_proves_one() -> None:
    # A restarted call: the kernel put pc back on the svc; x0 is the first argument again.
    r = regs(pc=0x1000, x8=115, x0=1)
    assert syscall_of(r, code({0x1000: SVC0})) == (115, SVC_AT_PC)
    # A call that returned -EINTR (epoll_pwait is never restarted): pc just after the svc.
    r = regs(pc=0x1004, x8=22, x0=EINTR)
    assert syscall_of(r, code({0x1000: SVC0})) == (22, SVC_BEFORE_PC)
    # The same pc with an ordinary x0 is not a call: x8 is just a register then.
    assert syscall_of(regs(pc=0x1004, x8=22, x0=5), code({0x1000: SVC0})) == (None, None)
    # No svc near pc, or the code unreadable: nothing is claimed.
    assert syscall_of(regs(pc=0x1000, x8=115), code({0x1000: 0xD503201F})) == (None, None)
    assert syscall_of(regs(pc=0x1000, x8=115), code({})) == (None, None)
    assert syscall_of(regs(pc=0x1000, x8=115)) == (None, None)
    # x86_64 needs no code: orig_ax is the call, -1 (u64) is none.
    x86 = Registers(Arch.X86_64, {"orig_ax": 230, "ip": 0x10})
    assert syscall_of(x86) == (230, "orig_ax")
    assert syscall_of(Registers(Arch.X86_64, {"orig_ax": (1 << 64) - 1})) == (None, None)


def test_syscall_names_are_the_architectures_own() -> None:
    assert syscall_name(115, Arch.AARCH64) == "clock_nanosleep"
    assert syscall_name(230, Arch.X86_64) == "clock_nanosleep"
    assert [syscall_name(n, Arch.AARCH64) for n in (22, 63, 98, 202, 242)] == [
        "epoll_pwait", "read", "futex", "accept", "accept4"]
    assert syscall_name(115, Arch.X86_64) != "clock_nanosleep"
    assert syscall_name(100000, Arch.AARCH64) == "syscall 100000"


@pytest.mark.parametrize("header", [h for h in HEADERS if h.exists()] or [HEADERS[-1]])
def test_generic_table_is_what_the_kernel_header_says(header: Path) -> None:
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen", REPO / "samples" / "lab" / "gen_generic_syscalls.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    parsed = gen.parse(header.read_text())
    if header == HEADERS[0]:
        assert parsed == GENERIC_SYSCALLS  # the header it is generated from: exactly
    else:
        # Another kernel's header (the host's, older or newer): every number both know has one name.
        common = parsed.keys() & GENERIC_SYSCALLS.keys()
        assert len(common) > 250 and {n: parsed[n] for n in common} == {n: GENERIC_SYSCALLS[n] for n in common}
    # 64-bit names of the __NR3264_ calls, not the 32-bit ones.
    assert (parsed[25], parsed[62], parsed[79], parsed[222]) == ("fcntl", "lseek", "newfstatat", "mmap")


def test_aarch64_core_notes() -> None:
    r = regs(x0=1, x8=115, x29=0x7000, x30=0x401010, sp=0x6f00, pc=0x400500, pstate=0x60000000,
             tpidr_el0=0xFFFF_8000_1000)
    th = Thread(7, "svc", 0, r, None, "disabled", 115)
    proc = Process(pid=7, ppid=1, pgid=7, sid=7, comm="svc", state="sleeping", exit_code=None, threads=[th])
    status = prstatus(proc, th)
    assert len(status) == 112 + 34 * 8 + 8  # struct elf_prstatus with aarch64's elf_gregset_t
    words = struct.unpack_from("<34Q", status, 112)
    assert dict(zip(AARCH64_USER_REGS, words, strict=True)) == {k: r.gp[k] for k in AARCH64_USER_REGS}
    fp = fpsimd(th)
    assert fp is not None and len(fp) == 528
    assert fp[16:32] == bytes.fromhex(f"{1:032x}") and struct.unpack_from("<II", fp, 512) == (0x10, 0x3000000)
    blob = notes(proc)
    types = []
    off = 0
    while off < len(blob):
        namesz, descsz, ntype = struct.unpack_from("<III", blob, off)
        types.append(ntype)
        off += 12 + (namesz + 3 & ~3) + (descsz + 3 & ~3)
    assert NT_FPREGSET in types and NT_ARM_TLS in types
