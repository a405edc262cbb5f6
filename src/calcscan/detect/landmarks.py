"""Face landmarks and the face frame used to assign regions.

Globes (``method="globes"``), on the coarse tissue grid, using only the scan and the body's own
geometry (no fixed LPS offsets, any yaw or roll):

1. candidates: soft tissue (-40..90 HU) in the anterior half of the sealed body; the inner
   radius of every thick blob is the maximum of the distance transform of that mask (one
   candidate per connected blob of radius >= 5.5 mm, 4-35 mm below the skin);
2. each candidate is scored and re-centred by matching a sphere template locally (FFT
   correlation): a vitreous ball of radius 10 mm filled with soft tissue, surrounded by a shell
   (13.5-17 mm) of orbital fat, bone or air. The score is the soft fraction inside minus the
   soft fraction in the shell (1 = perfect isolated sphere); the centre is the sub-voxel
   maximum of that score. The distance-transform peak alone drifts towards whatever soft
   tissue (eyelids, extraocular muscles) touches the globe;
3. the pair: two candidates 45-90 mm apart whose connecting line is within 40 deg of the
   scanner's left-right axis (head yaw/roll), with similar radius and skin depth, both in the
   anterior 45 % of the head; the pair with the highest summed score wins.

Frame: origin midway between the globe centres, lateral axis from the right to the left globe,
superior axis = scanner +z made orthogonal to it, anterior = lateral x superior. Pitch is not
estimated (the region definitions and the validator use the same convention).

Without a globe pair (scan starts above the orbits, no face, very poor data) the frame falls
back to the anterior-most skin point and the body midline (``method="fallback_anterior_point"``)
and ``landmarks["fallback_reason"]`` says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cc3d
import edt
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.tissue import TissueLayers
from calcscan.scan import CTScan
from calcscan.threads import kernel_threads

__all__ = ["FaceFrame", "GlobeCandidate", "find_face_frame", "find_globes"]

log = logging.getLogger(__name__)

#: Typical offset (mm) of the nose tip below and in front of the globe centres (fallback only).
_NOSE_TIP_BELOW_GLOBES_MM = 38.0
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
#: Sphere-fit acceptance: wall radius (mm) and share of rays ending on the fitted sphere.
_GLOBE_RADIUS_MM = (8.0, 14.5)
_MIN_SCORE = 0.4
_MAX_CANDIDATES = 16
#: Pair geometry: centre distance (mm), max angle of the pair to the scanner's L-R axis (deg).
_PAIR_DIST_MM = (45.0, 90.0)
_PAIR_MAX_ANGLE_DEG = 40.0
_PAIR_MAX_RADIUS_DIFF_MM = 4.0
_PAIR_MAX_DEPTH_DIFF_MM = 10.0
_ANTERIOR_SHARE = 0.45


@dataclass
class FaceFrame:
    """Origin and axes of the face in LPS mm.

    Attributes
    ----------
    origin_lps_mm : ndarray, shape (3,)
        Midpoint between the globes (or its estimate).
    lateral : ndarray
        Unit vector towards the patient's left.
    anterior : ndarray
        Unit vector towards the face (LPS -y for an upright head).
    superior : ndarray
        Unit vector towards the vertex.
    method : str
        "globes", "fallback_anterior_point" or "none" (no body).
    landmarks : dict
        Named landmark positions (LPS mm lists), ``confidence`` (0-1) and diagnostics.
    """

    origin_lps_mm: NDArray[np.float64]
    lateral: NDArray[np.float64]
    anterior: NDArray[np.float64]
    superior: NDArray[np.float64]
    method: str
    landmarks: dict[str, Any] = field(default_factory=dict)

    def to_face(self, lps_mm: NDArray[Any]) -> NDArray[np.float64]:
        """LPS points -> face coordinates (lateral_mm, anterior_mm, superior_mm)."""
        d = np.asarray(lps_mm, dtype=np.float64) - self.origin_lps_mm
        basis = np.stack([self.lateral, self.anterior, self.superior], axis=1)
        return np.asarray(d @ basis, dtype=np.float64)

    def direction_to_face(self, vec: NDArray[Any]) -> NDArray[np.float64]:
        """LPS direction vectors -> face-frame components."""
        basis = np.stack([self.lateral, self.anterior, self.superior], axis=1)
        return np.asarray(np.asarray(vec, dtype=np.float64) @ basis, dtype=np.float64)


@dataclass(frozen=True)
class GlobeCandidate:
    """A sphere-like soft-tissue blob (possible globe).

    Attributes
    ----------
    center_lps_mm : ndarray, shape (3,)
        Template-matched centre.
    radius_mm : float
        Inner radius of the blob (distance-transform maximum).
    depth_mm : float
        Depth of the blob's centre below the skin.
    score : float
        Sphere-template score: soft fraction in the ball minus soft fraction in the shell.
    """

    center_lps_mm: NDArray[np.float64]
    radius_mm: float
    depth_mm: float
    score: float


def _coarse_to_lps(scan: CTScan, layers: TissueLayers, idx: NDArray[Any]) -> NDArray[np.float64]:
    f = np.asarray(layers.factors, dtype=np.float64)
    return scan.index_to_lps(np.asarray(idx, dtype=np.float64) * f + (f - 1) / 2)


def _anterior_box(
    scan: CTScan, layers: TissueLayers
) -> tuple[tuple[slice, slice, slice], float, float] | None:
    """Index box of the anterior part of the body, the front y and the AP extent (mm)."""
    sub = layers.sealed[::2, ::2, ::2]
    idx = np.argwhere(sub) * 2
    if idx.shape[0] < 10:
        return None
    y = _coarse_to_lps(scan, layers, idx)[:, 1]
    y_front, extent = float(y.min()), float(y.max() - y.min())
    front = idx[y <= y_front + _ANTERIOR_SHARE * extent + 20.0]
    lo = np.maximum(front.min(axis=0) - 2, 0)
    hi = np.minimum(front.max(axis=0) + 3, layers.sealed.shape)
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


def _sphere_at(
    scan: CTScan, layers: TissueLayers, start_lps: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float, float]:
    """Globe wall by ray casting from ``start_lps`` and a robust sphere fit.

    Each ray leaves the vitreous (HU within -30/+25 of the median HU of the central 5 mm,
    which must lie in -20..45 HU) at the globe wall: orbital fat and air below that band,
    sclera, muscle, lens and bone above it. A sphere is fitted to the exit
    points, points more than 2 mm off it are dropped and the rays are cast again from the new
    centre. Returns (centre LPS, radius mm, share of rays whose exit lies on the sphere).
    """
    f = np.asarray(layers.factors, dtype=np.float64)
    centre, radius, share = start_lps, 0.0, 0.0
    for _ in range(3):
        pts = centre[None, None, :] + _RADII_MM[None, :, None] * _DIRS[:, None, :]
        idx = (scan.lps_to_index(pts.reshape(-1, 3)) - (f - 1) / 2) / f
        hu = ndimage.map_coordinates(layers.hu, idx.T, order=1, cval=np.nan)
        hu = hu.reshape(len(_DIRS), len(_RADII_MM))
        core = float(np.nanmedian(hu[:, _RADII_MM <= _CORE_MM]))
        if not (_VITREOUS_HU[0] <= core <= _VITREOUS_HU[1]):
            return centre, 0.0, 0.0
        out = (hu < core - _BAND_HU[0]) | (hu > core + _BAND_HU[1])
        out[:, :-1] &= out[:, 1:]  # two samples in a row: not a noise spike
        hit = out.any(axis=1)
        first = np.argmax(out, axis=1)
        r_exit = _RADII_MM[first]
        # a ray that leaves the field of view (NaN) before the wall does not count
        nan = np.isnan(hu)
        first_nan = np.where(nan.any(axis=1), np.argmax(nan, axis=1), nan.shape[1])
        ok = hit & (first < first_nan) & (r_exit >= _WALL_MM[0]) & (r_exit <= _WALL_MM[1])
        if ok.sum() < 12:
            return centre, 0.0, 0.0
        wall = centre + r_exit[ok, None] * _DIRS[ok]
        c, r = _fit_sphere(wall)
        for _ in range(2):
            near = np.abs(np.linalg.norm(wall - c, axis=1) - r) <= 2.0
            if near.sum() < 12:
                return centre, 0.0, 0.0
            c, r = _fit_sphere(wall[near])
        if np.linalg.norm(c - start_lps) > _SEARCH_MM:
            return centre, 0.0, 0.0
        on = np.abs(np.linalg.norm(wall - c, axis=1) - r) <= 2.0
        centre, radius, share = c, r, float(on.sum()) / len(_DIRS)
    return centre, radius, share


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
        Candidates with a template score >= 0.25 (best first) and the LPS y of the anterior
        body surface with the body's AP extent; ``([], None)`` without a body.
    """
    found = _anterior_box(scan, layers)
    if found is None:
        return [], None
    box, y_front, extent = found
    hu = layers.hu[box]
    sealed = layers.sealed[box]
    soft_mask = sealed & (hu > _SOFT_HU[0]) & (hu < _SOFT_HU[1])
    if not soft_mask.any():
        return [], (y_front, extent)
    radius = np.asarray(
        edt.edt(
            soft_mask.astype(np.uint8),
            anisotropy=layers.spacing_mm,
            black_border=False,
            parallel=kernel_threads(),
        ),
        dtype=np.float32,
    )
    depth = layers.depth_mm[box]
    thick = (radius >= _BLOB_MIN_RADIUS_MM) & (depth >= _DEPTH_RANGE_MM[0])
    thick &= depth <= _DEPTH_RANGE_MM[1]
    labels, n = cc3d.connected_components(thick.astype(np.uint8), connectivity=26, return_N=True)
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
        start = _coarse_to_lps(scan, layers, (peak + origin)[None, :])[0]
        centre, wall_r, score = _sphere_at(scan, layers, start)
        if score < _MIN_SCORE or not (_GLOBE_RADIUS_MM[0] <= wall_r <= _GLOBE_RADIUS_MM[1]):
            continue
        out.append(GlobeCandidate(centre, wall_r, float(depth[tuple(peak)]), score))
    out.sort(key=lambda c: -c.score)
    return out, (y_front, extent)


