"""The decoded model against the ground truth /proc gave when each checkpoint was taken.

/proc was read just before and just after each checkpoint; facts that were the same both times are
what the checkpoint must show (the counter's `sleep` child can be replaced in between, the service is
idle and identical in both).
"""

from __future__ import annotations

import re
import socket
import struct
from pathlib import Path

import pytest

from forensics.model import files as f
from forensics.model.checkpoint import Checkpoint
from forensics.loader import load_directory
from tests.conftest import Sample, load_samples

_cache: dict[Path, Checkpoint] = {}


def model(sample: Sample) -> Checkpoint:
    assert sample.images is not None
    if sample.images not in _cache:
        _cache[sample.images] = load_directory(sample.images)
    return _cache[sample.images]


def dir_samples(root: Path, pre_dumps: bool = False) -> list[Sample]:
    """Image directories; pre-dumps (pages only: no tree, fds or mappings to compare with /proc) only
    when asked for (tests/guest checks them against what the restored process held)."""
    return [s for s in load_samples(root) if s.images is not None
            and (pre_dumps or s.entry.get("action") != "pre-dump")]


def stable(truth: dict) -> dict[int, dict]:
    before = {p["pid"]: p for p in truth["before"]["processes"]}
    after = {p["pid"]: p for p in (truth.get("after") or truth["before"])["processes"]}
    return {pid: p for pid, p in before.items() if pid in after and after[pid]["comm"] == p["comm"]}


def test_decodes_without_errors(run_root: Path) -> None:
    for s in dir_samples(run_root, pre_dumps=True):
        ck = model(s)
        assert ck.errors == [], s
        assert not ck.partial


def test_processes_and_threads(run_root: Path) -> None:
    for s in dir_samples(run_root):
        ck = model(s)
        for pid, truth in stable(s.truth).items():
            p = ck.process(pid)
            assert p is not None, f"{s}: pid {pid} missing"
            assert (p.ppid, p.comm, p.state) == (truth["ppid"], truth["comm"], "alive"), s
            assert p.pgid == truth["pgid"] and p.sid == truth["sid"], s
            assert sorted(t.tid for t in p.threads) == sorted(t["tid"] for t in truth["threads"]), s
            names = {t["tid"]: t["comm"] for t in truth["threads"]}
            for t in p.threads:
                assert t.comm == names[t.tid], f"{s}: thread {t.tid}"
            assert p.argv == truth["argv"], s
            assert p.env == truth["env"], s
            uid = int(truth["status"]["Uid"].split()[1])
            assert p.creds is not None and p.creds.uids[1] == uid
            assert p.creds.cap_eff == int(truth["status"]["CapEff"], 16), s


def test_threads_blocked_in_known_syscalls(run_root: Path) -> None:
    """The service's threads each sleep in a known system call; CRIU's registers must say the same as
    /proc/PID/task/TID/syscall did."""
    for s in dir_samples(run_root):
        if not s.scenario.startswith(("service", "incremental")):
            continue
        ck = model(s)
        for pid, truth in stable(s.truth).items():
            p = ck.process(pid)
            syscalls = {t["tid"]: t["syscall"] for t in truth["threads"]}
            for t in p.threads:
                assert t.syscall == syscalls[t.tid], f"{s}: tid {t.tid} {t.comm}"
            assert {t.comm: t.syscall for t in p.threads}.get("svc-worker", 202) == 202


def _proc_fd_kind(target: str) -> tuple[str, str | int | None]:
    m = re.fullmatch(r"(socket|pipe):\[(\d+)\]", target)
    if m:
        return m.group(1), int(m.group(2))
    m = re.fullmatch(r"anon_inode:\[?([a-z_]+)\]?", target)
    if m:
        return m.group(1), None
    if target.startswith("/memfd:"):
        return "memfd", target[len("/memfd:"):].removesuffix(" (deleted)")
    return "path", target


def test_every_fd(run_root: Path) -> None:
    for s in dir_samples(run_root):
        ck = model(s)
        for pid, truth in stable(s.truth).items():
            fds = {fd.fd: fd for fd in ck.process(pid).fds}
            assert sorted(fds) == sorted(x["fd"] for x in truth["fds"]), f"{s}: fd numbers of {pid}"
            for x in truth["fds"]:
                fd = fds[x["fd"]]
                kind, detail = _proc_fd_kind(x["target"])
                obj = fd.file
                where = f"{s}: pid {pid} fd {x['fd']} ({x['target']})"
                if kind == "socket":
                    assert isinstance(obj, (f.UnixSocket, f.InetSocket)) and obj.ino == detail, where
                elif kind == "pipe":
                    assert isinstance(obj, f.Pipe) and obj.pipe_id == detail, where
                elif kind == "eventfd":
                    assert isinstance(obj, f.EventFd), where
                    assert obj.count == int(x["fdinfo"]["eventfd-count"], 16), where
                elif kind == "eventpoll":
                    assert isinstance(obj, f.EventPoll), where
                elif kind == "signalfd":
                    assert isinstance(obj, f.SignalFd), where
                elif kind == "timerfd":
                    assert isinstance(obj, f.TimerFd), where
                elif kind == "inotify":
                    assert isinstance(obj, f.Inotify), where
                elif kind == "memfd":
                    assert isinstance(obj, f.Memfd) and obj.name == detail, where
                elif kind == "io_uring":
                    pytest.fail(f"{where}: CRIU cannot dump io_uring; the checkpoint should not exist")
                else:
                    assert isinstance(obj, (f.RegularFile, f.Tty, f.Fifo)), where
                    if isinstance(obj, f.Fifo):
                        assert obj.path == detail, where
                    if isinstance(obj, f.RegularFile):
                        assert obj.path == detail, where
                        assert obj.pos == int(x["fdinfo"]["pos"]), where
                assert fd.cloexec == bool(int(x["fdinfo"]["flags"], 8) & 0o2000000), where


