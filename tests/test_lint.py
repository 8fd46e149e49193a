"""ruff and mypy, as configured in pyproject.toml, find nothing.

ruff's rule set is pinned there (a new ruff release cannot move the line): pyflakes and pycodestyle's
error rules everywhere, import order, modern syntax and bugbear in the floors made clean. mypy analyses
the whole package and reports on the floors made clean, with strict settings (issue 12 widens both).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True,
                       timeout=600, check=False)
    if f"No module named {command[0]}" in p.stderr:
        pytest.fail(f"{command[0]} is not installed: pip install -e '.[test]'")
    return p


def test_ruff_is_clean() -> None:
    p = _run("ruff", "check", "--no-cache", "forensics", "tests")
    assert p.returncode == 0, p.stdout[-5000:] + p.stderr[-2000:]


def test_mypy_is_clean() -> None:
    p = _run("mypy", "forensics")
    assert p.returncode == 0, p.stdout[-5000:] + p.stderr[-2000:]
