"""The vectorised summit kernels agree with the one-voxel-at-a-time definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from calcscan.detect.summits import _climb, _climb_many, _has_summit, _steps


def _image(seed: int, shape: tuple[int, int, int] = (9, 14, 12)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=shape), 1.2).astype(np.float32)


def _summit_one(image: np.ndarray, p: np.ndarray, planar: bool) -> bool:
    hi = np.asarray(image.shape) - 1
    for off in _steps(planar):
        q = np.clip(p + off, 0, hi)  # beyond the edge: the voxel itself
        if image[tuple(q)] > image[tuple(p)]:
            return False
    return True


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("levels", [None, 4.0])
def test_has_summit_matches_the_definition_at_edges_and_inside(planar, contiguous, levels):
    image = _image(1)
    if not contiguous:
        image = _image(1, (11, 16, 14))[1:-1, 1:-1, 1:-1]  # a strided view
    if levels is not None:
        image = np.round(image * levels)  # plateaus: HU are integers, so ties are common
    idx = np.argwhere(np.ones(image.shape, dtype=bool))  # every voxel, the faces included
    got = _has_summit(image, idx, image[tuple(idx.T)], planar=planar)
    want = np.array([_summit_one(image, p, planar) for p in idx])
    np.testing.assert_array_equal(got, want)
    assert 0 < want.sum() < len(want)


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("levels", [None, 4.0])
def test_climb_many_matches_single_climbs_within_bounds(planar, levels):
    image = _image(2)
    if levels is not None:
        image = np.round(image * levels)  # plateaus: a climb stops on the first flat step
    starts = np.argwhere(np.ones(image.shape, dtype=bool))[::7]
    half = np.array([2, 4, 3])
    lo = np.maximum(starts - half, 0)
    hi = np.minimum(starts + half, np.asarray(image.shape) - 1)
    got = _climb_many(image, starts, planar=planar, lo=lo, hi=hi)
    for s, a, b, g in zip(starts, lo, hi, got, strict=True):
        sub = image[a[0] : b[0] + 1, a[1] : b[1] + 1, a[2] : b[2] + 1]
        np.testing.assert_array_equal(g, _climb(sub, s - a, planar=planar) + a)
    unbounded = _climb_many(image, starts, planar=planar)
    for s, g in zip(starts, unbounded, strict=True):
        np.testing.assert_array_equal(g, _climb(image, s, planar=planar))
    # the climbs stop at different steps: some starts are summits, most are not
    assert 0 < int((got == starts).all(axis=1).sum()) < len(starts)
