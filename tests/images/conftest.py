"""Fixtures of the image tests: a sample's image directory, wherever its images are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Sample
from tests.images.checkpoints import images_dir


@pytest.fixture(scope="session")
def extracted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture
def sample_dir(request: pytest.FixtureRequest, extracted_root: Path) -> tuple[Sample, Path]:
    sample: Sample = request.param
    return sample, images_dir(sample, extracted_root)
