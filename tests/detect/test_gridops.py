"""The shifted-slice morphology of :mod:`calcscan.detect.gridops` equals ``scipy.ndimage``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from calcscan.detect import gridops

CUBE = np.ones((3, 3, 3), bool)
PLANE_BOX = np.zeros((3, 3, 3), bool)
PLANE_BOX[1] = True
PLANE_CROSS = np.zeros((3, 3, 3), bool)
PLANE_CROSS[1] = ndimage.generate_binary_structure(2, 1)


def _masks(n: int = 150) -> list[np.ndarray]:
    rng = np.random.default_rng(20261122)
    out = []
    for _ in range(n):
        shape = tuple(int(x) for x in rng.integers(1, 11, 3))
        out.append(rng.random(shape) < rng.random())
    return out


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_dilations_equal_scipy(iterations: int) -> None:
    for m in _masks():
        np.testing.assert_array_equal(
            gridops.dilate_cross(m, iterations), ndimage.binary_dilation(m, iterations=iterations)
        )
        np.testing.assert_array_equal(
            gridops.dilate_plane_box(m, iterations),
            ndimage.binary_dilation(m, structure=PLANE_BOX, iterations=iterations),
        )
    for m in _masks():
        np.testing.assert_array_equal(
            gridops.dilate_cube(m), ndimage.binary_dilation(m, structure=CUBE)
        )


def test_erosions_equal_scipy() -> None:
    for m in _masks():
        np.testing.assert_array_equal(
            gridops.erode_plane_box(m), ndimage.binary_erosion(m, structure=PLANE_BOX)
        )
        np.testing.assert_array_equal(
            gridops.erode_plane_cross(m),
            ndimage.binary_erosion(m, structure=PLANE_CROSS, border_value=1),
        )


def test_edges_follow_scipy_border_values() -> None:
    full = np.ones((2, 4, 4), bool)
    # erosion by the square counts the edge as background, by the cross as foreground
    assert not gridops.erode_plane_box(full)[:, 0].any()
    assert gridops.erode_plane_cross(full).all()
    # a voxel on the edge dilates inward only (nothing wraps round)
    m = np.zeros((1, 1, 5), bool)
    m[0, 0, 0] = True
    assert gridops.dilate_cube(m)[0, 0].tolist() == [True, True, False, False, False]
