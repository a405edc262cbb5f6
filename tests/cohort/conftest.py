"""Fixtures of the cohort tests: a generated cohort (built once) and fresh SQLite URLs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cohort_fakes import Cohort, make_cohort


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """36 inputs: 20 DICOM studies, 12 NIfTI, 1 zip, 3 broken, 1 duplicate copy."""
    return make_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture()
def db_url(tmp_path: Path) -> Iterator[str]:
    """URL of a fresh SQLite results store."""
    yield f"sqlite:///{tmp_path / 'results.db'}"
