"""A dense nodule touching a faint structure (vessel, cartilage) is measured without it.

A cylinder 'head' with a faint enhancing vessel running along the slices under the skin; a
dense 2.5 mm nodule sits on the vessel. The counted nodule is the nodule: its centroid and
size are the nodule's, not those of the vessel it touches. Without the nodule, the vessel
is not counted. A nodule on its own is never trimmed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from calcscan.detect.candidates import _glued_tail
from calcscan.detect.pipeline import run_detection
from calcscan.scan import CTScan

_NODULE = (30.0, 60.0, 60.0 + 46.0)  # (z mm, row, col): 4 mm under the lateral skin


def _head(*, nodule: bool, vessel_hu: float = 230.0) -> CTScan:
    """Skin at r = 50 mm, a 2 mm vessel 4 mm deep running 30 mm along z; 0.5 mm voxels.

    The nodule sits near the vessel's lower end, so measuring the vessel with it would pull
    the centroid ~10 mm up.
    """
    shape = (120, 120, 120)
    k, r, c = np.indices(shape, dtype=np.float32)
    z = k * 0.5
    dist = np.hypot(r - 60.0, c - 60.0)
    hu = np.full(shape, -1000.0, np.float32)
    hu[dist <= 50] = -100.0
    hu[(dist <= 50) & (dist > 48.5)] = 40.0
    hu[(dist <= 40.0) & (dist > 34.0)] = 1300.0  # skull 10 mm under the skin
    hu[dist <= 34.0] = 35.0
    in_vessel = (np.hypot(r - _NODULE[1], c - _NODULE[2]) <= 1.0) & (z > 25) & (z < 55)
    hu[in_vessel] = vessel_hu
    if nodule:
        d = np.sqrt((z - _NODULE[0]) ** 2 + (r - _NODULE[1]) ** 2 + (c - _NODULE[2] - 1.2) ** 2)
        hu[d <= 1.25] = 900.0
    hu = ndimage.gaussian_filter(hu, 0.6)
    hu += np.random.default_rng(4).normal(0, 10, shape).astype(np.float32)
    aff = np.array([[0, 0, 0.5, -30], [0, 0.5, 0, -30], [0.5, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    return CTScan.from_affine(hu, aff, study_key="vessel")


def test_nodule_on_a_vessel_is_measured_alone() -> None:
    rec = run_detection(_head(nodule=True)).record
    assert len(rec.nodules) == 1, rec.nodules
    n = rec.nodules[0]
    x_mm, z_mm = (_NODULE[2] + 1.2) * 0.5 - 30.0, _NODULE[0]
    assert abs(n["centroid_lps_mm"][0] - x_mm) <= 1.0
    assert abs(n["centroid_lps_mm"][2] - z_mm) <= 1.0  # not pulled along the 40 mm vessel
    assert n["diameter_mm"] <= 2.6  # the 2.5 mm nodule, not the vessel's volume


def test_vessel_alone_is_not_counted() -> None:
    rec = run_detection(_head(nodule=False)).record
    assert rec.nodules == []


@pytest.mark.parametrize("radius", [1.0, 2.5, 4.0])
def test_isolated_nodule_is_not_trimmed(radius: float) -> None:
    k, r, c = np.indices((24, 24, 24), dtype=np.float32)
    hu = np.where(np.sqrt((k - 12) ** 2 + (r - 12) ** 2 + (c - 12) ** 2) <= radius, 900.0, -50.0)
    hu = ndimage.gaussian_filter(hu.astype(np.float32), 1.0)
    cmask = hu >= 150
    assert _glued_tail(hu, cmask, -50.0, float(hu.max()), (0.5, 0.5, 0.5)) is None
