"""Random insertion sites in the facial dermis/hypodermis of a real CT.

This tissue logic is deliberately simple and independent of :mod:`calcscan.detect`: a validator
must not share the detector's assumptions. Steps (on a grid coarsened in-plane to ~1 mm):

1. body = largest connected component of voxels > -400 HU after a small opening (drops the
   table, head holder and thin objects), holes filled slice by slice (sinuses, airway);
2. depth below the skin = Euclidean distance transform of the body (anisotropic spacing);
3. soft tissue = -250..120 HU; bone = >= 250 HU; the layer is soft tissue at the requested
   depth whose distance to bone and to internal air exceeds the nodule radius plus a margin;
4. thin protrusions (auricles, nasal alae: not covered by an opening of the body with a 5 mm
   ball) are excluded, because cartilage there is a mimic a random site should not sit on;
5. the skin over the site must face the open air: a ray along the outward normal leaves the
   body and does not meet it again within ``_OPEN_AIR_MM``. Slice-by-slice hole filling leaves
   the nasal cavity open wherever a nostril opens in-plane, so without this test the septum
   and the nasal cavity's walls (mucosa, not skin) pass for skin 1-4 mm deep;
6. the face is the anterior part of the head: LPS y below ``body_y_min + 0.35 * AP extent``;
   which end is anterior is checked on the anatomy (internal air of sinuses and nasal cavity
   lies anteriorly) and a warning is logged if it contradicts LPS.

Side comes from the LPS x of the body's midline (mid-sagittal plane = median x of the anterior
body voxels). The region comes from the project's region definitions evaluated in a frame of
hand-annotated globe landmarks (:mod:`calcscan.phantom.realregions`) when the scan is one of the
annotated heads, else it is ``None``; sites at a region border get ``None`` too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.errors import InputError
from calcscan.phantom.realregions import HeadLandmarks, landmarks_for
from calcscan.scan import CTScan
from calcscan.threads import kernel_threads

__all__ = ["SkinSite", "SkinSiteSampler", "sample_skin_sites"]

log = logging.getLogger(__name__)

_BODY_HU = -400.0
_SOFT_HU = (-250.0, 120.0)
_BONE_HU = 250.0
_MIDLINE_HALF_WIDTH_MM = 4.0
_PROTRUSION_BALL_MM = 5.0
#: Free air a skin site must face along its outward normal. From sites in the nasal cavity's
#: walls, septum or columella the ray met the body again 4-9 mm away (real heads, tuning
#: seeds); from an eyelid next to the nasal bridge, 18 mm away.
_OPEN_AIR_MM = 12.0
_RAY_STEP_MM = 0.5


def outward_normals(
    depth_mm: NDArray[np.floating[Any]], idx: NDArray[np.int64], jacobian: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Unit outward normals (LPS) at voxel indices: minus the gradient of the depth map.

    Parameters
    ----------
    depth_mm : ndarray
        Depth below the skin on a grid.
    idx : ndarray, shape (n, 3)
        Voxel indices (slice, row, col).
    jacobian : ndarray, shape (3, 3)
        LPS step of one index along each axis (columns), e.g. ``affine[:3, :3]``.
    """
    idx = np.atleast_2d(idx)
    shape = np.asarray(depth_mm.shape)
    grad = np.zeros(idx.shape, dtype=np.float64)
    for a in range(3):
        hi = idx.copy()
        lo = idx.copy()
        hi[:, a] = np.minimum(idx[:, a] + 1, shape[a] - 1)
        lo[:, a] = np.maximum(idx[:, a] - 1, 0)
        span = np.maximum(hi[:, a] - lo[:, a], 1)
        grad[:, a] = (depth_mm[tuple(hi.T)] - depth_mm[tuple(lo.T)]) / span
    # d(depth)/d(index) = J^T grad_lps  ->  grad_lps = J^-T d(depth)/d(index)
    g = np.linalg.solve(jacobian.T, grad.T).T
    n = -g
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.asarray(np.divide(n, norm, out=np.zeros_like(n), where=norm > 0))


def _edt(mask: NDArray[np.bool_], spacing: tuple[float, float, float]) -> NDArray[np.float32]:
    """Euclidean distance (mm) of every True voxel to the nearest False voxel."""
    import edt

    return np.asarray(
        edt.edt(
            np.ascontiguousarray(mask),
            anisotropy=spacing,
            black_border=False,
            parallel=kernel_threads(),
        ),
        dtype=np.float32,
    )


@dataclass(frozen=True)
class SkinSite:
    """One candidate nodule centre.

    Attributes
    ----------
    center_lps_mm : tuple of float
    depth_mm : float
        Distance below the skin surface.
    clearance_mm : float
        Distance to the nearest bone or internal air (room for the nodule's radius).
    region : str or None
    side : str or None
        "left" | "right" | "midline" (patient side, from LPS x and the body midline).
    normal_lps : tuple of float
        Outward skin normal (unit, LPS) from the gradient of the depth map.
    """

    center_lps_mm: tuple[float, float, float]
    depth_mm: float
    clearance_mm: float
    region: str | None
    side: str | None
    normal_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)


