"""Nodules lying on bone are separated from it; the bone's own partial-volume slope is not.

A toy head whose skull lies 5.5 mm under the skin (like the forehead), blurred like a scanner,
with a dense 3 mm nodule whose lower edge is ~1 mm above the bone: the nodule is counted, the
blurred bone surface gives no counted nodule, on thin and on thick slices.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from calcscan.detect.pipeline import run_detection
from calcscan.scan import CTScan


def _forehead(slice_mm: float, *, nodule: bool) -> tuple[CTScan, tuple[float, float]]:
    """Cylinder 'head': skin surface at r = 50 mm, bone from 44.5 mm inwards."""
    n_slices = round(40 / slice_mm)
    shape = (n_slices, 120, 120)
    k, r, c = np.indices(shape, dtype=np.float32)
    z = k * slice_mm
    dist = np.hypot(r - 60.0, c - 60.0)
    hu = np.full(shape, -1000.0, np.float32)
    hu[dist <= 50] = -100.0  # fat
    hu[(dist <= 50) & (dist > 48.5)] = 40.0  # dermis
    hu[(dist <= 44.5) & (dist > 38.0)] = 1300.0  # bone, 5.5 mm under the skin
    hu[dist <= 38.0] = 35.0
    # the nodule: a 3 mm sphere centred 3 mm under the skin (its lower edge 1 mm above bone)
    centre = (20.0, 60.0, 60.0 + 47.0)  # (z mm, row, col): anterior-lateral skin at col 107
    if nodule:
        d = np.sqrt((z - centre[0]) ** 2 + (r - centre[1]) ** 2 + (c - centre[2]) ** 2)
        hu[d <= 1.5] = 900.0
    # scanner blur: 0.6 mm in-plane, the slice profile along the slices
    hu = ndimage.gaussian_filter(hu, (0.5, 0.6, 0.6))
    hu += np.random.default_rng(1).normal(0, 10, shape).astype(np.float32)
    aff = np.array([[0, 0, 1, -60], [0, 1, 0, -60], [slice_mm, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    return CTScan.from_affine(hu, aff, study_key="forehead"), (centre[0], centre[2] - 60.0)


@pytest.mark.parametrize("slice_mm", [1.0, 3.0])
def test_nodule_on_bone_is_counted(slice_mm: float) -> None:
    scan, (z_mm, x_mm) = _forehead(slice_mm, nodule=True)
    rec = run_detection(scan).record
    found = [
        n
        for n in rec.nodules
        if abs(n["centroid_lps_mm"][2] - z_mm) <= slice_mm + 1
        and abs(n["centroid_lps_mm"][0] - x_mm) <= 2
    ]
    assert len(found) == 1, rec.nodules
    assert found[0]["peak_hu"] > 500


@pytest.mark.parametrize("slice_mm", [1.0, 3.0])
def test_blurred_bone_surface_is_not_a_nodule(slice_mm: float) -> None:
    scan, _ = _forehead(slice_mm, nodule=False)
    rec = run_detection(scan).record
    assert rec.nodules == []
