"""Directory- and archive-level fuzzing (tests/hostile/mutate.py): hypothesis applies up to three
mutations to a copy of a real checkpoint directory, or to the members and bytes of the real Podman
export, and every input must end in a result (possibly partial) or a ForensicsError within 10 s, through
open, the loader, and the JSON and terminal renderers, with no "internal error". CI runs
FUZZ_LAYOUT_EXAMPLES=80 of each; `fuzz/layouts.py` runs a long campaign."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.errors import ForensicsError
from forensics.loader import load_checkpoint
from forensics.render import json as json_render
from forensics.render import table as text
from forensics.tables import inspect as t
from forensics.tables.secrets import masker_for
from tests.hostile import forge, mutate
from tests.hostile.test_scale import within

EXAMPLES = int(os.environ.get("FUZZ_LAYOUT_EXAMPLES", "80"))
PODMAN_TAR = forge.SAMPLES / "podman" / "checkpoint.tar"


def decode(target: Path) -> None:
    """Everything a command does with a checkpoint: open, load, JSON and every text section."""
    try:
        ck = load_checkpoint(target)
    except ForensicsError:
        return
    try:
        internal = [e for e in ck.errors if "internal error" in e]
        assert not internal, internal
        json_render.render(ck)
        masker = masker_for([ck], False)
        procs = ck.processes
        out = io.StringIO()
        text.write_facts(t.summary(ck, masker), out)
        text.write_tree("process tree", t.tree(ck, masker), out)
        text.write([t.processes(procs, masker), t.threads(procs), t.fds(procs), t.sockets(procs),
                    t.mappings(procs), t.mounts(ck), t.environment(procs, masker)], out)
    finally:
        if ck.source is not None:
            ck.source.close()


directory_mutation = st.tuples(st.sampled_from(mutate.DIR_KINDS), st.integers(0, 1000), st.integers(0, 1000))
archive_mutation = st.tuples(st.sampled_from(mutate.ARCHIVE_KINDS), st.integers(0, 1 << 20), st.integers(0, 1000))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(muts=st.lists(directory_mutation, min_size=1, max_size=3))
def test_mutated_directory(tmp_path_factory: pytest.TempPathFactory, muts: list[tuple[str, int, int]]) -> None:
    d = forge.copy_service(tmp_path_factory.mktemp("fuzzdir") / "ck")
    try:
        for m in muts:
            mutate.mutate_directory(d, *m)
        with within(10, f"directory mutated with {muts}"):
            decode(d)
    finally:
        shutil.rmtree(d.parent, ignore_errors=True)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(muts=st.lists(archive_mutation, min_size=1, max_size=3), how=st.sampled_from(mutate.COMPRESSIONS))
def test_mutated_archive(tmp_path_factory: pytest.TempPathFactory, muts: list[tuple[str, int, int]],
                         how: str) -> None:
    work = tmp_path_factory.mktemp("fuzzarc")
    try:
        archive = mutate.mutate_archive(PODMAN_TAR, work / "cp.tar", muts, how)
        with within(10, f"archive mutated with {muts} ({how})"):
            decode(archive)
    finally:
        shutil.rmtree(work, ignore_errors=True)
