"""Thread stops and variables by name on the service checkpoints (issue: registers and symbols)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from forensics.loader import load_directory
from forensics.symbols.resolve import BinaryResolver
from forensics.model.syscalls import syscall_name
from forensics.symbols.stops import stops_for
from tests.cli import forensics as _cli
from tests.conftest import REPO, load_samples

# What each thread of the service blocks in (samples/lab/service/README.md): the libc function whose
# system call /proc/PID/task/TID/syscall named.
BLOCKS_IN = {"service": {"accept", "accept4", "__libc_accept"}, "svc-worker": {"pthread_cond_wait"},
             "svc-reader": {"read", "__libc_read"}, "svc-sleeper": {"clock_nanosleep", "__clock_nanosleep"},
             "svc-child": {"read", "__libc_read"}}
# aarch64 glibc's read() ends in a tail call (`b __syscall_cancel`): read is not on the stack, its callee is.
BLOCKS_IN_AARCH64 = {**BLOCKS_IN, "svc-reader": {"__syscall_cancel"}, "svc-child": {"__syscall_cancel"}}
SYSCALL_INSN = {"x86_64": "syscall", "aarch64": "svc"}


def service_samples(root: Path):  # noqa: ANN201
    """Service checkpoints with threads and mappings (a pre-dump has neither: pages only)."""
    return [s for s in load_samples(root) if s.images is not None and "service_state" in s.truth
            and s.entry.get("action") != "pre-dump"]


def resolver_for(sample) -> BinaryResolver:  # noqa: ANN001
    binary = sample.root / sample.entry["binary"]
    exe = {p["exe"] for p in sample.truth["before"]["processes"]}
    return BinaryResolver(binaries={e: binary for e in exe})


def test_each_thread_stops_where_proc_said(run_root: Path) -> None:
    for s in service_samples(run_root):
        arch = s.entry.get("arch", "x86_64")
        blocks_in = BLOCKS_IN_AARCH64 if arch == "aarch64" else BLOCKS_IN
        ck = load_directory(s.images)
        stops = stops_for(ck, resolver_for(s))
        for proc in s.truth["before"]["processes"]:
            for t in proc["threads"]:
                stop = stops[(proc["pid"], t["tid"])]
                current = [i for i in stop.instructions if i.current]
                assert current and current[0].mnemonic == SYSCALL_INSN[arch], f"{s} {t['comm']}"
                assert ck.process(proc["pid"]).threads[[x.tid for x in ck.process(proc["pid"]).threads].index(t["tid"])].syscall == t["syscall"]
                names = {loc.symbol for _fr, loc in stop.frames[:8]}
                assert names & blocks_in[t["comm"]], f"{s} {t['comm']}: {sorted(filter(None, names))}"
                assert syscall_name(t["syscall"], arch) in {"accept", "futex", "read", "clock_nanosleep"}




def test_globals_read_by_symbol_match_logged_values() -> None:
    for s in service_samples(REPO / "samples"):
        state = s.truth["service_state"]
        pairs = [f"--binary={e}={s.root / s.entry['binary']}" for e in {p["exe"] for p in s.truth["before"]["processes"]}]
        for name in ("request_counter", "tick_counter"):
            p = _cli("memory", "read", str(s.images), "--pid", str(state["pid"]), "--symbol", name, *pairs)
            assert p.returncode == 0, p.stderr
            assert int(p.stdout.split()[-1]) == state[name], f"{s} {name}"
        p = _cli("memory", "read", str(s.images), "--pid", str(state["pid"]), "--symbol", "last_command", "--as", "str", *pairs)
        assert p.stdout.strip() == state["last_command"]


def test_diff_names_counters_by_symbol() -> None:
    s = {x.name: x for x in service_samples(REPO / "samples") if x.scenario == "service"}
    binary = s["checkpoint1"].root / s["checkpoint1"].entry["binary"]
    p = _cli("diff", str(s["checkpoint1"].images), str(s["checkpoint2"].images), "--json",
             f"--binary=/usr/local/bin/service={binary}")
    values = {v["symbol"]: v for v in json.loads(p.stdout)["values"] if v["symbol"]}
    assert (values["request_counter"]["old"], values["request_counter"]["new"], values["request_counter"]["type"]) == (4, 1010, "u64")
    assert (values["tick_counter"]["old"], values["tick_counter"]["new"]) == (1, 2)


def test_missing_binary_is_named_and_raw_addresses_shown() -> None:
    s = service_samples(REPO / "samples")[0]
    p = _cli("inspect", str(s.images), "--threads")
    assert p.returncode == 0
    assert "binaries not found" in p.stderr and "/usr/local/bin/service" in p.stderr  # a warning: stderr
    assert "binaries not found" not in p.stdout
    doc = json.loads(_cli("inspect", str(s.images), "--json").stdout)
    stop = doc["processes"][0]["threads"][0]["stop"]
    assert stop["symbol"] is None and "file not found: /usr/local/bin/service" in stop["note"]
    assert stop["address"] == doc["processes"][0]["threads"][0]["registers"]["ip"]


def test_build_id_recorded_by_criu_is_checked(tmp_path: Path) -> None:
    """CRIU records each mapped ELF's build-id; a different binary under the same path is flagged."""
    s = service_samples(REPO / "samples")[0]
    ck = load_directory(s.images)
    text = next(v for v in ck.process(1).vmas if v.path == "/usr/local/bin/service")
    from forensics.symbols.elf import ElfImage

    assert text.build_id == ElfImage(s.root / s.entry["binary"]).build_id
    good = stops_for(ck, resolver_for(s))[(1, 1)]
    assert good.location.note is None
    other = tmp_path / "other"
    subprocess.run(["gcc", "-static", "-g", "-o", str(other), "-x", "c", "-"], input="int main(){return 0;}",
                   text=True, check=True)
    bad = stops_for(ck, BinaryResolver(binaries={"/usr/local/bin/service": other}))[(1, 1)]
    assert "build-id" in (bad.location.note or "")


def test_binary_from_an_archives_rootfs_diff(tmp_path: Path) -> None:
    """A container archive whose rootfs-diff.tar holds the binary (the container wrote it): the stops are
    symbolized from there with no --rootfs or --binary."""
    import io
    import tarfile

    from forensics.loader import load_checkpoint
    from forensics.symbols.resolve import resolver_for as resolver_of_checkpoint

    s = next(x for x in service_samples(REPO / "samples") if x.scenario == "service")
    diff = io.BytesIO()
    with tarfile.open(fileobj=diff, mode="w") as tar:
        tar.add(s.root / s.entry["binary"], arcname="usr/local/bin/service")
    archive = tmp_path / "export.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(s.images, arcname="checkpoint")
        info = tarfile.TarInfo("rootfs-diff.tar")
        info.size = len(diff.getvalue())
        tar.addfile(info, io.BytesIO(diff.getvalue()))
    ck = load_checkpoint(archive)
    stops = stops_for(ck, resolver_of_checkpoint(ck, None, None))
    assert stops[(1, 1)].location.symbol is not None and stops[(1, 1)].location.note is None
    assert any(e.path == "usr/local/bin/service" or e.path.endswith("/usr/local/bin/service")
               for e in ck.wrapper.rootfs_diff or [])
