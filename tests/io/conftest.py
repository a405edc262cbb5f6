"""Small synthetic CT volumes for the io tests (no ../shared data needed)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from calcscan.scan import CTScan


def head_hu(shape: tuple[int, int, int] = (10, 40, 36), seed: int = 0) -> np.ndarray:
    """Ellipsoid 'head': air -1000, soft tissue ~40, a bone shell ~900, integer HU."""
    n, r, c = shape
    k, i, j = np.meshgrid(
        np.linspace(-1, 1, n), np.linspace(-1, 1, r), np.linspace(-1, 1, c), indexing="ij"
    )
    rho = np.sqrt((i / 0.8) ** 2 + (j / 0.7) ** 2 + (k / 1.6) ** 2)
    hu = np.full(shape, -1000.0)
    hu[rho < 0.95] = 40.0
    hu[(rho < 0.8) & (rho > 0.65)] = 900.0
    rng = np.random.default_rng(seed)
    hu += np.rint(rng.normal(0, 5, shape)) * (rho < 0.95)
    hu[0, 0, 0] = -1024.0  # exercise the minimum
    return hu.astype(np.float32)


def make_scan(
    shape: tuple[int, int, int] = (10, 40, 36),
    spacing: tuple[float, float, float] = (2.0, 0.7, 0.8),
    origin: tuple[float, float, float] = (-12.5, 30.25, -40.0),
    rotate_deg: float = 0.0,
) -> CTScan:
    """Axial scan (optionally rotated about the body axis) with non-square pixels."""
    a = np.radians(rotate_deg)
    col_dir = np.array([np.cos(a), np.sin(a), 0.0])  # along increasing column index
    row_dir = np.array([-np.sin(a), np.cos(a), 0.0])  # along increasing row index
    aff = np.eye(4)
    aff[:3, 0] = [0.0, 0.0, spacing[0]]
    aff[:3, 1] = row_dir * spacing[1]
    aff[:3, 2] = col_dir * spacing[2]
    aff[:3, 3] = origin
    return CTScan.from_affine(head_hu(shape), aff, slice_thickness_mm=spacing[0])


@pytest.fixture(scope="session")
def synth_scan() -> Callable[..., CTScan]:
    """Factory of small synthetic scans (see :func:`make_scan`)."""
    return make_scan