def _proc_net_tcp(lines: list[str]) -> dict[int, tuple[str, str, int]]:
    """inode -> (local, remote, state) from /proc/net/tcp."""
    out = {}
    for line in lines[1:]:
        cols = line.split()

        def addr(h: str) -> str:
            ip, port = h.split(":")
            return f"{socket.inet_ntoa(struct.pack('<I', int(ip, 16)))}:{int(port, 16)}"

        out[int(cols[9])] = (addr(cols[1]), addr(cols[2]), int(cols[3], 16))
    return out


TCP_STATE_NAMES = {1: "ESTABLISHED", 10: "LISTEN"}


def test_inet_sockets_match_proc_net(run_root: Path) -> None:
    for s in dir_samples(run_root):
        ck = model(s)
        table = _proc_net_tcp(s.truth["before"]["net"]["tcp"])
        for p in ck.processes:
            for fd in p.fds:
                sk = fd.file
                if isinstance(sk, f.InetSocket) and sk.proto == "tcp":
                    local, remote, state = table[sk.ino]
                    assert sk.local == local, s
                    assert sk.state == TCP_STATE_NAMES[state], s
                    if sk.state != "LISTEN":
                        assert sk.peer == remote, s


def proc_maps_as_criu_saves_them(maps: list[dict], vmas: list[tuple]) -> list[tuple]:
    """/proc maps with CRIU's known differences applied: kernels >= 6.14 show the vDSO data as two
    mappings, [vvar] and [vvar_vclock], which CRIU records as one VVAR area; [vsyscall] is not always
    recorded (it cannot be remapped)."""
    out: list[tuple] = []
    for m in maps:
        row = (m["start"], m["end"], m["perms"])
        if m["path"] == "[vvar_vclock]" and out and out[-1][1] == m["start"]:
            out[-1] = (out[-1][0], m["end"], out[-1][2])
            continue
        if m["path"] == "[vsyscall]" and not any(v[0] == m["start"] for v in vmas):
            continue
        out.append(row)
    return out


def test_maps_match_proc(run_root: Path) -> None:
    for s in dir_samples(run_root):
        ck = model(s)
        for pid, truth in stable(s.truth).items():
            vmas = [(v.start, v.end, v.prot_str + ("s" if v.shared else "p"))
                    for v in ck.process(pid).vmas if v.kind != "guard"]
            assert vmas == proc_maps_as_criu_saves_them(truth["maps"], vmas), f"{s}: maps of {pid}"


def test_service_facts(run_root: Path) -> None:
    """Values the service set up on purpose (samples/lab/service/README.md)."""
    for s in dir_samples(run_root):
        if s.scenario not in ("service", "service-tcp", "incremental", "runc-chain", "criu-3.17") \
                or "service_state" not in s.truth:
            continue
        p = model(s).process(s.truth["service_state"]["pid"])
        fds = {fd.fd: fd.file for fd in p.fds}
        assert isinstance(fds[3], f.InetSocket) and fds[3].state == "LISTEN" and fds[3].local.endswith(
            f":{8080 if s.scenario != 'incremental' else 28080}")
        assert isinstance(fds[4], f.UnixSocket) and fds[4].name.endswith("/svc.sock") and fds[4].state == "LISTEN"
        assert isinstance(fds[5], f.UnixSocket) and fds[5].queued_bytes == 18
        assert isinstance(fds[6], f.Pipe) and fds[6].data == b"hello pipe\n"
        assert isinstance(fds[10], f.EventFd) and fds[10].count == 42
        assert isinstance(fds[12], f.EventPoll) and sorted(t.fd for t in fds[12].targets) == [3, 4]
        assert isinstance(fds[14], f.TimerFd) and fds[14].interval_ns == 3600 * 10**9
        assert isinstance(fds[16], f.Memfd) and fds[16].name == "svc-memfd"
        if s.scenario == "service-tcp" and s.name == "checkpoint2":
            client, server = fds[18], fds[19]
            assert isinstance(client, f.InetSocket) and client.state == "ESTABLISHED"
            assert client.peer == server.local == "127.0.0.1:8080"
            assert server.in_queue == len(b"ping-from-client\n")


def test_model_agrees_with_crit(run_root: Path) -> None:
    """Process tree and fd tables against the lab's crit of the CRIU that wrote the images."""
    for s in dir_samples(run_root):
        ck = model(s)
        pstree = s.crit_json("pstree.img")["entries"]
        assert [(e["pid"], e["ppid"]) for e in sorted(pstree, key=lambda e: e["pid"])] == \
            sorted((p.pid, p.ppid) for p in ck.processes)
        for p in ck.processes:
            ids = s.crit_json(f"ids-{p.pid}.img")["entries"][0]
            fdinfo = s.crit_json(f"fdinfo-{ids['files_id']}.img")["entries"]
            assert sorted(e["fd"] for e in fdinfo) == [fd.fd for fd in p.fds]
            mm = s.crit_json(f"mm-{p.pid}.img")["entries"][0]
            assert sorted((v["start"], v["end"]) for v in mm["vmas"]) == sorted((v.start, v.end) for v in [*p.vmas, *p.guards])
