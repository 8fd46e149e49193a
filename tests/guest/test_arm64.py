"""The arm64 guest's checkpoints (bundled and fresh), held at image level to crit and to /proc.

The arm64 guest (samples/lab/guest/build-arm64.sh: Debian 13 arm64 under qemu-system-aarch64 TCG, CRIU
4.2.1 from sid) dumps the lab's service, built in the guest from the same source, and the seed's busybox
counter with plain `criu dump`, and the service in a runc container with `runc checkpoint`
(inside_guest.py, scenario `arm64`). Each image must decode as the guest's crit decodes it, and what the
images say must be what /proc said at dump time: the process tree and thread ids, each thread's comm,
registers (x8 the syscall number, x0, sp, pc: /proc/PID/syscall shows them too), the mappings, the fds,
and argv, the environment, the heap secret and the service's own counters read from the dumped pages.
Everything here reads images (forensics.images), not the model: the model's arm64 support is tested with
the model's other tests once tests/conftest.py's ARCHES holds "aarch64".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forensics.images.decode import Image, list_images, open_image
from forensics.images.pagemap import pagemap_runs
from tests.conftest import ALL_ARCHES, SAMPLES, Sample, load_samples
from tests.images.test_samples import crit_mismatches, damage_and_novelty

SCENARIO = "arm64"
PAGE = 4096  # Debian's arm64 kernels use 4 KiB pages (CONFIG_ARM64_4K_PAGES); the truth's maps say so too
AARCH64 = 3  # core_entry.march


def arm64_samples(root: Path) -> dict[str, Sample]:
    found = {s.name: s for s in load_samples(root, ALL_ARCHES) if s.scenario == SCENARIO}
    assert set(found) == {"service", "counter", "runc-service"}, f"{root}: arm64 checkpoints missing"
    assert all(s.entry.get("arch") == "aarch64" for s in found.values())
    return found


@pytest.fixture(params=["bundled", pytest.param("fresh", marks=pytest.mark.lab)])
def arm64_root(request: pytest.FixtureRequest) -> Path:
    """The bundled samples, and a fresh run of the arm64 guest."""
    if request.param == "bundled":
        return SAMPLES
    return request.getfixturevalue("arm64_guest")


@pytest.fixture(params=["service", "counter", "runc-service"])
def sample(arm64_root: Path, request: pytest.FixtureRequest) -> Sample:
    return arm64_samples(arm64_root)[request.param]


def image(s: Sample, name: str) -> Image:
    assert s.images is not None
    return open_image(s.images / name)


def entries(s: Sample, name: str) -> list[Any]:
    img = image(s, name)
    out = [e.message for e in img.load()]
    assert img.errors == [], (s, name, img.errors)
    return out


def processes(s: Sample) -> dict[int, dict]:
    """The truth's processes by pid as CRIU numbers them (the guest's pids for a plain dump, the
    container's for runc's), as /proc said just before the dump."""
    return {p["pid"]: p for p in s.truth["before"]["processes"]}


class Memory:
    """The dumped private pages of one process, read through its pagemap (image level only)."""

    def __init__(self, s: Sample, pid: int) -> None:
        assert s.images is not None
        pm = pagemap_runs(image(s, f"pagemap-{pid}.img"), PAGE)
        assert pm.errors == [] and pm.pages_file is not None
        self.runs = [r for r in pm.runs if r.present]
        self.pages = (s.images / pm.pages_file).read_bytes()

    def read(self, addr: int, size: int) -> bytes:
        out = b""
        while size:
            run = next((r for r in self.runs if r.vaddr <= addr < r.end(PAGE)), None)
            assert run is not None and run.pages_offset is not None, f"{addr:#x} is not in the dump"
            n = min(size, run.end(PAGE) - addr)
            off = run.pages_offset + addr - run.vaddr
            out += self.pages[off:off + n]
            addr, size = addr + n, size - n
        return out


def test_arm64_images_decode_as_the_guests_crit_does(sample: Sample) -> None:
    assert sample.images is not None
    images = list_images(sample.images)
    assert damage_and_novelty(images) == []
    assert crit_mismatches(images, sample.crit) == []
    # crit saw every file; what it could not decode is the raw pages, the tmpfs archives, CRIU's log and
    # runc's fd list.
    decoded = {p.name.removesuffix(".json") for p in sample.crit.glob("*.json")}
    undecoded = {p.name.removesuffix(".error") for p in sample.crit.glob("*.error")}
    assert decoded | undecoded == {i.name for i in images} and not decoded & undecoded
    raw = ("dump.log", "descriptors.json")
    assert all(n.startswith("pages-") or n.endswith(".tar.gz.img") or n in raw for n in undecoded), undecoded
    kinds = {n.split("-")[0].split(".")[0] for n in decoded}
    assert {"core", "mm", "pagemap", "pstree", "inventory"} <= kinds


def test_the_tree_and_threads_are_what_proc_said(sample: Sample) -> None:
    truth = processes(sample)
    tree = entries(sample, "pstree.img")
    assert {e.pid for e in tree} == set(truth)
    for e in tree:
        p = truth[e.pid]
        assert (e.ppid, e.pgid, e.sid) == ((p["ppid"] if p["ppid"] in truth else 0), p["pgid"], p["sid"])
        assert sorted(e.threads) == sorted(t["tid"] for t in p["threads"])


def test_cores_are_aarch64_with_the_registers_proc_showed(sample: Sample) -> None:
    """Each thread's core: arch AARCH64 with 31 general registers and PAC keys (-cpu max has pointer
    authentication), its comm, and the registers /proc/PID/syscall showed at dump time. A thread sleeping
    in a syscall (all of the service's; the counter's shell and its `sleep`, unless /proc caught one
    runnable) has x8 the syscall number, x0 its first argument, the same sp, and its pc on the `svc #0`
    itself, 4 bytes before the pc /proc showed: the kernel rewinds an interrupted syscall to run it again
    on restore."""
    checked = []
    for pid, p in processes(sample).items():
        for t in p["threads"]:
            (core,) = entries(sample, f"core-{t['tid']}.img")
            assert core.mtype == AARCH64 and core.HasField("ti_aarch64") and not core.HasField("thread_info")
            assert core.thread_core.comm == t["comm"]
            if t["tid"] == pid:
                assert core.tc.comm == p["comm"]
            arm = core.ti_aarch64
            assert len(arm.gpregs.regs) == 31 and arm.pac_keys.pac_address_keys.pac_enabled_key != 0
            if t["syscall"] is None or t["syscall"] < 0:
                continue  # runnable, or in no syscall: /proc showed no registers
            words = t["syscall_raw"].split()
            nr, arg0, *_, sp, pc = (int(x, 16) if x.startswith("0x") else int(x) for x in words)
            regs = arm.gpregs
            assert (regs.regs[8], regs.regs[0], regs.sp, regs.pc + 4) == (nr, arg0, sp, pc), (sample, t)
            checked.append(t["tid"])
    if sample.name != "counter":
        assert len(checked) == sum(len(p["threads"]) for p in processes(sample).values())
    assert checked


SVC_0 = 0xD4000001


@pytest.mark.parametrize("name", ["service", "runc-service"])
def test_the_saved_pc_is_an_svc_in_the_services_arm64_binary(arm64_root: Path, name: str) -> None:
    """The service is bundled (the binary the guest built and ran, an arm64 ELF): every thread's saved pc
    lies in its text mapping and the instruction there is `svc #0`."""
    s = arm64_samples(arm64_root)[name]
    binary = (arm64_root / s.entry["binary"]).read_bytes()
    assert binary[:4] == b"\x7fELF" and int.from_bytes(binary[18:20], "little") == 183  # EM_AARCH64
    for pid, p in processes(s).items():
        exe = p["exe"]
        text = [m for m in p["maps"] if m["path"] == exe and m["perms"].startswith("r-x")]
        assert len(text) == 1, p["maps"]
        for t in p["threads"]:
            (core,) = entries(s, f"core-{t['tid']}.img")
            pc = core.ti_aarch64.gpregs.pc
            assert text[0]["start"] <= pc < text[0]["end"]
            at = pc - text[0]["start"] + text[0]["offset"]
            assert int.from_bytes(binary[at:at + 4], "little") == SVC_0, (t, hex(pc))


def test_mappings_are_what_proc_said(sample: Sample) -> None:
    for pid, p in processes(sample).items():
        (mm,) = entries(sample, f"mm-{pid}.img")
        vmas = {(v.start, v.end) for v in mm.vmas}
        maps = {(m["start"], m["end"]) for m in p["maps"]}
        assert vmas == maps, (sample, pid, sorted(vmas ^ maps))


def test_fds_are_what_proc_said(sample: Sample) -> None:
    for pid, p in processes(sample).items():
        (ids,) = entries(sample, f"ids-{pid}.img")
        fdinfo = entries(sample, f"fdinfo-{ids.files_id}.img")
        assert sorted(f.fd for f in fdinfo) == sorted(f["fd"] for f in p["fds"]), (sample, pid)


def test_argv_and_environment_read_from_the_dumped_pages(sample: Sample) -> None:
    for pid, p in processes(sample).items():
        (mm,) = entries(sample, f"mm-{pid}.img")
        mem = Memory(sample, pid)
        argv = mem.read(mm.mm_arg_start, mm.mm_arg_end - mm.mm_arg_start).rstrip(b"\0").split(b"\0")
        assert [a.decode() for a in argv] == p["argv"]
        env = mem.read(mm.mm_env_start, mm.mm_env_end - mm.mm_env_start).rstrip(b"\0").split(b"\0")
        assert dict(e.decode().partition("=")[::2] for e in env) == p["env"]


@pytest.mark.parametrize("name", ["service", "runc-service"])
def test_the_services_heap_secret_is_at_its_address(arm64_root: Path, name: str) -> None:
    s = arm64_samples(arm64_root)[name]
    state, secret = s.truth["service_state"], s.truth["heap_secret"].encode()
    for pid in (state["pid"], state["child_pid"]):
        assert Memory(s, pid).read(state["addr"]["heap_secret"], len(secret)) == secret


@pytest.mark.parametrize("name", ["service", "runc-service"])
def test_the_services_own_state_is_in_its_pages(arm64_root: Path, name: str) -> None:
    """What the service reported about itself after the dump (its `state` command: it changes nothing)
    is what its .bss held in the dump: the request counter after `add 4` (and `add 1006` in runc), the
    last command, and the banner in its read-only data."""
    s = arm64_samples(arm64_root)[name]
    state = s.truth["service_state"]
    mem, addr = Memory(s, state["pid"]), state["addr"]
    assert int.from_bytes(mem.read(addr["request_counter"], 8), "little") == state["request_counter"] > 0
    assert int.from_bytes(mem.read(addr["tick_counter"], 4), "little") == state["tick_counter"]
    assert mem.read(addr["last_command"], 32).rstrip(b"\0").decode() == state["last_command"] != ""
    shared = mem_shared(s, state)
    assert shared == state["shared_counter"] > 0


def mem_shared(s: Sample, state: dict[str, Any]) -> int:
    """The shared counter lives in a MAP_SHARED anonymous page, which CRIU 4.2 dumps as a memfd (named
    /dev/zero): the vma's shmid is a file id, its files.img entry names the memfd inode, memfd.img gives
    that inode's shmid, and pagemap-shmem-<shmid>.img locates its pages."""
    assert s.images is not None
    (mm,) = entries(s, f"mm-{state['pid']}.img")
    addr = state["addr"]["shared_counter"]
    (vma,) = [v for v in mm.vmas if v.start <= addr < v.end]
    (f,) = [f for f in entries(s, "files.img") if f.id == vma.shmid]
    (inode,) = [m for m in entries(s, "memfd.img") if m.inode_id == f.memfd.inode_id]
    assert inode.name == "/dev/zero"
    pm = pagemap_runs(image(s, f"pagemap-shmem-{inode.shmid}.img"), PAGE)
    off = addr - vma.start + vma.pgoff
    (run,) = [r for r in pm.runs if r.present and r.vaddr <= off < r.end(PAGE)]
    assert pm.pages_file is not None and run.pages_offset is not None
    data = (s.images / pm.pages_file).read_bytes()
    at = run.pages_offset + off - run.vaddr
    return int.from_bytes(data[at:at + 8], "little")


AT_PAGESZ, AT_HWCAP = 6, 16
HWCAP_PACA = 1 << 30  # arm64's hwcap bit for address pointer authentication


def test_the_saved_auxv_is_what_proc_said(sample: Sample) -> None:
    """mm's saved auxiliary vector equals /proc/PID/auxv at dump time: the page size (4096 here) and the
    CPU's features (pointer authentication under -cpu max) are read from it, not assumed."""
    truth = sample.truth
    assert truth["machine"] == "aarch64" and truth["page_size"] == PAGE
    for pid in processes(sample):
        (mm,) = entries(sample, f"mm-{pid}.img")
        saved = list(mm.mm_saved_auxv)
        pairs = [tuple(p) for p in truth["auxv"][str(pid)]]
        assert [tuple(saved[i:i + 2]) for i in range(0, len(pairs) * 2, 2)] == pairs
        assert not any(saved[len(pairs) * 2:])  # CRIU pads the vector with zeros
        aux = dict(pairs)
        assert aux[AT_PAGESZ] == PAGE and aux[AT_HWCAP] & HWCAP_PACA
