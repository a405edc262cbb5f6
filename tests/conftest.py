"""Shared pytest fixtures.

Real CT files live outside the repository in ``../shared/data`` (override with the environment
variable ``CALCSCAN_TEST_DATA``, which points at the folder that holds ``ct/``). Tests that need
them use the ``shared_ct`` fixture and are skipped with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Folder holding ``ct/`` (``$CALCSCAN_TEST_DATA`` or ``<repo>/../shared/data``)."""
    env = os.environ.get("CALCSCAN_TEST_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def shared_stats_golden_dir() -> Path:
    """Folder of the statistics golden cases (``$CALCSCAN_STATS_GOLDEN`` or the shared one)."""
    env = os.environ.get("CALCSCAN_STATS_GOLDEN")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "stats_golden"


@pytest.fixture(scope="session")
def shared_ct() -> Path:
    """Path of ``../shared/data/ct``; skips the test when the real CT files are absent."""
    path = shared_data_dir() / "ct"
    if not path.is_dir():
        pytest.skip(
            f"real CT test data not found at {path} (set CALCSCAN_TEST_DATA to the folder "
            "holding ct/)"
        )
    return path


@pytest.fixture(scope="session")
def stats_golden() -> Path:
    """Path of ``../shared/stats_golden``; skips when absent."""
    path = shared_stats_golden_dir()
    if not (path / "cases").is_dir():
        pytest.skip(f"statistics golden cases not found at {path} (set CALCSCAN_STATS_GOLDEN)")
    return path
