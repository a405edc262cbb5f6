"""Nodules lying on bone: a compact bump on the bone surface, seen along the skin.

A nodule that touches the bone has no summit or valley of its own: on thick slices or with
the scanner's blur it is a shoulder of the brighter bone, and on the ~1.2 mm coarse grid it is
part of the bone mask, so :mod:`calcscan.detect.candidates` never sees it apart from the bone.
What still sets it apart is its shape *along the skin*: the bone under the dermis runs roughly
parallel to the skin surface, so the bone's own slope (and a ridge) stays bright along the
skin in at least one direction, while a nodule on the bone is dark all round.

The test, at every bright in-plane summit of the skin's band next to bone:

1. **dark all round**: on a ring in the skin's tangent plane (normal from the gradient of the
   depth below the skin), every sample is below ``bump_ring_fraction`` of the summit's
   contrast above soft tissue. The ring has radius ``bump_ring_mm``; a bump too wide for that
   ring gets one 1 mm outside its own edge (where its profile first drops below half its
   contrast, in the widest direction), up to ``bump_ring_max_mm``;
2. **on a floor of bone**: under at least ``bump_floor_fraction`` of the ring's points, along
   the inward skin normal within ``bump_under_mm``, the image reaches the bone threshold.
   Without that floor the bright point is the free end of a plate (the caudal tip of the
   nasal bones, which dips away from the skin plane and leaves the ring dark), not a bump
   lying on the bone.

Summits that pass are grouped (one per bump, the brightest) and handed back to the candidate
stage, which measures them like any other part but without the bone-slope test they would fail
by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.detect.balls import dilate
from calcscan.detect.config import DetectConfig
from calcscan.detect.tissue import TissueLayers, inplane_summit_points

__all__ = ["bump_seeds"]

#: Soft tissue level (HU) the ring's darkness is measured from (contrast = peak - this).
_SOFT_TISSUE_HU = 30.0
#: Directions sampled on the ring.
_RING_DIRECTIONS = 16
#: Largest nodule radius searched for (mm): the summit lies at most this far inside the bone mask.
_MAX_RADIUS_MM = 2.0
#: Summits closer than this (mm) belong to the same bump.
_GROUP_MM = 2.5
#: A widened ring lies this far (mm) outside the bump's half-contrast edge.
_RING_MARGIN_MM = 1.0
#: Radial step (mm) of the search for a bump's half-contrast edge.
_EDGE_STEP_MM = 0.25


def _band_summits(
    hu: NDArray[Any], layers: TissueLayers, config: DetectConfig
) -> tuple[NDArray[np.intp], NDArray[Any]]:
    """Fine voxels >= ``bump_min_peak_hu`` brighter than their 8 in-plane neighbours, in the
    coarse cells of the skin's band that touch bone (the cells the candidate layer peels off)."""
    peel = config.bone_margin_mm + 0.5 * max(layers.spacing_mm[1:])
    band = (
        layers.sealed
        & (layers.depth_mm <= config.max_depth_mm + 0.5 * max(layers.spacing_mm))
        & (layers.bone_dist_mm <= peel + config.bump_ring_mm - 1.0)
    )
    # a nodule on the bone has its summit within its radius (<= 2 mm) of soft tissue: the
    # bone's interior is not searched
    soft = layers.sealed & ~layers.bone
    band &= dilate(soft, layers.spacing_mm, _MAX_RADIUS_MM + 0.5 * max(layers.spacing_mm))
    band &= layers.hu_max >= config.bump_min_peak_hu
    # one voxel per coarse block, its brightest: a summit inside a block is its brightest
    # voxel (the block holds its neighbours) but for rare twin summits at opposite corners
    cells = np.argwhere(band)
    if len(cells) == 0:
        return np.zeros((0, 3), dtype=np.intp), np.zeros(0, dtype=np.float32)
    f = np.asarray(layers.factors)
    s, r, c = layers.hu_max.shape
    fine = hu[: s * f[0], : r * f[1], : c * f[2]].reshape(s, f[0], r, f[1], c, f[2])
    blocks = fine[cells[:, 0], :, cells[:, 1], :, cells[:, 2], :].reshape(len(cells), -1)
    within = np.stack(np.unravel_index(np.argmax(blocks, axis=1), tuple(f)), axis=1)
    idx = (cells * f + within).astype(np.intp)
    ok = inplane_summit_points(hu, idx)
    return idx[ok], hu[idx[ok, 0], idx[ok, 1], idx[ok, 2]]


