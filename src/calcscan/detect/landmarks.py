"""Face landmarks and the face frame used to assign regions.

The globes are found by :mod:`calcscan.detect.globes` (sphere-like soft-tissue blobs with a
fitted wall, no fixed LPS offsets). The pair: two globes 45-90 mm apart whose connecting line
lies within 40 deg of the scanner's left-right axis (head yaw/roll), with similar radius and
skin depth, both within 90 mm of the most anterior body point; the pair with the highest
summed score wins.

Frame (``method="globes"``): origin midway between the globe centres; lateral axis = the line
between the globes in the axial plane (yaw), tilted by the head's roll; superior axis = scanner
+z made orthogonal to it; anterior = lateral x superior. Pitch is not estimated (the region
definitions and the validator use the same convention). The roll comes from the globes' height
difference, except on thin-slice scans (slice step <= 2.5 mm) where the skull's mirror
symmetry measures it better: a few mm of error in one globe's height tilts the frame by
several degrees, which moves temporal and jaw points near region borders by 5-10 mm.
``landmarks["roll_source"]`` says which was used.

Without a globe pair (scan starts above the orbits, no face, very poor data) the frame falls
back to the anterior-most skin point and the body midline (``method="fallback_anterior_point"``)
and ``landmarks["fallback_reason"]`` says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.globes import (
    ANTERIOR_REACH_MM,
    GlobeCandidate,
    coarse_to_lps,
    find_globes,
    refine_by_slices,
)
from calcscan.detect.tissue import TissueLayers
from calcscan.scan import CTScan

__all__ = ["FaceFrame", "find_face_frame"]

log = logging.getLogger(__name__)

#: Typical offset (mm) of the nose tip below and in front of the globe centres (fallback only).
_NOSE_TIP_BELOW_GLOBES_MM = 38.0
#: Pair geometry: centre distance (mm), max angle of the pair to the scanner's L-R axis (deg).
_PAIR_DIST_MM = (45.0, 90.0)
_PAIR_MAX_ANGLE_DEG = 40.0
_PAIR_MAX_RADIUS_DIFF_MM = 4.0
_PAIR_MAX_DEPTH_DIFF_MM = 10.0
#: Roll from the skull's symmetry: only with slice steps up to this (mm); bone points used,
#: their maximum distance from the origin (mm), the least symmetry score and the largest
#: disagreement with the globes' roll (deg) accepted.
_SYM_MAX_SLICE_MM = 2.5
_SYM_POINTS = 2000
_SYM_RADIUS_MM = 110.0
_SYM_MIN_SCORE = 0.5
_SYM_MAX_DIFF_DEG = 10.0


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


def _best_pair(
    cands: list[GlobeCandidate], y_front: float
) -> tuple[GlobeCandidate, GlobeCandidate, float] | None:
    """(right, left, pair score) of the most globe-like symmetric pair, or None."""
    cos_max = np.cos(np.radians(_PAIR_MAX_ANGLE_DEG))
    y_cut = y_front + ANTERIOR_REACH_MM
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


def _rotate_roll(lateral: NDArray[np.float64], roll_deg: float) -> NDArray[np.float64]:
    """The lateral axis with the yaw of ``lateral`` and the given roll (deg, + = left up)."""
    lat_xy = np.array([lateral[0], lateral[1], 0.0])
    lat_xy /= np.linalg.norm(lat_xy)
    th = np.radians(roll_deg)
    return np.asarray(np.cos(th) * lat_xy + np.sin(th) * np.array([0.0, 0.0, 1.0]))


def _roll_by_symmetry(
    scan: CTScan, layers: TissueLayers, origin: NDArray[np.float64], lateral: NDArray[np.float64]
) -> tuple[float, float] | None:
    """Head roll (deg) from the skull's mirror symmetry, and the symmetry score (0-1).

    Bone voxels within 110 mm of the origin are mirrored across planes through the origin
    (shifted by up to 6 mm along their normal) whose normal has the globes' yaw and a roll of
    -15..15 deg; the score of a plane is the share of mirrored points that land within 1.5
    coarse voxels of bone. Coarse-to-fine search (3 deg / 2 mm grid, then 0.5 deg and 0.5 mm steps).
    """
    idx = np.argwhere(layers.bone[:, ::2, ::2]) * np.array([1, 2, 2])
    if len(idx) < 200:
        return None
    rng = np.random.default_rng(0)
    if len(idx) > _SYM_POINTS:
        idx = idx[rng.choice(len(idx), _SYM_POINTS, replace=False)]
    pts = coarse_to_lps(scan, layers, idx)
    pts = pts[np.linalg.norm(pts - origin, axis=1) <= _SYM_RADIUS_MM]
    if len(pts) < 200:
        return None
    # a linear LPS -> coarse-index map is enough to score a mirror plane
    f = np.asarray(layers.factors, dtype=np.float64)
    jac_inv = np.linalg.inv(scan.affine_lps[:3, :3] * f[None, :])
    base = coarse_to_lps(scan, layers, np.zeros((1, 3)))[0]
    near = 1.5 * max(layers.spacing_mm[1:])

    def score(roll_deg: float, off_mm: float) -> float:
        n = _rotate_roll(lateral, roll_deg)
        d = (pts - origin) @ n - off_mm
        ii = (pts - 2.0 * d[:, None] * n[None, :] - base) @ jac_inv.T
        bd = ndimage.map_coordinates(layers.bone_dist_mm, ii.T, order=1, cval=1e3)
        return float(np.mean(bd <= near))

    best = max(
        (score(r, o), r, o) for r in np.arange(-15.0, 15.01, 3.0) for o in np.arange(-6, 6.01, 2)
    )
    _, r0, o0 = best
    best = max((score(r, o0), r, o0) for r in np.arange(r0 - 2.5, r0 + 2.51, 0.5))
    _, r0, o0 = best
    best = max((score(r0, o), r0, o) for o in np.arange(o0 - 1.5, o0 + 1.51, 0.5))
    best = max((score(r, best[2]), r, best[2]) for r in np.arange(r0 - 1.0, r0 + 1.01, 0.5))
    return float(best[1]), float(best[0])


def find_face_frame(scan: CTScan, layers: TissueLayers) -> FaceFrame:
    """Locate the globes (or fall back to the anterior-most point); build the face frame.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers

    Returns
    -------
    FaceFrame
        ``landmarks`` holds ``globe_right``/``globe_left`` (LPS mm), ``globe_scores``,
        ``confidence`` (0-1: the weaker globe's wall-fit score relative to 0.5),
        ``interglobe_mm``, ``roll_deg`` with its ``roll_source`` ("globes" or
        "skull_symmetry"), ``origin`` and ``midline_x_mm``; for a fallback ``anterior_point``,
        ``confidence`` 0 and ``fallback_reason``.
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
    pair = _best_pair(cands, body[0])
    superior = np.array([0.0, 0.0, 1.0])
    if pair is not None:
        right, left, _ = pair
        r, lft = refine_by_slices(scan, layers, right), refine_by_slices(scan, layers, left)
        origin = (r + lft) / 2
        lateral = (lft - r) / np.linalg.norm(lft - r)
        roll, roll_source = float(np.degrees(np.arcsin(lateral[2]))), "globes"
        sym = None
        if _slice_step_mm(scan) <= _SYM_MAX_SLICE_MM:
            sym = _roll_by_symmetry(scan, layers, origin, lateral)
        if sym is not None and sym[1] >= _SYM_MIN_SCORE and abs(sym[0] - roll) <= _SYM_MAX_DIFF_DEG:
            roll, roll_source = sym[0], "skull_symmetry"
            lateral = _rotate_roll(lateral, roll)
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
            "roll_deg": round(roll, 1),
            "roll_source": roll_source,
        }
        if sym is not None:
            landmarks["skull_symmetry"] = {"roll_deg": round(sym[0], 1), "score": round(sym[1], 3)}
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
    log.info(
        "face frame: method=%s confidence=%.2f roll=%s deg (%s)",
        method,
        landmarks["confidence"],
        landmarks.get("roll_deg"),
        landmarks.get("roll_source", "none"),
    )
    log.debug("face frame landmarks: %s", landmarks)
    return FaceFrame(np.asarray(origin, float), lateral, anterior, superior, method, landmarks)


def _rounded(v: NDArray[Any]) -> list[float]:
    return [round(float(x), 1) for x in v]


def _fallback_origin(
    scan: CTScan, layers: TissueLayers
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Origin estimate from the anterior-most skin point and the body midline."""
    sealed_idx = np.argwhere(layers.sealed[::2, ::2, ::2]) * 2
    pts = coarse_to_lps(scan, layers, sealed_idx)
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


def _slice_step_mm(scan: CTScan) -> float:
    """Median distance between neighbouring image planes (mm)."""
    return float(scan.spacing_mm[0])
