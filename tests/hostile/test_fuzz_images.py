"""Mutated real images: decoding ends in a result (maybe partial) or a ForensicsError, never a crash or
a hang. Hypothesis drives the mutations; the number of inputs tried is printed (pytest -s) and kept in
tests/hostile/fuzz-stats.txt of the run's tmp dir. CI runs a bounded number; docs/fuzzing.md says how to
run longer."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.errors import ForensicsError
from forensics.loader import load_directory
from forensics.render import json as json_render
from tests.conftest import SAMPLES, load_samples

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
SOURCE = next(s for s in load_samples(SAMPLES) if s.scenario == "service" and s.name == "checkpoint1").images
IMAGES = sorted(p.name for p in SOURCE.iterdir() if p.is_file() and not p.name.startswith("pages-"))
TRIED = {"n": 0, "partial": 0, "refused": 0}


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz") / "ck"
    shutil.copytree(SOURCE, d)
    yield d
    (d.parent / "fuzz-stats.txt").write_text(f"{TRIED}\n")
    print(f"\nfuzz: {TRIED['n']} mutated checkpoints decoded, {TRIED['partial']} partial, "
          f"{TRIED['refused']} refused, 0 crashes")


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("length"), st.integers(0, 1 << 20), st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x10000000, 0])),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.integers(0, 255)),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(name=st.sampled_from(IMAGES), muts=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_image_never_crashes(workdir: Path, name: str, muts: list) -> None:
    original = (SOURCE / name).read_bytes()
    data = bytearray(original)
    for kind, pos, value in muts:
        if not data:
            break
        pos %= len(data)
        if kind == "flip":
            data[pos] ^= value
        elif kind == "truncate":
            del data[pos:]
        elif kind == "length":
            data[pos:pos + 4] = value.to_bytes(4, "little")
        else:
            data.insert(pos, value)
    target = workdir / name
    target.write_bytes(bytes(data))
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        ck = load_directory(workdir)
        json_render.render(ck)
        internal = [e for e in ck.errors if "internal error" in e]
        assert not internal, f"{name} with {muts}: {internal}"
        TRIED["partial"] += ck.partial
    except ForensicsError:
        TRIED["refused"] += 1
    except Hang:
        pytest.fail(f"decoding {name} with {muts} took over 10 s")
    finally:
        signal.alarm(0)
        target.write_bytes(original)
        TRIED["n"] += 1
