"""From decoded images to the typed model.

Each function reads the few images one record needs, through `Images`, which decodes an image the
first time it is asked for and remembers it. Nothing here prints or decides what is suspicious; problems
with the evidence (an fd whose file id is missing, a pstree whose parents are absent) become warnings on
the checkpoint, and the records keep what could be decoded.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable
from typing import Any, Protocol

from forensics.model import files as f
from forensics.model.flags import (
    CLOCKS, IP_PROTOS, MOUNT_FSTYPES, RLIMITS, SECCOMP_MODES, SOCK_FAMILIES, SOCK_TYPES, TASK_STATES,
    TCP_STATES,
)
from forensics.model.mounts import Mount
from forensics.model.syscalls import syscall_of
from forensics.model.process import X86_64_GP, Arch, Creds, Process, Registers, SigAction, Thread
from forensics.model.vma import Vma, VmaKind

Message = Any


class Images(Protocol):
    """What the builder needs from a checkpoint: decoded entries and EXTRA blobs by image file name."""

    def entries(self, name: str) -> list[Message]: ...

    def extras(self, name: str) -> list[tuple[Message, bytes | None]]: ...

    def exists(self, name: str) -> bool: ...

    def warn(self, message: str) -> None: ...


def text(value: Any) -> str:
    """A string field as text. With proto2, protobuf's upb backend hands back `bytes` when the field is
    not valid UTF-8 (a damaged or hostile image); the model always gets text, undecodable bytes escaped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


def topt(msg: Message, name: str) -> str | None:
    value = opt(msg, name)
    return None if value is None else text(value)


def has(msg: Message, name: str) -> bool:
    try:
        return msg.HasField(name)
    except ValueError:  # repeated fields have no presence
        return bool(getattr(msg, name))


def opt(msg: Message, name: str) -> Any:
    return getattr(msg, name) if has(msg, name) else None


# ------------------------------------------------------------------ threads and processes

def _vector_regs(words: Iterable[int]) -> list[str]:
    """128-bit registers (xmm, st, ymm upper halves) as hex, from the u32 words CRIU stores them in."""
    raw = b"".join(struct.pack("<I", w & 0xFFFFFFFF) for w in words)
    return [raw[i:i + 16].hex() for i in range(0, len(raw), 16)]


def _vector_regs64(words: Iterable[int]) -> list[str]:
    """aarch64 v0-v31 as 128-bit hex (little-endian bytes, as in memory), from the u64 halves CRIU stores
    them in (user_aarch64_fpsimd_context_entry.vregs: low half first)."""
    raw = b"".join(struct.pack("<Q", w & 0xFFFFFFFFFFFFFFFF) for w in words)
    return [raw[i:i + 16].hex() for i in range(0, len(raw), 16)]


def _x86_64(core: Message) -> Registers:
    ti = core.thread_info
    gp: dict[str, int] = {name: getattr(ti.gpregs, name) for name in X86_64_GP if has(ti.gpregs, name)}
    fpu = None
    if has(ti, "fpregs"):
        fp = ti.fpregs
        fpu = {"mxcsr": fp.mxcsr, "cwd": fp.cwd, "swd": fp.swd,
               "xmm": _vector_regs(fp.xmm_space), "st": _vector_regs(fp.st_space),
               # the rest of the FXSAVE image, for an ELF core's NT_FPREGSET
               "twd": fp.twd, "fop": fp.fop, "rip": fp.rip, "rdp": fp.rdp, "mxcsr_mask": fp.mxcsr_mask}
        if has(fp, "xsave"):
            xs = fp.xsave
            fpu["xstate_bv"] = xs.xstate_bv
            fpu["ymmh"] = _vector_regs(xs.ymmh_space)
    return Registers(Arch.X86_64, gp, fpu)


def _aarch64(core: Message) -> Registers:
    ti = core.ti_aarch64
    gp: dict[str, int] = {}
    fpu = None
    if has(ti, "gpregs"):
        g = ti.gpregs
        for i, value in enumerate(list(g.regs)[:31]):
            gp[f"x{i}"] = value
        for name in ("sp", "pc", "pstate"):
            if has(g, name):
                gp[name] = getattr(g, name)
    if has(ti, "tls"):
        gp["tpidr_el0"] = ti.tls
    if has(ti, "fpsimd"):
        fs = ti.fpsimd
        fpu = {"v": _vector_regs64(fs.vregs), "fpsr": fs.fpsr, "fpcr": fs.fpcr}
    return Registers(Arch.AARCH64, gp, fpu)


