"""Globes (eyeballs) on a head CT: sphere-like soft-tissue blobs with a fitted wall.

On the coarse tissue grid, using only the scan and the body's own geometry (no fixed LPS
offsets, any head yaw or roll):

1. candidates: soft tissue (-40..90 HU) in the front 105 mm of the sealed body, on a ~2 mm
   grid; the inner radius of every thick blob is the maximum of the distance transform of that
   mask (one candidate per connected blob of radius >= 5.5 mm, 4-35 mm below the skin);
2. wall fit: 96 rays from the candidate leave the vitreous (HU within -30/+25 of the median
   HU of the central 5 mm) at the globe wall (orbital fat and air below that band; sclera,
   muscle, lens and bone above it); a sphere is fitted to the exit points, points more than
   2 mm off it are dropped, and the rays are cast again from the fitted centre. The score is
   the share of rays whose exit lies on the sphere; rays that leave the field of view first do
   not count. The distance-transform peak alone drifts towards soft tissue touching the globe
   (eyelids, extraocular muscles);
3. (for the chosen pair, :func:`refine_by_slices`) circles fitted in every image plane through
   the globe; their squared radii along the slice normal give the centre between planes to a
   fraction of the slice spacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cc3d
import edt
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.tissue import TissueLayers
from calcscan.scan import CTScan
from calcscan.threads import kernel_threads

__all__ = [
    "ANTERIOR_REACH_MM",
    "GlobeCandidate",
    "coarse_to_lps",
    "find_globes",
    "refine_by_slices",
]

_SOFT_HU = (-40.0, 90.0)
#: Thick blobs: inner radius (mm) range and depth below the skin (mm) of a globe candidate.
_BLOB_MIN_RADIUS_MM = 5.5
_BLOB_MAX_RADIUS_MM = 16.0
_DEPTH_RANGE_MM = (4.0, 35.0)
#: Ray casting (mm): vitreous HU band, ray lengths, accepted wall radii, max re-centring.
_VITREOUS_HU = (-20.0, 45.0)
#: the wall is where HU leaves [core - 30, core + 25], core = median HU within 5 mm
_CORE_MM = 5.0
_BAND_HU = (30.0, 25.0)
_N_RAYS = 96
_RAY_MM = (2.0, 18.0)
_RAY_STEP_MM = 0.5
_WALL_MM = (6.0, 16.0)
_SEARCH_MM = 10.0
#: In-plane refinement: rays per image plane, ray radii (mm), planes within this distance.
_N_RAYS_2D = 48
_RADII_2D_MM = np.arange(1.0, 16.0 + 1e-6, 0.5)
_SLICE_REACH_MM = 14.0
#: Sphere-fit acceptance: wall radius (mm) and share of rays ending on the fitted sphere.
_GLOBE_RADIUS_MM = (8.0, 14.5)
_MIN_SCORE = 0.4
_MAX_CANDIDATES = 10
#: grid step (mm) of the candidate search
_CANDIDATE_GRID_MM = 2.2
#: Globe centres lie within this distance (mm) behind the most anterior body point: 50-60 mm
#: behind the nose tip of an upright head, plus room for yaw (a fixed distance, not a share of
#: the head's length, which a field of view cut behind the ears would shorten).
ANTERIOR_REACH_MM = 90.0


@dataclass(frozen=True)
class GlobeCandidate:
    """A sphere-like soft-tissue blob (possible globe).

    Attributes
    ----------
    center_lps_mm : ndarray, shape (3,)
        Template-matched centre.
    radius_mm : float
        Radius of the sphere fitted to the wall.
    depth_mm : float
        Depth of the blob's centre below the skin.
    score : float
        Share of the rays cast from the centre whose wall point lies on the fitted sphere.
    vitreous_hu : float
        Median HU of the blob's central 5 mm.
    """

    center_lps_mm: NDArray[np.float64]
    radius_mm: float
    depth_mm: float
    score: float
    vitreous_hu: float = 0.0


def coarse_to_lps(scan: CTScan, layers: TissueLayers, idx: NDArray[Any]) -> NDArray[np.float64]:
    """LPS (mm) of the centres of coarse-grid voxels ``idx`` (n, 3)."""
    f = np.asarray(layers.factors, dtype=np.float64)
    return scan.index_to_lps(np.asarray(idx, dtype=np.float64) * f + (f - 1) / 2)


def _anterior_box(
    scan: CTScan, layers: TissueLayers
) -> tuple[tuple[slice, slice, slice], float, float] | None:
    """Index box of the anterior part of the body, the front y and the AP extent (mm)."""
    step = np.array([2, 3, 3])
    idx = np.argwhere(layers.sealed[:: step[0], :: step[1], :: step[2]]) * step
    if idx.shape[0] < 10:
        return None
    y = coarse_to_lps(scan, layers, idx)[:, 1]
    y_front, extent = float(y.min()), float(y.max() - y.min())
    front = idx[y <= y_front + ANTERIOR_REACH_MM + 15.0]
    lo = np.maximum(front.min(axis=0) - step, 0)
    hi = np.minimum(front.max(axis=0) + step + 1, layers.sealed.shape)
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    return box, y_front, extent


def _directions(n: int) -> NDArray[np.float64]:
    """``n`` unit vectors spread evenly over the sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5**0.5) * i
    rho = np.sqrt(1.0 - z * z)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


