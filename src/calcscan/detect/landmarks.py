"""Face landmarks and the face frame used to assign regions.

The globes are found as a symmetric pair of soft-tissue spheres (radius 6.5-14 mm, the inner
radius given by a distance transform of the soft-tissue mask) near the front of the head, at
the same height, 40-80 mm apart and centred on the body midline. Their midpoint is the frame
origin, the line between them the lateral axis. Without globes (scan starts above the orbits,
or very thick slices) the frame falls back to the anterior-most skin point and the body
midline, and says so in ``method``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import edt
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.tissue import TissueLayers
from calcscan.scan import CTScan
from calcscan.threads import kernel_threads

__all__ = ["FaceFrame", "find_face_frame"]

log = logging.getLogger(__name__)

#: Typical offset (mm) of the nose tip below and in front of the globe centres (fallback only).
_NOSE_TIP_BELOW_GLOBES_MM = 38.0


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
        "globes" or "fallback_anterior_point".
    landmarks : dict
        Named landmark positions (LPS mm lists).
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


def _coarse_to_lps(scan: CTScan, layers: TissueLayers, idx: NDArray[Any]) -> NDArray[np.float64]:
    f = np.asarray(layers.factors, dtype=np.float64)
    return scan.index_to_lps(np.asarray(idx, dtype=np.float64) * f + (f - 1) / 2)


def find_face_frame(scan: CTScan, layers: TissueLayers) -> FaceFrame:
    """Locate the globes, midline and anterior-most point; build the face frame.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers

    Returns
    -------
    FaceFrame
    """
    sealed_idx = np.argwhere(layers.sealed)
    if sealed_idx.size == 0:
        return FaceFrame(
            np.zeros(3),
            np.array([1.0, 0, 0]),
            np.array([0, -1.0, 0]),
            np.array([0, 0, 1.0]),
            "none",
        )
    step = max(1, len(sealed_idx) // 200_000)
    pts = _coarse_to_lps(scan, layers, sealed_idx[::step])
    mid_x = float(np.median(pts[:, 0]))
    front = pts[np.argmin(pts[:, 1])]
    landmarks: dict[str, Any] = {"anterior_point": front.tolist()}
    globes = _find_globes(scan, layers, mid_x, float(front[1]))
    lateral = np.array([1.0, 0.0, 0.0])
    superior = np.array([0.0, 0.0, 1.0])
    if globes is not None:
        right, left = globes
        landmarks["globe_right"] = right.tolist()
        landmarks["globe_left"] = left.tolist()
        origin = (right + left) / 2
        lateral = (left - right) / np.linalg.norm(left - right)
        superior = superior - lateral * float(superior @ lateral)
        superior /= np.linalg.norm(superior)
        method = "globes"
    else:
        # the anterior-most point is the nose tip on a full face, the brow or forehead otherwise
        origin = front + np.array([0.0, 25.0, 0.0])
        sup_z = float(pts[:, 2].max())
        low_z = float(pts[:, 2].min())
        if front[2] - low_z > 20.0 or sup_z - front[2] > 60.0:
            origin[2] = front[2] + _NOSE_TIP_BELOW_GLOBES_MM
        origin[0] = mid_x
        method = "fallback_anterior_point"
    anterior = np.cross(lateral, superior)
    anterior /= np.linalg.norm(anterior)
    landmarks["origin"] = np.asarray(origin).tolist()
    landmarks["midline_x_mm"] = float(origin[0])
    return FaceFrame(np.asarray(origin, float), lateral, anterior, superior, method, landmarks)


def _find_globes(
    scan: CTScan, layers: TissueLayers, mid_x: float, front_y: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    soft = layers.sealed & (layers.hu > -40) & (layers.hu < 90)
    if not soft.any():
        return None
    r = edt.edt(
        soft.astype(np.uint8),
        anisotropy=layers.spacing_mm,
        black_border=False,
        parallel=kernel_threads(),
    )
    peaks = np.argwhere((r == ndimage.maximum_filter(r, size=5)) & (r >= 6.5) & (r <= 14.0))
    if len(peaks) < 2:
        return None
    lps = _coarse_to_lps(scan, layers, peaks)
    radius = r[tuple(peaks.T)]
    ok = lps[:, 1] < front_y + 75.0
    lps, radius = lps[ok], radius[ok]
    best: tuple[float, int, int] | None = None
    for i in range(len(lps)):
        for j in range(len(lps)):
            if lps[i, 0] >= lps[j, 0]:
                continue
            d = lps[j] - lps[i]
            if not (40.0 <= d[0] <= 80.0 and abs(d[1]) < 12.0 and abs(d[2]) < 10.0):
                continue
            if abs((lps[i, 0] + lps[j, 0]) / 2 - mid_x) > 15.0:
                continue
            if abs(radius[i] - radius[j]) > 3.0:
                continue
            score = float(radius[i] + radius[j]) - 0.2 * abs(float(d[2]))
            if best is None or score > best[0]:
                best = (score, i, j)
    if best is None:
        return None
    return lps[best[1]], lps[best[2]]
