"""Fixtures of the detection tests: one synthetic head phantom with nodules in every region."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def phantom_case() -> tuple[Any, list[Any], Any]:
    """(scan, truth, DetectionResult) for a phantom with two nodules per facial region."""
    from calcscan.detect import run_detection
    from calcscan.phantom import PHANTOM_REGIONS, make_head_phantom

    scan, truth = make_head_phantom(seed=3, nodules=dict.fromkeys(PHANTOM_REGIONS, 2))
    return scan, truth, run_detection(scan)