_OTHER_ARCHES = (("ti_arm", Arch.ARM), ("ti_ppc64", Arch.PPC64), ("ti_s390", Arch.S390),
                 ("ti_riscv64", Arch.RISCV64), ("ti_mips", Arch.MIPS), ("ti_loongarch64", Arch.LOONGARCH64))


def registers(core: Message) -> Registers | None:
    """The registers of one thread under its machine's names. x86_64 and aarch64 are decoded fully; the
    other machines CRIU supports keep the scalar fields of their gpregs message by their proto names."""
    if has(core, "thread_info"):
        return _x86_64(core)
    if has(core, "ti_aarch64"):
        return _aarch64(core)
    for arch_field, arch in _OTHER_ARCHES:
        if has(core, arch_field):
            ti = getattr(core, arch_field)
            gp = {}
            if has(ti, "gpregs"):
                for fd, value in ti.gpregs.ListFields():
                    if isinstance(value, int) and not isinstance(value, bool):
                        gp[fd.name] = value
            return Registers(arch, gp)
    return None


def creds(tc: Message) -> Creds | None:
    if not has(tc, "creds"):
        return None
    c = tc.creds

    def cap(words: Iterable[int]) -> int:
        w = list(words)
        return (w[0] if w else 0) | ((w[1] if len(w) > 1 else 0) << 32)

    return Creds(uids=(c.uid, c.euid, c.suid, c.fsuid), gids=(c.gid, c.egid, c.sgid, c.fsgid),
                 groups=list(c.groups), cap_inh=cap(c.cap_inh), cap_prm=cap(c.cap_prm), cap_eff=cap(c.cap_eff),
                 cap_bnd=cap(c.cap_bnd), cap_amb=cap(c.cap_amb), secbits=c.secbits,
                 no_new_privs=opt(c, "no_new_privs"), lsm_profile=topt(c, "lsm_profile"))


def thread(tid: int, core: Message) -> Thread:
    tcore = core.thread_core if has(core, "thread_core") else None
    regs = registers(core)
    syscall, evidence = syscall_of(regs)
    blocked = 0
    if tcore is not None and has(tcore, "blk_sigset"):
        blocked = tcore.blk_sigset
    elif has(core, "tc"):
        blocked = core.tc.blk_sigset
    return Thread(
        tid=tid,
        comm=topt(tcore, "comm") if tcore is not None else None,
        blocked_signals=blocked,
        registers=regs,
        creds=creds(tcore) if tcore is not None else None,
        seccomp_mode=SECCOMP_MODES.get(tcore.seccomp_mode, str(tcore.seccomp_mode))
        if tcore is not None and has(tcore, "seccomp_mode") else "disabled",
        syscall=syscall,
        syscall_evidence=evidence,
    )


def process(entry: Message, images: Images) -> Process:
    pid = entry.pid
    cores = {}
    for tid in entry.threads:
        got = images.entries(f"core-{tid}.img")
        if got:
            cores[tid] = got[0]
        else:
            images.warn(f"core-{tid}.img is missing: thread {tid} of pid {pid} has no registers")
    leader = cores.get(pid)
    tc = leader.tc if leader is not None and has(leader, "tc") else None
    state = TASK_STATES.get(tc.task_state, f"state {tc.task_state}") if tc is not None else "unknown"
    proc = Process(
        pid=pid, ppid=entry.ppid, pgid=entry.pgid, sid=entry.sid,
        comm=text(tc.comm) if tc is not None else "?",
        state=state,
        exit_code=tc.exit_code if tc is not None and state == "dead" else None,
        threads=[thread(tid, cores[tid]) for tid in entry.threads if tid in cores],
        personality=tc.personality if tc is not None else 0,
    )
    if tc is not None:
        if has(tc, "rlimits"):
            for i, rl in enumerate(tc.rlimits.rlimits):
                proc.rlimits[RLIMITS[i] if i < len(RLIMITS) else str(i)] = (rl.cur, rl.max)
        signo = 1
        for sa in tc.sigactions:
            if signo in (9, 19):  # CRIU skips SIGKILL and SIGSTOP
                signo += 1
                if signo in (9, 19):
                    signo += 1
            proc.sigactions.append(SigAction(signo, sa.sigaction, sa.flags, sa.mask))
            signo += 1
        if has(tc, "cg_set"):
            proc.cgroup_set = tc.cg_set
    if proc.threads and leader is not None and has(leader, "thread_core") and has(leader.thread_core, "cg_set"):
        proc.cgroup_set = leader.thread_core.cg_set
    return proc


