"""The sealing closing near the edge of the field of view (the chin's underside, the vertex)."""

from __future__ import annotations

import numpy as np

from calcscan.detect.config import DetectConfig
from calcscan.detect.tissue import _close, compute_tissue

SP = (1.0, 1.0, 1.0)


def _ball(shape: tuple[int, int, int], centre: tuple[float, float, float], r: float) -> np.ndarray:
    k, i, j = np.indices(shape, dtype=np.float64)
    return np.asarray((k - centre[0]) ** 2 + (i - centre[1]) ** 2 + (j - centre[2]) ** 2 <= r**2)


def test_a_dome_cut_by_the_first_slice_closes_to_itself():
    # a convex body whose underside is just beyond slice 0: its closing is itself; a closing
    # that cannot erode in from beyond the array grows a skirt along the first slices
    dome = _ball((30, 60, 60), (22.0, 30.0, 30.0), 24.0)
    assert dome[0].any() and dome[0].sum() < dome[6].sum()
    np.testing.assert_array_equal(_close(dome, SP, 4.0), dome)


def test_a_narrow_gap_is_still_sealed():
    # two blocks with a 3 mm slot between them, away from the array's edges
    body = np.zeros((20, 40, 40), dtype=bool)
    body[5:15, 5:35, 5:18] = True
    body[5:15, 5:35, 21:35] = True
    closed = _close(body, SP, 4.0)
    assert closed[8:12, 10:30, 18:21].all()
    assert not closed[0:3].any()


def test_depth_near_the_first_slice_follows_the_skin_not_a_skirt():
    shape = (40, 80, 80)
    centre = (30.0, 40.0, 40.0)
    hu = np.full(shape, -1000.0, dtype=np.float32)
    head = _ball(shape, centre, 32.0)
    hu[head] = 30.0
    layers = compute_tissue(hu, (1.2, 1.2, 1.2), DetectConfig(coarse_grid_mm=1.2))
    # points two and four slices above slice 0, 5 and 8 mm in from the skin in-plane (without
    # the padding the skirt puts them 6.1 and 6.0 mm deep instead of 2.3 and 4.0)
    for k, inward_mm in ((2, 5.0), (4, 8.0)):
        r_k = np.sqrt(32.0**2 - (centre[0] - k) ** 2)
        j = round(float(40 + r_k - inward_mm / 1.2))
        skin_mm = 1.2 * (32.0 - np.hypot(centre[0] - k, 40 - j))
        depth = float(layers.sample("depth_mm", np.array([[k, 40, j]]))[0])
        assert abs(depth - skin_mm) <= 1.0, (k, depth, skin_mm)
