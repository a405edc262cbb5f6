"""A nodule lying on the bone is counted; the bone's own surface and a bone spur are not.

A cylinder 'head' (skin at r = 50 mm, 0.5 mm voxels) with the skull's outer surface a few mm
under the skin. A dense 3 mm nodule touching the skull has no summit or valley of its own
(the brighter bone is next to it), so before the bump search it was taken for the bone's
slope and never counted (the second test: ``bump_ring_mm=0``). A bump needs a floor of bone
under its ring: with the floor out of reach the same nodule is no bump. A thin bone spur
that leaves the skull obliquely and ends under the skin is not counted either. A wider
nodule, still bright on the standard ring, is tested on a ring drawn outside its own edge.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from calcscan.detect.bumps import bump_seeds
from calcscan.detect.config import DetectConfig
from calcscan.detect.pipeline import run_detection
from calcscan.scan import CTScan

_SHAPE = (100, 220, 220)
_CENTRE = 110.0  # axis of the cylinder (row, col), in voxels
_VOXEL_MM = 0.5


def _head(
    *,
    skull_outer_mm: float,
    nodule: bool = False,
    spur: bool = False,
    nodule_mm: float = 3.0,
    nodule_hu: float = 900.0,
    blur_mm: float = 0.4,
) -> CTScan:
    """Skin at 50 mm from the axis, skull from ``skull_outer_mm - 6`` to ``skull_outer_mm``.

    The nodule (3 mm, 900 HU unless told) touches the skull's outer surface on the +col side at
    z = 25 mm; the spur (a 2 mm rod, 1000 HU) leaves the skull on the -col side at 45 degrees
    and ends 3 mm under the skin.
    """
    k, r, c = np.indices(_SHAPE, dtype=np.float32)
    z = k * _VOXEL_MM
    y = (r - _CENTRE) * _VOXEL_MM
    x = (c - _CENTRE) * _VOXEL_MM
    dist = np.hypot(y, x)
    hu = np.full(_SHAPE, -1000.0, np.float32)
    hu[dist <= 50.0] = -100.0
    hu[(dist <= 50.0) & (dist > 48.5)] = 40.0
    hu[(dist <= skull_outer_mm) & (dist > skull_outer_mm - 6.0)] = 1300.0
    hu[dist <= skull_outer_mm - 6.0] = 35.0
    if nodule:
        centre_x = skull_outer_mm + nodule_mm / 2
        hu[np.sqrt((z - 25.0) ** 2 + y**2 + (x - centre_x) ** 2) <= nodule_mm / 2] = nodule_hu
    if spur:
        # from (x = -skull_outer, z = 20) outwards and up at 45 degrees to 3 mm under the skin
        a = np.array([20.0, -skull_outer_mm])
        b = np.array([20.0 + (47.0 - skull_outer_mm), -47.0])
        p = np.stack([z - a[0], x - a[1]], axis=-1)
        ab = b - a
        t = np.clip((p @ ab) / float(ab @ ab), 0.0, 1.0)
        off = p - t[..., None] * ab
        hu[(np.hypot(off[..., 0], off[..., 1]) <= 1.0) & (np.abs(y) <= 1.0)] = 1000.0
    hu = ndimage.gaussian_filter(hu, blur_mm / _VOXEL_MM)
    hu += np.random.default_rng(7).normal(0, 10, _SHAPE).astype(np.float32)
    aff = np.array(
        [[0, 0, _VOXEL_MM, -55], [0, _VOXEL_MM, 0, -55], [_VOXEL_MM, 0, 0, 0], [0, 0, 0, 1]],
        dtype=float,
    )
    return CTScan.from_affine(hu, aff, study_key="bumps")


def _nodule_lps(skull_outer_mm: float, nodule_mm: float = 3.0) -> np.ndarray:
    col = _CENTRE + (skull_outer_mm + nodule_mm / 2) / _VOXEL_MM
    return np.array([col * _VOXEL_MM - 55.0, _CENTRE * _VOXEL_MM - 55.0, 25.0])


def _assert_counted_once(scan: CTScan, nodule_mm: float = 3.0) -> None:
    """The scan's one counted nodule is the planted one (within 1 mm)."""
    rec = run_detection(scan).record
    assert len(rec.nodules) == 1, rec.nodules
    found = np.asarray(rec.nodules[0]["centroid_lps_mm"])
    assert np.linalg.norm(found - _nodule_lps(44.0, nodule_mm)) <= 1.0


def test_nodule_lying_on_the_bone_is_counted() -> None:
    _assert_counted_once(_head(skull_outer_mm=44.0, nodule=True))


def test_nodule_on_bone_is_missed_without_the_bump_search() -> None:
    """The case the bump search exists for: the summit/valley tests alone miss it."""
    config = DetectConfig(bump_ring_mm=0.0)
    rec = run_detection(_head(skull_outer_mm=44.0, nodule=True), config).record
    assert rec.nodules == []


def test_a_wide_nodule_on_bone_is_found_on_a_wider_ring() -> None:
    """A 4.5 mm nodule with a soft kernel is still bright 2.5 mm from its summit: its ring is
    drawn 1 mm outside its own half-contrast edge instead (``bump_ring_max_mm``)."""
    scan = _head(skull_outer_mm=44.0, nodule=True, nodule_mm=4.5, blur_mm=0.8)
    _assert_counted_once(scan, 4.5)
    assert run_detection(scan, DetectConfig(bump_ring_max_mm=2.5)).record.nodules == []


def test_a_faint_nodule_on_bone_is_searched_from_200_hu() -> None:
    """A 240 HU nodule on the skull: its summit lies between 200 and 250 HU. It is counted
    with the default ``bump_min_peak_hu`` (200) and missed when only summits >= 250 HU are
    searched."""
    scan = _head(skull_outer_mm=44.0, nodule=True, nodule_hu=240.0)
    _assert_counted_once(scan)
    assert run_detection(scan, DetectConfig(bump_min_peak_hu=250.0)).record.nodules == []


def test_bone_surface_alone_is_not_a_bump() -> None:
    rec = run_detection(_head(skull_outer_mm=44.0)).record
    assert rec.nodules == []


def test_a_bump_needs_a_floor_of_bone_under_its_ring() -> None:
    scan = _head(skull_outer_mm=44.0, nodule=True)
    layers = run_detection(scan).layers
    seeds, normals, _ = bump_seeds(scan.hu, scan.spacing_mm, layers, DetectConfig())
    assert len(seeds) == 1
    assert np.linalg.norm(scan.index_to_lps(seeds.astype(float))[0] - _nodule_lps(44.0)) <= 1.0
    assert normals[0] @ np.array([0.0, 0.0, 1.0]) > 0.9  # outwards: +col on this side
    # the skull lies >= 1.5 mm under the nodule's centre: looked for only 1 mm deep, no floor
    shallow = DetectConfig(bump_under_mm=1.0)
    assert len(bump_seeds(scan.hu, scan.spacing_mm, layers, shallow)[0]) == 0


def test_bone_spur_ending_under_the_skin_is_not_counted() -> None:
    rec = run_detection(_head(skull_outer_mm=40.0, spur=True)).record
    assert rec.nodules == []