_DIRS = _directions(_N_RAYS)
_RADII_MM = np.arange(_RAY_MM[0], _RAY_MM[1] + 1e-6, _RAY_STEP_MM)


def _fit_sphere(pts: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Least-squares sphere through points: |p|^2 = 2 c.p + (r^2 - |c|^2)."""
    a = np.column_stack([2.0 * pts, np.ones(len(pts))])
    b = (pts**2).sum(axis=1)
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    c = sol[:3]
    return c, float(np.sqrt(max(sol[3] + c @ c, 0.0)))


def _local_coarse_index(
    scan: CTScan, layers: TissueLayers, centre: NDArray[np.float64], pts: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Coarse-grid indices (n, 3) of LPS points near ``centre``.

    Exact mapping at the centre, the affine's linear map around it (exact for tilt; within a
    few cm an irregular slice gap shifts points by at most part of a slice).
    """
    f = np.asarray(layers.factors, dtype=np.float64)
    c_idx = scan.lps_to_index(centre[None, :])[0]
    jac_inv = np.linalg.inv(scan.affine_lps[:3, :3])
    fine = c_idx[None, :] + (pts.reshape(-1, 3) - centre[None, :]) @ jac_inv.T
    return np.asarray((fine - (f - 1) / 2) / f)


def _exits(hu: NDArray[Any], core: float, radii: NDArray[np.float64]) -> NDArray[np.float64]:
    """Radius where each ray (row of ``hu``) leaves the vitreous band; NaN if it never does
    inside the field of view."""
    out = (hu < core - _BAND_HU[0]) | (hu > core + _BAND_HU[1])
    out[:, :-1] &= out[:, 1:]  # two samples in a row: not a noise spike
    nan = np.isnan(hu)
    first = np.argmax(out, axis=1)
    first_nan = np.where(nan.any(axis=1), np.argmax(nan, axis=1), nan.shape[1])
    ok = out.any(axis=1) & (first < first_nan)
    return np.where(ok, radii[first], np.nan)


def _sphere_at(
    scan: CTScan, layers: TissueLayers, start_lps: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float, float, float]:
    """Globe wall by ray casting from ``start_lps`` and a robust sphere fit.

    Each ray leaves the vitreous (HU within -30/+25 of the median HU of the central 5 mm,
    which must lie in -20..45 HU) at the globe wall: orbital fat and air below that band,
    sclera, muscle, lens and bone above it. A sphere is fitted to the exit
    points, points more than 2 mm off it are dropped and the rays are cast again from the new
    centre. Returns (centre LPS, radius mm, share of rays whose exit lies on the sphere,
    vitreous HU).
    """
    centre, radius, share, core = start_lps, 0.0, 0.0, 0.0
    for _ in range(3):
        pts = centre[None, None, :] + _RADII_MM[None, :, None] * _DIRS[:, None, :]
        idx = _local_coarse_index(scan, layers, centre, pts)
        hu = ndimage.map_coordinates(layers.hu, idx.T, order=1, cval=np.nan)
        hu = hu.reshape(len(_DIRS), len(_RADII_MM))
        core = float(np.nanmedian(hu[:, _RADII_MM <= _CORE_MM]))
        if not (_VITREOUS_HU[0] <= core <= _VITREOUS_HU[1]):
            return centre, 0.0, 0.0, 0.0
        r_exit = _exits(hu, core, _RADII_MM)
        ok = (r_exit >= _WALL_MM[0]) & (r_exit <= _WALL_MM[1])  # False where NaN
        if ok.sum() < 12:
            return centre, 0.0, 0.0, 0.0
        wall = centre + r_exit[ok, None] * _DIRS[ok]
        c, r = _fit_sphere(wall)
        for _ in range(2):
            near = np.abs(np.linalg.norm(wall - c, axis=1) - r) <= 2.0
            if near.sum() < 12:
                return centre, 0.0, 0.0, 0.0
            c, r = _fit_sphere(wall[near])
        if np.linalg.norm(c - start_lps) > _SEARCH_MM:
            return centre, 0.0, 0.0, 0.0
        on = np.abs(np.linalg.norm(wall - c, axis=1) - r) <= 2.0
        centre, radius, share = c, r, float(on.sum()) / len(_DIRS)
    return centre, radius, share, core


def refine_by_slices(
    scan: CTScan, layers: TissueLayers, globe: GlobeCandidate
) -> NDArray[np.float64]:
    """Globe centre from its circular cross-sections in the image planes.

    A circle is fitted to the wall in every image plane within 14 mm of the centre; the
    squared radii follow ``rho^2 = R^2 - (s - s_c)^2`` along the slice normal ``s``, whose fit
    gives the centre's position between the planes to a fraction of the slice spacing (the 3D
    wall fit is coarse along thick slices and drifts into soft tissue touching the globe).
    Returns the input centre when fewer than three planes give a circle.
    """
    f = np.asarray(layers.factors, dtype=np.float64)
    n = scan.slice_normal_lps
    u = scan.row_vector_lps / np.linalg.norm(scan.row_vector_lps)
    v = np.cross(n, u)
    theta = np.linspace(0.0, 2 * np.pi, _N_RAYS_2D, endpoint=False)
    dirs = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v
    c = globe.center_lps_mm
    k_fine = np.arange(layers.hu.shape[0]) * f[0] + (f[0] - 1) / 2
    first_pts = scan.index_to_lps(np.column_stack([k_fine, np.zeros((len(k_fine), 2))]))
    s_planes = first_pts @ n
    s_c0 = float(c @ n)
    rows: list[tuple[float, float, NDArray[np.float64]]] = []
    planes = s_planes[np.abs(s_planes - s_c0) <= _SLICE_REACH_MM]
    starts = c[None, :] + (planes - s_c0)[:, None] * n[None, :]
    pts = starts[:, None, None, :] + _RADII_2D_MM[None, None, :, None] * dirs[None, :, None, :]
    idx = _local_coarse_index(scan, layers, c, pts)
    hu_all = ndimage.map_coordinates(layers.hu, idx.T, order=1, cval=np.nan)
    hu_all = hu_all.reshape(len(planes), len(dirs), len(_RADII_2D_MM))
    for s_k, start, hu in zip(planes, starts, hu_all, strict=True):
        r_exit = _exits(hu, globe.vitreous_hu, _RADII_2D_MM)
        ok = ~np.isnan(r_exit)
        if ok.sum() < 0.5 * len(dirs):
            continue
        xy = np.column_stack([np.cos(theta[ok]), np.sin(theta[ok])]) * r_exit[ok, None]
        for _ in range(3):
            a = np.column_stack([2.0 * xy, np.ones(len(xy))])
            sol, *_ = np.linalg.lstsq(a, (xy**2).sum(axis=1), rcond=None)
            rho = float(np.sqrt(max(sol[2] + sol[:2] @ sol[:2], 0.0)))
            near = np.abs(np.linalg.norm(xy - sol[:2], axis=1) - rho) <= 1.5
            if near.sum() < 0.5 * len(dirs):
                break
            xy = xy[near]
        else:
            if 2.0 <= rho <= _GLOBE_RADIUS_MM[1]:
                rows.append((float(s_k), rho, start + sol[0] * u + sol[1] * v))
    if len(rows) < 3:
        return c
    s_arr = np.array([r[0] for r in rows])
    rho_arr = np.array([r[1] for r in rows])
    a = np.column_stack([2.0 * s_arr, np.ones(len(rows))])
    sol, *_ = np.linalg.lstsq(a, rho_arr**2 + s_arr**2, rcond=None)
    s_c = float(sol[0])
    r2 = float(sol[1] + s_c**2)
    if not (_GLOBE_RADIUS_MM[0] ** 2 <= r2 <= _GLOBE_RADIUS_MM[1] ** 2):
        return c
    w = rho_arr**2
    p = (np.array([r[2] for r in rows]) * w[:, None]).sum(axis=0) / w.sum()
    new = p - float(p @ n) * n + s_c * n
    return new if np.linalg.norm(new - c) <= _SEARCH_MM else c


def find_globes(
    scan: CTScan, layers: TissueLayers
) -> tuple[list[GlobeCandidate], tuple[float, float] | None]:
    """Sphere-like soft-tissue blobs in the anterior head, best first.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers

    Returns
    -------
    (candidates, (front_y_mm, ap_extent_mm))
        Candidates whose wall fit succeeded (score >= 0.4, radius 8-14.5 mm), best first,
        with the LPS y of the anterior body surface and the body's AP extent; ``([], None)``
        without a body.
    """
    found = _anterior_box(scan, layers)
    if found is None:
        return [], None
    box, y_front, extent = found
    # candidates need ~2 mm accuracy only (the wall fit re-centres them): subsample the grid
    stride = tuple(max(1, round(_CANDIDATE_GRID_MM / sp)) for sp in layers.spacing_mm)
    sub = tuple(slice(b.start, b.stop, st) for b, st in zip(box, stride, strict=True))
    hu = layers.hu[sub]
    soft_mask = layers.sealed[sub] & (hu > _SOFT_HU[0]) & (hu < _SOFT_HU[1])
    if not soft_mask.any():
        return [], (y_front, extent)
    radius = np.asarray(
        edt.edt(
            soft_mask.astype(np.uint8),
            anisotropy=tuple(sp * st for sp, st in zip(layers.spacing_mm, stride, strict=True)),
            black_border=False,
            parallel=kernel_threads(),
        ),
        dtype=np.float32,
    )
    depth = layers.depth_mm[sub]
    thick = (radius >= _BLOB_MIN_RADIUS_MM) & (depth >= _DEPTH_RANGE_MM[0])
    thick &= depth <= _DEPTH_RANGE_MM[1]
    labels, n = cc3d.connected_components(
        thick.astype(np.uint8), connectivity=26, return_N=True, binary_image=True
    )
    if n == 0:
        return [], (y_front, extent)
    # per blob: maximum inner radius and its position (only the thick voxels are scanned)
    sel = np.flatnonzero(labels)
    lab = labels.ravel()[sel]
    rad = radius.ravel()[sel]
    r_max = np.zeros(n + 1, dtype=np.float64)
    np.maximum.at(r_max, lab, rad)
    at_max = rad >= r_max[lab]
    ids, first = np.unique(lab[at_max], return_index=True)
    peaks = np.column_stack(np.unravel_index(sel[at_max][first], labels.shape))
    ok = r_max[ids] <= _BLOB_MAX_RADIUS_MM
    order = np.argsort(-r_max[ids][ok])[:_MAX_CANDIDATES]
    peaks = peaks[ok][order]
    origin = np.array([s.start for s in box], dtype=np.intp)
    out: list[GlobeCandidate] = []
    for peak in peaks:
        start = coarse_to_lps(scan, layers, (peak * np.asarray(stride) + origin)[None, :])[0]
        centre, wall_r, score, core = _sphere_at(scan, layers, start)
        if score < _MIN_SCORE or not (_GLOBE_RADIUS_MM[0] <= wall_r <= _GLOBE_RADIUS_MM[1]):
            continue
        out.append(GlobeCandidate(centre, wall_r, float(depth[tuple(peak)]), score, core))
    out.sort(key=lambda c: -c.score)
    return out, (y_front, extent)
