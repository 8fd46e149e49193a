"""Fixtures for symbolization: the service binary that ran in the bundled checkpoints, and its truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from forensics.symbols.elf import ElfImage, Symbol
from tests.conftest import SAMPLES, Sample, bundled_samples


def binary_samples() -> list[Sample]:
    """Bundled checkpoints whose index entry names the binary that ran in them."""
    return [s for s in bundled_samples() if s.entry.get("binary") and "service_state" in s.truth
            and s.entry.get("action") != "pre-dump"]  # a pre-dump has no threads or mappings to symbolize


@dataclass(frozen=True)
class ArchFacts:
    """What the service binary of one architecture looks like (service.c built with -g
    -fno-omit-frame-pointer by the lab's gcc, static): its ELF machine, the system call instruction and
    its size, main's frame setup, and the outermost function of a thread glibc's clone3 started."""

    machine: str
    syscall: str
    syscall_size: int
    prologue: tuple[str, ...]
    frame_setup: str
    thread_start: str
    exe_mappings: int          # the static service's own mappings in /proc/PID/maps


ARCH_FACTS = {
    "x86_64": ArchFacts("EM_X86_64", "syscall", 2, ("push rbp", "endbr64"), "mov rbp, rsp", "__clone3", 5),
    # aarch64 main has no fixed first instruction (a large frame starts with `mov x12, #size`).
    "aarch64": ArchFacts("EM_AARCH64", "svc", 4, (), "mov x29, sp", "thread_start", 3),
}


def arch_of(s: Sample) -> str:
    return str(s.entry.get("arch", "x86_64"))


@pytest.fixture(scope="session", params=sorted(ARCH_FACTS))
def arch(request: pytest.FixtureRequest) -> str:
    """Every binary test runs once per architecture the bundled samples hold a service binary for."""
    return str(request.param)


@pytest.fixture(scope="session")
def facts(arch: str) -> ArchFacts:
    return ARCH_FACTS[arch]


@pytest.fixture(scope="session")
def samples_with_binary(arch: str) -> list[Sample]:
    found = [s for s in binary_samples() if arch_of(s) == arch]
    if not found:
        pytest.fail(f"samples/index.json lists no {arch} checkpoint with its binary: the samples must be committed")
    return found


@pytest.fixture(scope="session")
def service_binary(samples_with_binary: list[Sample]) -> Path:
    paths = {SAMPLES / s.entry["binary"] for s in samples_with_binary}
    assert len(paths) == 1, paths
    return paths.pop()


@pytest.fixture(scope="session")
def service_elf(service_binary: Path) -> Iterator[ElfImage]:
    with ElfImage(service_binary) as elf:
        yield elf


def resolver_for(binary: Path, exe: str) -> Callable[[str], Path | None]:
    """A resolver that finds only the service binary, at the path the process ran it from (in the
    container's rootfs /usr/local/bin/service, in the incremental scenario a host path)."""
    return lambda path: binary if path == exe else None


def truth_maps(process: dict) -> list[tuple[int, int, int, str, str]]:
    """A truth process's /proc/PID/maps as (start, end, offset in bytes, path, perms)."""
    return [(m["start"], m["end"], m["offset"], m["path"], m["perms"]) for m in process["maps"]]


def symbol(elf: ElfImage, name: str) -> Symbol:
    """A symbol the test needs to exist."""
    found = elf.symbol(name)
    assert found is not None, f"{name} is not in {elf.path}"
    return found
