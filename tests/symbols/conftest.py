"""Fixtures for symbolization: the service binary that ran in the bundled checkpoints, and its truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forensics.symbols.elf import ElfImage, Symbol
from tests.conftest import SAMPLES, Sample, bundled_samples


def binary_samples() -> list[Sample]:
    """Bundled checkpoints whose index entry names the binary that ran in them."""
    return [s for s in bundled_samples() if s.entry.get("binary") and "service_state" in s.truth
            and s.entry.get("action") != "pre-dump"]  # a pre-dump has no threads or mappings to symbolize


@pytest.fixture(scope="session")
def samples_with_binary() -> list[Sample]:
    found = binary_samples()
    if not found:
        pytest.fail("samples/index.json lists no checkpoint with its binary: the samples must be committed")
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
