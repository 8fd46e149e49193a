"""Ground truth for a container, read from /proc at checkpoint time.

The lab runs in the host pid namespace, so it sees the container's processes under their host pids and
learns their in-container pids (what CRIU records) from `NSpid`. Everything is kept close to what /proc
says (raw lines next to parsed fields), so a test that disagrees with it points at the decoder, not at
this capture. Standard library only: this runs with the lab rootfs's own python3.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def _read(path: str | Path, default: str = "") -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return default


def _status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _ns_pid(status: dict[str, str]) -> int:
    return int(status["NSpid"].split()[-1])


def pid_ns(host_pid: int) -> str:
    return os.readlink(f"/proc/{host_pid}/ns/pid")


def _ppid(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[1])


def container_pids(init_host_pid: int) -> list[int]:
    """Host pids of the processes a checkpoint of init would hold: everything in init's pid namespace
    when it has its own (a container; this includes `docker exec`'d processes, which are not init's
    descendants), otherwise init and its descendants (a plain `criu dump -t PID` in the host's)."""
    ns = pid_ns(init_host_pid)
    own_ns = ns != os.readlink("/proc/self/ns/pid")
    parent: dict[int, int | None] = {}
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
        except OSError:
            continue
        members.append(pid)
        parent[pid] = _ppid(pid)
    if own_ns:
        return sorted(members)

    def descends(pid: int) -> bool:
        seen = set()
        while pid and pid not in seen:
            if pid == init_host_pid:
                return True
            seen.add(pid)
            pid = parent.get(pid) or 0
        return False

    return sorted(p for p in members if descends(p))


_MAPS = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$")


def _maps(host_pid: int) -> list[dict]:
    out = []
    for line in _read(f"/proc/{host_pid}/maps").splitlines():
        m = _MAPS.match(line)
        if m:
            out.append({"start": int(m[1], 16), "end": int(m[2], 16), "perms": m[3],
                        "offset": int(m[4], 16), "dev": m[5], "inode": int(m[6]), "path": m[7]})
    return out


def _fds(host_pid: int) -> list[dict]:
    out = []
    base = f"/proc/{host_pid}/fd"
    try:
        names = sorted(os.listdir(base), key=int)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        info = {}
        extra = []
        for line in _read(f"/proc/{host_pid}/fdinfo/{name}").splitlines():
            key, sep, value = line.partition(":")
            if sep and key in ("pos", "flags", "mnt_id", "ino", "eventfd-count", "clockid", "ticks",
                               "settime flags", "it_value", "it_interval", "sigmask"):
                info[key] = value.strip()
            else:
                extra.append(line)
        out.append({"fd": int(name), "target": target, "fdinfo": info, "fdinfo_extra": extra})
    return out


def _threads(host_pid: int) -> list[dict]:
    out = []
    for tid in sorted(os.listdir(f"/proc/{host_pid}/task"), key=int):
        base = f"/proc/{host_pid}/task/{tid}"
        st = _status(_read(f"{base}/status"))
        if not st:
            continue
        syscall = _read(f"{base}/syscall").split()
        out.append({
            "host_tid": int(tid),
            "tid": _ns_pid(st),
            "comm": _read(f"{base}/comm").strip(),
            "state": st.get("State", ""),
            "syscall": int(syscall[0]) if syscall and syscall[0].lstrip("-").isdigit() else None,
            "syscall_raw": " ".join(syscall),
            "wchan": _read(f"{base}/wchan"),
            "sigblk": st.get("SigBlk", ""),
        })
    return out


def process(host_pid: int, host_to_ns: dict[int, int]) -> dict:
    st = _status(_read(f"/proc/{host_pid}/status"))
    stat = _read(f"/proc/{host_pid}/stat")
    # Fields after the comm's closing parenthesis: state ppid pgrp session ...
    rest = stat[stat.rfind(")") + 2:].split()
    host_ppid, host_pgid, host_sid = int(rest[1]), int(rest[2]), int(rest[3])
    cmdline = _read(f"/proc/{host_pid}/cmdline")
    environ = _read(f"/proc/{host_pid}/environ")
    return {
        "host_pid": host_pid,
        "pid": _ns_pid(st),
        "ppid": host_to_ns.get(host_ppid, 0),
        "pgid": host_to_ns.get(host_pgid, 0),
        "sid": host_to_ns.get(host_sid, 0),
        "comm": _read(f"/proc/{host_pid}/comm").strip(),
        "state": st.get("State", ""),
        "argv": cmdline.split("\0")[:-1] if cmdline else [],
        "env": dict(kv.split("=", 1) for kv in environ.split("\0") if "=" in kv),
        "exe": _safe_readlink(f"/proc/{host_pid}/exe"),
        "cwd": _safe_readlink(f"/proc/{host_pid}/cwd"),
        "status": {k: st[k] for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                      "CapAmb", "NoNewPrivs", "Seccomp", "Threads", "SigBlk", "SigIgn",
                                      "SigCgt", "Umask") if k in st},
        "personality": _read(f"/proc/{host_pid}/personality").strip(),
        "threads": _threads(host_pid),
        "fds": _fds(host_pid),
        "maps": _maps(host_pid),
        "cgroup": _read(f"/proc/{host_pid}/cgroup").splitlines(),
        "ns": {n: _safe_readlink(f"/proc/{host_pid}/ns/{n}")
               for n in ("pid", "mnt", "net", "ipc", "uts", "user", "cgroup", "time")},
    }


def _safe_readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def capture(init_host_pid: int) -> dict:
    """Everything /proc says about the container whose init has this host pid."""
    pids = container_pids(init_host_pid)
    host_to_ns = {}
    for p in pids:
        st = _status(_read(f"/proc/{p}/status"))
        if st:
            host_to_ns[p] = _ns_pid(st)
    procs = []
    for p in pids:
        try:
            procs.append(process(p, host_to_ns))
        except (OSError, KeyError, IndexError):
            continue  # exited while we looked (the counter's short-lived `sleep`)
    return {
        "processes": procs,
        "net": {
            "tcp": _read(f"/proc/{init_host_pid}/net/tcp").splitlines(),
            "tcp6": _read(f"/proc/{init_host_pid}/net/tcp6").splitlines(),
            "unix": _read(f"/proc/{init_host_pid}/net/unix").splitlines(),
        },
        "mountinfo": _read(f"/proc/{init_host_pid}/mountinfo").splitlines(),
        "hostname": _read(f"/proc/{init_host_pid}/root/etc/hostname").strip(),
    }