def skin_normals(
    layers: TissueLayers, fine_index: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Outward skin normals (unit, in (slice, row, col) millimetres) at fine indices.

    Minus the gradient of the coarse depth map (central differences at the nearest coarse
    voxel). The second array is False where the gradient is too flat to give a direction
    (deep inside, or on a ridge of the depth map).
    """
    ci = layers.coarse_index(fine_index)
    depth = layers.depth_mm
    shape = np.asarray(depth.shape)
    grad = np.zeros(ci.shape, dtype=np.float64)
    for ax in range(3):
        up, dn = ci.copy(), ci.copy()
        up[:, ax] = np.minimum(ci[:, ax] + 1, shape[ax] - 1)
        dn[:, ax] = np.maximum(ci[:, ax] - 1, 0)
        span = np.maximum(up[:, ax] - dn[:, ax], 1) * layers.spacing_mm[ax]
        grad[:, ax] = (depth[tuple(up.T)] - depth[tuple(dn.T)]) / span
    norm = np.linalg.norm(grad, axis=1)
    ok = norm > 0.3
    normal = -grad / np.maximum(norm, 1e-9)[:, None]
    return normal, ok


def _sample(
    hu: NDArray[Any], points_mm: NDArray[np.float64], spacing: NDArray[np.float64]
) -> NDArray[Any]:
    """Nearest-voxel HU at points given in (slice, row, col) millimetres (clipped to the grid)."""
    hi = np.asarray(hu.shape) - 1
    q = np.clip(np.round(points_mm / spacing).astype(np.intp), 0, hi)
    return np.asarray(hu[q[:, 0], q[:, 1], q[:, 2]])


def _tangents(normal: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two unit vectors spanning the tangent plane of each normal."""
    helper = np.where(
        np.abs(normal[:, [0]]) < 0.9, np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])
    )
    t1 = np.cross(normal, helper)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    return t1, np.cross(normal, t1)


def _ring_offsets(normal: NDArray[np.float64], radius_mm: float) -> Iterator[NDArray[np.float64]]:
    """Offsets (n, 3) from each point to its ring of ``radius_mm`` in the tangent plane, one
    direction at a time."""
    t1, t2 = _tangents(normal)
    for theta in np.linspace(0.0, 2.0 * np.pi, _RING_DIRECTIONS, endpoint=False):
        yield radius_mm * (np.cos(theta) * t1 + np.sin(theta) * t2)


def _dark_ring(
    hu: NDArray[Any],
    idx: NDArray[np.intp],
    normal: NDArray[np.float64],
    spacing: NDArray[np.float64],
    radius_mm: float,
    level: NDArray[Any],
) -> NDArray[np.bool_]:
    """Is every ring sample below ``level``? Points are dropped at their first bright sample,
    so the bone's slope (bright within a direction or two) costs little."""
    alive = np.arange(len(idx))
    centre = idx * spacing
    for offset in _ring_offsets(normal, radius_mm):
        alive = alive[_sample(hu, centre[alive] + offset[alive], spacing) < level[alive]]
        if len(alive) == 0:
            break
    out = np.zeros(len(idx), dtype=bool)
    out[alive] = True
    return out


def _edge_radius(
    hu: NDArray[Any],
    idx: NDArray[np.intp],
    normal: NDArray[np.float64],
    spacing: NDArray[np.float64],
    level: NDArray[Any],
    max_mm: float,
) -> NDArray[np.float64]:
    """Radius of each bump's edge in the tangent plane: in the widest of the ring's directions,
    where the profile first drops below ``level`` (inf when some direction stays above it out to
    ``max_mm``). Points are dropped as soon as one direction reaches ``max_mm``."""
    radii = np.arange(0.5, max_mm + 1e-6, _EDGE_STEP_MM)
    out = np.zeros(len(idx))
    alive = np.arange(len(idx))
    centre = idx * spacing
    for unit in _ring_offsets(normal, 1.0):
        first = np.full(len(idx), np.inf)
        todo = alive
        for r in radii:
            below = _sample(hu, centre[todo] + r * unit[todo], spacing) < level[todo]
            first[todo[below]] = r
            todo = todo[~below]
            if len(todo) == 0:
                break
        out[alive] = np.maximum(out[alive], first[alive])
        out[todo] = np.inf
        alive = np.setdiff1d(alive, todo, assume_unique=True)
        if len(alive) == 0:
            break
    return out


