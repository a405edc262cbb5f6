"""CTScan geometry: index <-> LPS round trips, tilt and irregular slice positions."""

from __future__ import annotations

import numpy as np

from calcscan.scan import CTScan


def _scan(positions: np.ndarray, row: np.ndarray, col: np.ndarray) -> CTScan:
    aff = np.eye(4)
    aff[:3, 0] = np.median(np.diff(positions, axis=0), axis=0)
    aff[:3, 1] = row
    aff[:3, 2] = col
    aff[:3, 3] = positions[0]
    return CTScan(
        hu=np.zeros((len(positions), 4, 5), np.float32),
        affine_lps=aff,
        slice_positions_lps_mm=positions,
    )


def test_irregular_gap_exact_positions_and_round_trip() -> None:
    z = np.array([0.0, 1.5, 3.0, 4.0, 5.5, 7.0])  # one 1.0 mm gap among 1.5 mm steps
    pos = np.stack([np.full_like(z, -10.0), np.full_like(z, 20.0), z], axis=1)
    scan = _scan(pos, np.array([0, 0.5, 0]), np.array([0.5, 0, 0]))
    lps = scan.index_to_lps([[3, 2, 4], [4, 0, 0]])
    np.testing.assert_allclose(lps[0], [-10 + 2.0, 20 + 1.0, 4.0])
    np.testing.assert_allclose(lps[1], [-10, 20, 5.5])
    back = scan.lps_to_index(lps)
    np.testing.assert_allclose(back, [[3, 2, 4], [4, 0, 0]], atol=1e-9)
    assert scan.spacing_mm == (1.5, 0.5, 0.5)


def test_tilt_is_a_shear() -> None:
    tilt = np.radians(18.5)
    k = np.arange(5.0)
    step = np.array([0.0, 4.0 * np.tan(tilt), 4.0])
    pos = k[:, None] * step[None, :]
    scan = _scan(pos, np.array([0, 0.5, 0]), np.array([0.5, 0, 0]))
    assert abs(scan.gantry_tilt_deg - 18.5) < 1e-6
    idx = np.array([[2.5, 3.0, 1.0]])
    np.testing.assert_allclose(scan.lps_to_index(scan.index_to_lps(idx)), idx, atol=1e-9)