def namespaces(ids: Message) -> dict[str, int]:
    out = {}
    for name in ("pid", "net", "ipc", "uts", "mnt", "user", "cgroup", "time"):
        value = opt(ids, f"{name}_ns_id")
        if value is not None:
            out[name] = value
    return out


# ------------------------------------------------------------------ files

def _addr(family: int, words: Iterable[int]) -> str:
    """An address stored as u32 words holding network-order bytes; a forged word count is padded or cut
    to the family's size rather than trusted."""
    raw = b"".join(struct.pack("<I", w & 0xFFFFFFFF) for w in words)
    if family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16].ljust(16, b"\0")))
    return str(ipaddress.IPv4Address(raw[:4].ljust(4, b"\0")))


def _hostport(family: int, words: Iterable[int], port: int) -> str:
    a = _addr(family, words)
    return f"[{a}]:{port}" if family == socket.AF_INET6 else f"{a}:{port}"


def unix_name(raw: bytes) -> str | None:
    if not raw:
        return None
    if raw[0] == 0:
        return "@" + raw[1:].decode("utf-8", "backslashreplace")
    # A path name is stored with the NUL terminator the kernel reported (sun_path); an abstract name
    # (leading NUL) is raw bytes and keeps everything.
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def file_object(fe: Message, ctx: FileContext) -> f.FileObject:
    kind = fe.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[fe.type].name \
        if fe.type in fe.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number else str(fe.type)
    fid = fe.id
    if has(fe, "reg"):
        r = fe.reg
        # CRIU stores an ELF's GNU build-id as u32 words, little-endian on the hosts it runs on.
        build_id = b"".join(struct.pack("<I", w & 0xFFFFFFFF) for w in r.build_id).hex() or None
        return f.RegularFile(fid, path=text(r.name), flags=r.flags, pos=r.pos, size=opt(r, "size"),
                             mode=opt(r, "mode"), deleted=fid in ctx.deleted, mnt_id=opt(r, "mnt_id"),
                             build_id=build_id)
    if has(fe, "pipe"):
        data = ctx.pipe_data.get(fe.pipe.pipe_id)
        return f.Pipe(fid, pipe_id=fe.pipe.pipe_id, flags=fe.pipe.flags,
                      queued_bytes=len(data) if data else 0, data=data)
    if has(fe, "fifo"):
        data = ctx.fifo_data.get(fe.fifo.pipe_id)
        path = ctx.reg_name(fe.fifo.regf_id)
        return f.Fifo(fid, pipe_id=fe.fifo.pipe_id, path=path, queued_bytes=len(data) if data else 0, data=data)
    if has(fe, "usk"):
        u = fe.usk
        return f.UnixSocket(fid, ino=u.ino, sock_type=SOCK_TYPES.get(u.type, str(u.type)),
                            state=TCP_STATES.get(u.state, str(u.state)), name=unix_name(bytes(u.name)),
                            peer_ino=u.peer, peer_name=ctx.unix_names.get(u.peer) if u.peer else None,
                            queued_bytes=ctx.queued.get(fid, 0), backlog=u.backlog, shutdown=opt(u, "shutdown") or 0,
                            data=ctx.queued_data.get(fid))
    if has(fe, "isk"):
        s = fe.isk
        fam = SOCK_FAMILIES.get(s.family, str(s.family))
        stream = ctx.tcp_streams.get(s.ino)
        sock = f.InetSocket(
            fid, ino=s.ino, family=fam, sock_type=SOCK_TYPES.get(s.type, str(s.type)),
            proto=IP_PROTOS.get(s.proto, str(s.proto)), state=TCP_STATES.get(s.state, str(s.state)),
            local=_hostport(s.family, s.src_addr, s.src_port), peer=_hostport(s.family, s.dst_addr, s.dst_port),
            backlog=s.backlog,
            rcvbuf=s.opts.so_rcvbuf if has(s, "opts") else None,
            sndbuf=s.opts.so_sndbuf if has(s, "opts") else None,
            queued_bytes=ctx.queued.get(fid, 0),
        )
        if stream is not None:
            sock.in_queue, sock.out_queue = stream
            sock.queued_bytes += stream[0] + stream[1]
        return sock
    if has(fe, "nlsk"):
        return f.NetlinkSocket(fid, ino=fe.nlsk.ino, protocol=fe.nlsk.protocol, portid=opt(fe.nlsk, "portid") or 0)
    if has(fe, "psk"):
        return f.PacketSocket(fid, ino=opt(fe.psk, "ino") or 0, sock_type=SOCK_TYPES.get(fe.psk.type, str(fe.psk.type)),
                              protocol=fe.psk.protocol, ifindex=opt(fe.psk, "ifindex") or 0)
    if has(fe, "efd"):
        return f.EventFd(fid, count=fe.efd.counter, flags=fe.efd.flags)
    if has(fe, "epfd"):
        return f.EventPoll(fid, targets=[f.EpollTarget(t.tfd, t.events, t.data) for t in fe.epfd.tfd])
    if has(fe, "sgfd"):
        return f.SignalFd(fid, sigmask=fe.sgfd.sigmask)
    if has(fe, "tfd"):
        t = fe.tfd
        return f.TimerFd(fid, clock=CLOCKS.get(t.clockid, str(t.clockid)), ticks=t.ticks,
                         value_ns=t.vsec * 10**9 + t.vnsec, interval_ns=t.isec * 10**9 + t.insec)
    if has(fe, "ify"):
        return f.Inotify(fid, watches=[f.InotifyWatch(w.wd, w.i_ino, w.mask) for w in fe.ify.wd])
    if has(fe, "tty"):
        info = ctx.ttys.get(fe.tty.tty_info_id)
        index = info.pty.index if info is not None and has(info, "pty") else None
        tty_type = info.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[info.type].name.lower() \
            if info is not None else "unknown"
        return f.Tty(fid, index=index, tty_type=tty_type,
                     path=ctx.reg_name(fe.tty.regf_id) if has(fe.tty, "regf_id") else
                     (f"/dev/pts/{index}" if index is not None else None))
    if has(fe, "memfd"):
        m = fe.memfd
        inode = ctx.memfd_inodes.get(m.inode_id)
        return f.Memfd(fid, name=text(inode.name) if inode is not None else "?",
                       size=inode.size if inode is not None else 0, pos=m.pos,
                       seals=inode.seals if inode is not None else 0,
                       shmid=inode.shmid if inode is not None else None)
    fields: dict[str, object] = {}
    for fd_, value in fe.ListFields():
        if fd_.name not in ("type", "id"):
            fields[fd_.name] = str(value).strip()
    return f.OtherFile(fid, kind=kind, fields=fields)