class SkinSiteSampler:
    """Precomputed facial tissue layers of one scan, for drawing many sites.

    Parameters
    ----------
    scan : CTScan
    coarse_mm : float
        Target in-plane step of the working grid.
    landmarks : HeadLandmarks, optional
        Globe landmarks for region truth; default: the hand-annotated ones of this study_key
        (``landmarks.yaml``), if any.
    """

    def __init__(
        self, scan: CTScan, *, coarse_mm: float = 1.0, landmarks: HeadLandmarks | None = None
    ) -> None:
        self.scan = scan
        self.landmarks = landmarks or landmarks_for(scan.study_key)
        sk, sr, sc = scan.spacing_mm
        self.step = (1, max(1, round(coarse_mm / sr)), max(1, round(coarse_mm / sc)))
        hu = np.asarray(scan.hu[:, :: self.step[1], :: self.step[2]], dtype=np.float32)
        self.spacing = (sk, sr * self.step[1], sc * self.step[2])
        self.hu = hu
        body = hu > _BODY_HU
        body = ndimage.binary_opening(body, structure=np.ones((1, 3, 3), bool))
        lab, n = ndimage.label(body)
        if n == 0:
            raise InputError("no body found in the scan (nothing above -400 HU): not a CT head?")
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        body = lab == int(np.argmax(sizes))
        for k in range(body.shape[0]):
            body[k] = ndimage.binary_fill_holes(body[k])
        self.body = body
        self.depth_mm = _edt(body, self.spacing)
        soft = (hu >= _SOFT_HU[0]) & (hu <= _SOFT_HU[1]) & body
        hard = ((hu >= _BONE_HU) | (hu < -300)) & body
        self.clearance_mm = _edt(~hard, self.spacing)
        # opening by a 5 mm ball = erosion (depth > 5) then dilation by 5 mm; voxels within
        # 3 mm of the opened body are kept, so thin protrusions (auricles, alae) drop out
        eroded = self.depth_mm > _PROTRUSION_BALL_MM
        near_thick = _edt(~eroded, self.spacing) <= _PROTRUSION_BALL_MM + 3.0
        self.soft = soft & near_thick
        idx = np.argwhere(body[:, ::2, ::2]) * np.array([1, 2, 2])
        lps = self._lps(idx.astype(np.float64))
        self.face_sign = self._anterior_sign(lps)
        y = lps[:, 1] * self.face_sign  # larger = more anterior
        self.y_front = float(y.max())
        self.ap_extent = float(y.max() - y.min())
        front = y >= self.y_front - 0.35 * self.ap_extent
        self.midline_x = float(np.median(lps[front, 0])) if front.any() else 0.0

    def _lps(self, idx_coarse: NDArray[np.float64]) -> NDArray[np.float64]:
        full = idx_coarse * np.asarray(self.step, dtype=np.float64)
        return self.scan.index_to_lps(full)

    def _anterior_sign(self, body_lps: NDArray[np.float64]) -> float:
        """-1 when anterior is -y (LPS, as it should be); +1 if the anatomy says otherwise."""
        air = (self.hu < -400) & self.body
        air = ndimage.binary_erosion(air, iterations=1)
        if air.sum() < 50:
            return -1.0
        air_y = self._lps(np.argwhere(air).astype(np.float64))[:, 1]
        mid_y = 0.5 * (body_lps[:, 1].min() + body_lps[:, 1].max())
        if np.median(air_y) > mid_y + 10.0:
            log.warning(
                "internal air (sinuses/nasal cavity) lies posterior in LPS: the face seems to "
                "be at +y; orientation of %s is suspect, sampling the face at +y",
                self.scan.source_path or "the scan",
            )
            return 1.0
        return -1.0

    def normal_at(self, idx_coarse: NDArray[np.int64]) -> NDArray[np.float64]:
        """Outward skin normal (unit LPS) at a coarse-grid voxel."""
        jac = self.scan.affine_lps[:3, :3] * np.asarray(self.step, dtype=np.float64)[None, :]
        return outward_normals(self.depth_mm, np.asarray(idx_coarse)[None, :], jac)[0]

    def faces_open_air(
        self, center_lps_mm: NDArray[np.float64], normal_lps: NDArray[np.float64]
    ) -> bool:
        """Does the skin over a site face the open air (not the nasal cavity or a nostril)?

        A ray from the site along the outward normal must leave the body within
        ``_OPEN_AIR_MM`` and not meet it again before ``_OPEN_AIR_MM`` (the array's edge
        counts as air). One ray: the site at the far end of a straight channel seen end on
        passes (rays tilted 30 degrees told those apart, but also failed 10 % of the sites on
        the open face, where the coarse normal is a few tens of degrees off).
        """
        steps = np.arange(0.0, _OPEN_AIR_MM + 1e-9, _RAY_STEP_MM)
        ray = np.asarray(center_lps_mm)[None, :] + steps[:, None] * np.asarray(normal_lps)[None, :]
        idx = np.round(self.scan.lps_to_index(ray) / np.asarray(self.step)).astype(np.int64)
        inside_grid = np.all((idx >= 0) & (idx < np.asarray(self.body.shape)), axis=1)
        in_body = np.zeros(len(steps), dtype=bool)
        in_body[inside_grid] = self.body[tuple(idx[inside_grid].T)]
        out = np.flatnonzero(~in_body)
        return bool(out.size) and not bool(in_body[out[0] :].any())

    def side_of(self, x_lps_mm: float) -> str:
        """Patient side of an LPS x coordinate (+x is the patient's left)."""
        dx = x_lps_mm - self.midline_x
        if abs(dx) <= _MIDLINE_HALF_WIDTH_MM:
            return "midline"
        return "left" if dx > 0 else "right"

    def candidates(self, depth_mm: tuple[float, float], clearance_mm: float) -> NDArray[np.int64]:
        """Coarse-grid indices of the layer voxels satisfying depth and clearance."""
        ok = (
            self.soft
            & (self.depth_mm >= depth_mm[0])
            & (self.depth_mm <= depth_mm[1])
            & (self.clearance_mm >= clearance_mm)
        )
        idx = np.argwhere(ok)
        if idx.size == 0:
            return idx
        y = self._lps(idx.astype(np.float64))[:, 1] * self.face_sign
        return idx[y >= self.y_front - 0.35 * self.ap_extent]

    def sample(
        self,
        n: int,
        rng: np.random.Generator,
        *,
        depth_mm: tuple[float, float] = (0.5, 3.0),
        clearance_mm: float = 1.0,
        min_separation_mm: float = 8.0,
        avoid_lps_mm: list[tuple[float, float, float]] | None = None,
    ) -> list[SkinSite]:
        """Draw up to ``n`` sites at least ``min_separation_mm`` apart (and from ``avoid``).

        Raises
        ------
        InputError
            When the scan has no facial soft tissue at that depth.
        """
        idx = self.candidates(depth_mm, clearance_mm)
        if idx.shape[0] == 0:
            raise InputError(
                f"no facial skin layer at depth {depth_mm[0]}-{depth_mm[1]} mm found: is this "
                "a head CT with the face in the field of view?"
            )
        taken = [np.asarray(p, dtype=np.float64) for p in (avoid_lps_mm or [])]
        out: list[SkinSite] = []
        order = rng.permutation(idx.shape[0])
        jitter_vox = np.asarray(self.step, dtype=np.float64) / np.asarray(self.step) * 0.5
        for j in order:
            if len(out) >= n:
                break
            i = idx[j].astype(np.float64) + rng.uniform(-jitter_vox, jitter_vox) * (
                np.asarray(self.step) > 1
            )
            p = self._lps(i)
            if taken and min(float(np.linalg.norm(p - t)) for t in taken) < min_separation_mm:
                continue
            nrm = self.normal_at(idx[j])
            if not self.faces_open_air(p, nrm):
                continue
            taken.append(p)
            k, r, c = idx[j]
            region = self.landmarks.region(p, nrm)[0] if self.landmarks is not None else None
            out.append(
                SkinSite(
                    center_lps_mm=(float(p[0]), float(p[1]), float(p[2])),
                    depth_mm=float(self.depth_mm[k, r, c]),
                    clearance_mm=float(self.clearance_mm[k, r, c]),
                    region=region,
                    side=self.side_of(float(p[0])),
                    normal_lps=(float(nrm[0]), float(nrm[1]), float(nrm[2])),
                )
            )
        if len(out) < n:
            log.warning(
                "only %d of %d sites fit with %.1f mm separation", len(out), n, min_separation_mm
            )
        return out


def sample_skin_sites(
    scan: CTScan,
    n: int,
    rng: np.random.Generator,
    *,
    depth_mm: tuple[float, float] = (0.5, 3.0),
    min_separation_mm: float = 8.0,
) -> list[SkinSite]:
    """Random sites in the dermis/hypodermis of the face of a real scan.

    Parameters
    ----------
    scan : CTScan
    n : int
        Number of sites wanted.
    rng : numpy.random.Generator
    depth_mm : (float, float)
        Range of the centre's depth below the skin surface.
    min_separation_mm : float
        Minimum distance between sites.

    Returns
    -------
    list of SkinSite
        See :class:`SkinSiteSampler` for the tissue rules (independent of the detector).
    """
    return SkinSiteSampler(scan).sample(
        n, rng, depth_mm=depth_mm, min_separation_mm=min_separation_mm
    )