def _dark_all_round(
    hu: NDArray[Any],
    idx: NDArray[np.intp],
    values: NDArray[Any],
    normal: NDArray[np.float64],
    spacing: NDArray[np.float64],
    config: DetectConfig,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """The darkness test of the module docstring, and the radius of the ring each point was
    tested on: the ``bump_ring_mm`` ring, else a ring 1 mm outside a wider bump's half-contrast
    edge (at most ``bump_ring_max_mm``)."""
    level = _SOFT_TISSUE_HU + config.bump_ring_fraction * (values - _SOFT_TISSUE_HU)
    dark = _dark_ring(hu, idx, normal, spacing, config.bump_ring_mm, level)
    ring_mm = np.full(len(idx), config.bump_ring_mm)
    wide_mm = config.bump_ring_max_mm - _RING_MARGIN_MM
    if config.bump_ring_max_mm <= config.bump_ring_mm or dark.all():
        return dark, ring_mm
    rest = np.flatnonzero(~dark)
    half = _SOFT_TISSUE_HU + 0.5 * (values[rest] - _SOFT_TISSUE_HU)
    edge_mm = _edge_radius(hu, idx[rest], normal[rest], spacing, half, wide_mm) + _RING_MARGIN_MM
    wider = np.isfinite(edge_mm) & (edge_mm > config.bump_ring_mm)
    for radius in np.unique(edge_mm[wider]):
        pts = rest[wider & (edge_mm == radius)]
        dark[pts] = _dark_ring(hu, idx[pts], normal[pts], spacing, float(radius), level[pts])
        ring_mm[pts] = radius
    return dark, ring_mm


def _floor_fraction(
    hu: NDArray[Any],
    idx: NDArray[np.intp],
    normal: NDArray[np.float64],
    spacing: NDArray[np.float64],
    radius_mm: float,
    under_mm: float,
    bone_hu: float,
) -> NDArray[np.float64]:
    """Share of the ring's points with bone (``bone_hu``) within ``under_mm`` below them along
    the inward normal (from 1 mm down)."""
    depths = np.arange(1.0, under_mm + 1e-6, 0.5)
    centre = idx * spacing
    hits = np.zeros(len(idx))
    for offset in _ring_offsets(normal, radius_mm):
        found = np.zeros(len(idx), dtype=bool)
        for t in depths:
            found |= _sample(hu, centre + offset - t * normal, spacing) >= bone_hu
        hits += found
    return hits / _RING_DIRECTIONS


def bump_seeds(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    layers: TissueLayers,
    config: DetectConfig,
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Summits of nodules lying on bone (see the module docstring), one per bump.

    Parameters
    ----------
    hu : ndarray, shape (n_slices, n_rows, n_cols)
    spacing_mm : tuple of float
        Fine voxel spacing (slice step, row, col).
    layers : TissueLayers
    config : DetectConfig

    Returns
    -------
    (ndarray, ndarray, ndarray)
        Fine indices (n, 3) of the bumps' brightest summits, brightest first; the outward
        skin normals there (n, 3; unit vectors in (slice, row, col) millimetres); the radius
        (mm) of the ring each bump was found dark on (``bump_ring_mm`` or wider).
    """
    idx, values = _band_summits(hu, layers, config)
    none = np.zeros((0, 3), dtype=np.intp), np.zeros((0, 3), dtype=np.float64), np.zeros(0)
    if len(idx) == 0:
        return none
    normal, ok = skin_normals(layers, idx)
    idx, values, normal = idx[ok], values[ok], normal[ok]
    sp = np.asarray(spacing_mm, dtype=np.float64)
    dark, ring_mm = _dark_all_round(hu, idx, values, normal, sp, config)
    idx, values, normal, ring_mm = idx[dark], values[dark], normal[dark], ring_mm[dark]
    floor = _floor_fraction(
        hu, idx, normal, sp, config.bump_ring_mm, config.bump_under_mm, config.bone_threshold_hu
    )
    keep = floor >= config.bump_floor_fraction
    idx, values, normal, ring_mm = idx[keep], values[keep], normal[keep], ring_mm[keep]
    if len(idx) == 0:
        return none
    # one seed per bump: the brightest, then whatever lies farther than _GROUP_MM from it
    order = np.argsort(-values, kind="stable")
    chosen: list[int] = []
    pts = idx * sp
    for i in order:
        if all(np.linalg.norm(pts[i] - pts[j]) > _GROUP_MM for j in chosen):
            chosen.append(int(i))
    sel = np.asarray(chosen, dtype=np.intp)
    return idx[sel], normal[sel], ring_mm[sel]