class FileContext:
    """The cross-image facts a file record needs: pipe contents, socket queues, deleted files, ttys."""

    def __init__(self, images: Images) -> None:
        self.files = {fe.id: fe for fe in images.entries("files.img")}
        self.pipe_data: dict[int, bytes] = {}
        for entry, extra in images.extras("pipes-data.img"):
            self.pipe_data[entry.pipe_id] = extra or b""
        self.fifo_data: dict[int, bytes] = {}
        for entry, extra in images.extras("fifo-data.img"):
            self.fifo_data[entry.pipe_id] = extra or b""
        self.queued: dict[int, int] = {}
        self.queued_data: dict[int, bytes] = {}
        for entry, extra in images.extras("sk-queues.img"):
            self.queued[entry.id_for] = self.queued.get(entry.id_for, 0) + entry.length
            self.queued_data[entry.id_for] = self.queued_data.get(entry.id_for, b"") + (extra or b"")
        self.deleted = {r.orig_id for r in images.entries("remap-fpath.img")}
        self.ttys = {t.id: t for t in images.entries("tty-info.img")}
        self.memfd_inodes = {}
        for m in images.entries("memfd.img"):
            key = opt(m, "inode_id")
            self.memfd_inodes[key if key is not None else m.shmid] = m
        self.unix_names = {}
        self.tcp_streams: dict[int, tuple[int, int]] = {}
        for fe in self.files.values():
            if has(fe, "usk"):
                self.unix_names[fe.usk.ino] = unix_name(bytes(fe.usk.name))
            if has(fe, "isk") and images.exists(f"tcp-stream-{fe.isk.ino:x}.img"):
                got = images.entries(f"tcp-stream-{fe.isk.ino:x}.img")
                if got:
                    self.tcp_streams[fe.isk.ino] = (got[0].inq_len, got[0].outq_len)
        self._objects: dict[int, f.FileObject] = {}

    def reg_name(self, fid: int) -> str | None:
        fe = self.files.get(fid)
        return text(fe.reg.name) if fe is not None and has(fe, "reg") else None

    def object(self, fid: int) -> f.FileObject | None:
        if fid not in self._objects:
            fe = self.files.get(fid)
            if fe is None:
                return None
            self._objects[fid] = file_object(fe, self)
        return self._objects[fid]