def _best_pair(
    cands: list[GlobeCandidate], y_front: float, extent: float
) -> tuple[GlobeCandidate, GlobeCandidate, float] | None:
    """(right, left, pair score) of the most globe-like symmetric pair, or None."""
    cos_max = np.cos(np.radians(_PAIR_MAX_ANGLE_DEG))
    y_cut = y_front + _ANTERIOR_SHARE * extent
    best: tuple[GlobeCandidate, GlobeCandidate, float] | None = None
    for i, a in enumerate(cands):
        for b in cands[i + 1 :]:
            right, left = (a, b) if a.center_lps_mm[0] < b.center_lps_mm[0] else (b, a)
            d = left.center_lps_mm - right.center_lps_mm
            dist = float(np.linalg.norm(d))
            if not (_PAIR_DIST_MM[0] <= dist <= _PAIR_DIST_MM[1]) or d[0] / dist < cos_max:
                continue
            if abs(a.radius_mm - b.radius_mm) > _PAIR_MAX_RADIUS_DIFF_MM:
                continue
            if abs(a.depth_mm - b.depth_mm) > _PAIR_MAX_DEPTH_DIFF_MM:
                continue
            if max(a.center_lps_mm[1], b.center_lps_mm[1]) > y_cut:
                continue
            score = a.score + b.score - 0.02 * abs(a.depth_mm - b.depth_mm)
            if best is None or score > best[2]:
                best = (right, left, score)
    return best


