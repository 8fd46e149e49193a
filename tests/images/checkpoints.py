"""The bundled samples' CRIU image directories, for the image tests.

Directory samples are used in place (never written to); archive samples (Podman exports) have their
`checkpoint/` members (`pre-checkpoint/` in a --pre-checkpoint export) copied into a temporary directory
first, because that is where their images are.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from tests.conftest import ALL_ARCHES, Sample, bundled_samples

ZSTD_MAGIC = bytes.fromhex("28b52ffd")
NO_SAMPLES = "samples/index.json does not exist yet: the lab has not bundled any checkpoint"


def sample_params() -> list[object]:
    """One pytest param per bundled checkpoint, or a single skipped param saying why there is none. The
    image tests need no model, so they take every architecture's checkpoints (arm64's too)."""
    samples = bundled_samples(ALL_ARCHES)
    if not samples:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_SAMPLES), id="no-samples")]
    return [pytest.param(s, id=str(s)) for s in samples]


def extract_checkpoint(archive: Path, into: Path) -> Path:
    """Copy the regular files under `checkpoint/` (or `pre-checkpoint/`) of a (zstd- or gzip-compressed)
    tar into `into`."""
    data = archive.read_bytes()
    if data[:4] == ZSTD_MAGIC:
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 2 and parts[0] in ("checkpoint", "pre-checkpoint") and parts[1]:
                src = tar.extractfile(member)
                assert src is not None
                (into / parts[1]).write_bytes(src.read())
    return into


def images_dir(sample: Sample, tmp_root: Path) -> Path:
    if sample.images is not None:
        return sample.images
    assert sample.archive is not None, f"{sample} has neither images nor an archive"
    return extract_checkpoint(sample.archive, tmp_root / f"{sample.scenario}-{sample.name}")