def fds(files_id: int, ctx: FileContext, images: Images) -> list[f.Fd]:
    out = []
    for fi in images.entries(f"fdinfo-{files_id}.img"):
        obj = ctx.object(fi.id)
        fd = f.Fd(fd=fi.fd, file=obj, cloexec=bool(fi.flags & 1))
        if obj is None:
            fd.missing_file_id = fi.id
            images.warn(f"fd {fi.fd} of fdinfo-{files_id}.img points at file id {fi.id}, absent from files.img")
        out.append(fd)
    return sorted(out, key=lambda x: x.fd)


# ------------------------------------------------------------------ memory map

def vma_kind(v: Message) -> VmaKind:
    s = v.status
    if s & (1 << 16):
        return VmaKind.GUARD
    if s & (1 << 5):
        return VmaKind.HEAP
    if s & (1 << 3):
        return VmaKind.VDSO
    if s & (1 << 12):
        return VmaKind.VVAR
    if s & (1 << 2):
        return VmaKind.VSYSCALL
    if s & (1 << 10):
        return VmaKind.SYSV
    if s & (1 << 14):
        return VmaKind.MEMFD if not (s & (1 << 8)) else VmaKind.SHARED
    if s & (1 << 8):
        return VmaKind.SHARED
    if s & ((1 << 6) | (1 << 7)):
        return VmaKind.FILE
    if v.flags & 0x100 or s & (1 << 1):
        return VmaKind.STACK
    return VmaKind.ANON


def vmas(mm: Message, ctx: FileContext) -> list[Vma]:
    out = []
    for v in mm.vmas:
        kind = vma_kind(v)
        path = None
        build_id = None
        if v.status & ((1 << 6) | (1 << 7) | (1 << 14)):
            obj = ctx.object(v.shmid)
            if isinstance(obj, f.RegularFile):
                path = obj.path
                build_id = obj.build_id
            elif isinstance(obj, f.Memfd):
                path = "/dev/zero (deleted)" if obj.name == "/dev/zero" else f"/memfd:{obj.name} (deleted)"
                if obj.name == "/dev/zero":
                    kind = VmaKind.SHARED
        elif kind is VmaKind.SYSV:
            path = f"/SYSV{v.shmid:08x}"
        out.append(Vma(start=v.start, end=v.end, pgoff=v.pgoff, prot=v.prot, flags=v.flags, status=v.status,
                       shmid=v.shmid, path=path, kind=kind, build_id=build_id))
    return sorted(out, key=lambda x: x.start)


# ------------------------------------------------------------------ mounts

def mounts(images: Images, mnt_ns_ids: Iterable[int]) -> list[Mount]:
    out = []
    for ns in sorted(set(mnt_ns_ids)):
        for m in images.entries(f"mountpoints-{ns}.img"):
            fstype = MOUNT_FSTYPES.get(m.fstype, str(m.fstype))
            if fstype == "auto" and has(m, "fsname"):
                fstype = text(m.fsname)
            elif fstype == "unsupported":
                # CRIU records no type for a mount it does not restore itself (an external bind mount such as
                # Docker's /etc/hosts): say so, rather than naming a filesystem "unsupported".
                fstype = "external (type not recorded)" if (topt(m, "ext_key") or opt(m, "ext_mount")) \
                    else "not recorded by CRIU"
            out.append(Mount(
                mnt_id=m.mnt_id, parent_mnt_id=m.parent_mnt_id, mountpoint=text(m.mountpoint), fstype=fstype,
                source=topt(m, "source") or "", options=topt(m, "options") or "", root=text(m.root),
                flags=m.flags, sb_flags=opt(m, "sb_flags") or 0, shared_id=opt(m, "shared_id") or 0,
                master_id=opt(m, "master_id") or 0, external=topt(m, "ext_key") or opt(m, "ext_mount") or None,
                root_dev=m.root_dev, ns_id=ns,
            ))
    return sorted(out, key=lambda m: (m.ns_id, m.mnt_id))