def find_face_frame(scan: CTScan, layers: TissueLayers) -> FaceFrame:
    """Locate the globes (or fall back to the anterior-most point); build the face frame.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers

    Returns
    -------
    FaceFrame
        ``landmarks`` holds ``globe_right``/``globe_left`` (LPS mm), ``confidence`` (0-1: the
        weaker globe's template score relative to 0.5), ``interglobe_mm``, ``anterior_point``,
        ``origin``, ``midline_x_mm`` and, for a fallback, ``fallback_reason``.
    """
    cands, body = find_globes(scan, layers)
    if body is None:
        return FaceFrame(
            np.zeros(3),
            np.array([1.0, 0, 0]),
            np.array([0, -1.0, 0]),
            np.array([0, 0, 1.0]),
            "none",
            {"confidence": 0.0, "fallback_reason": "no body found"},
        )
    y_front, extent = body
    pair = _best_pair(cands, y_front, extent)
    superior = np.array([0.0, 0.0, 1.0])
    if pair is not None:
        right, left, _ = pair
        r, lft = right.center_lps_mm, left.center_lps_mm
        origin = (r + lft) / 2
        lateral = (lft - r) / np.linalg.norm(lft - r)
        superior = superior - lateral * float(superior @ lateral)
        superior /= np.linalg.norm(superior)
        anterior = np.cross(lateral, superior)
        confidence = float(np.clip(min(right.score, left.score) / 0.5, 0.0, 1.0))
        landmarks: dict[str, Any] = {
            "globe_right": _rounded(r),
            "globe_left": _rounded(lft),
            "globe_scores": [round(right.score, 3), round(left.score, 3)],
            "interglobe_mm": round(float(np.linalg.norm(lft - r)), 1),
            "confidence": round(confidence, 2),
        }
        method = "globes"
    else:
        reason = "no sphere-like soft-tissue blob" if not cands else "no symmetric globe pair"
        origin, extra = _fallback_origin(scan, layers)
        lateral = np.array([1.0, 0.0, 0.0])
        anterior = np.cross(lateral, superior)
        landmarks = {**extra, "confidence": 0.0, "fallback_reason": reason}
        method = "fallback_anterior_point"
        log.info("face frame: %s, falling back to the anterior-most skin point", reason)
    anterior /= np.linalg.norm(anterior)
    landmarks["origin"] = _rounded(origin)
    landmarks["midline_x_mm"] = round(float(origin[0]), 1)
    log.debug("face frame %s: %s", method, landmarks)
    return FaceFrame(np.asarray(origin, float), lateral, anterior, superior, method, landmarks)


def _rounded(v: NDArray[Any]) -> list[float]:
    return [round(float(x), 1) for x in v]


def _fallback_origin(
    scan: CTScan, layers: TissueLayers
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Origin estimate from the anterior-most skin point and the body midline."""
    sealed_idx = np.argwhere(layers.sealed[::2, ::2, ::2]) * 2
    pts = _coarse_to_lps(scan, layers, sealed_idx)
    mid_x = float(np.median(pts[:, 0]))
    front = pts[np.argmin(pts[:, 1])]
    # the anterior-most point is the nose tip on a full face, the brow or forehead otherwise
    origin = front + np.array([0.0, 25.0, 0.0])
    sup_z = float(pts[:, 2].max())
    low_z = float(pts[:, 2].min())
    if front[2] - low_z > 20.0 or sup_z - front[2] > 60.0:
        origin[2] = front[2] + _NOSE_TIP_BELOW_GLOBES_MM
    origin[0] = mid_x
    return origin, {"anterior_point": _rounded(front)}
