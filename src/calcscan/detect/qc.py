"""Quality control as in the reference study: face coverage, motion, dental artefact, slices.

``face_coverage_ok`` (CONTRACTS.md section 2) is true when the scan is a head (a skull ring
enclosing brain/soft tissue on some axial slice, or a pair of globes, in a body no wider than a
head) and the anterior facial skin is inside the field of view where the face was scanned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calcscan.detect.landmarks import FaceFrame
from calcscan.detect.tissue import TissueLayers, fill_holes
from calcscan.scan import CTScan

__all__ = ["QCResult", "run_qc"]

FACE_NOT_COVERED = "face not covered"
_MAX_HEAD_WIDTH_MM = 240.0
_MIN_BRAIN_AREA_MM2 = 4000.0
_THICK_SLICE_MM = 3.0
_METAL_FLAG_MM3 = 20.0


@dataclass
class QCResult:
    """QC outcome (the record's ``qc`` object plus diagnostics)."""

    face_coverage_ok: bool
    excluded: bool
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``qc`` object."""
        return {
            "face_coverage_ok": self.face_coverage_ok,
            "excluded": self.excluded,
            "reasons": list(self.reasons),
            "flags": list(self.flags),
        }


def _is_head(layers: TissueLayers, frame: FaceFrame) -> tuple[bool, dict[str, Any]]:
    sp = layers.spacing_mm
    pix_mm2 = sp[1] * sp[2]
    widths = []
    for k in range(layers.sealed.shape[0]):
        body = layers.sealed[k]
        if not body.any():
            continue
        rows = np.flatnonzero(body.any(axis=1))
        cols = np.flatnonzero(body.any(axis=0))
        widths.append(max((rows[-1] - rows[0] + 1) * sp[1], (cols[-1] - cols[0] + 1) * sp[2]))
    # slices where the bone encloses a brain-sized area (holes filled slice by slice)
    inside = fill_holes(layers.bone, planar=True) & ~layers.bone
    brain_slices = int(np.count_nonzero(inside.sum(axis=(1, 2)) * pix_mm2 >= _MIN_BRAIN_AREA_MM2))
    max_width = float(max(widths)) if widths else 0.0
    head = max_width <= _MAX_HEAD_WIDTH_MM and (brain_slices >= 1 or frame.method == "globes")
    return head, {"max_body_width_mm": max_width, "skull_ring_slices": brain_slices}


def _anterior_cut(scan: CTScan, layers: TissueLayers, frame: FaceFrame) -> float:
    """Share of body slices whose anterior-most body voxel lies on the image border."""
    s = layers.sealed
    n_cut = 0
    n = 0
    # the in-plane index direction that points anterior
    rv = scan.row_vector_lps / np.linalg.norm(scan.row_vector_lps)
    cv = scan.col_vector_lps / np.linalg.norm(scan.col_vector_lps)
    a_row = float(rv @ frame.anterior)
    a_col = float(cv @ frame.anterior)
    use_rows = abs(a_row) >= abs(a_col)
    sign = a_row if use_rows else a_col
    for k in range(s.shape[0]):
        prof = s[k].any(axis=1) if use_rows else s[k].any(axis=0)
        idx = np.flatnonzero(prof)
        if idx.size == 0:
            continue
        n += 1
        edge = idx[0] == 0 if sign < 0 else idx[-1] == prof.size - 1
        n_cut += int(edge)
    return n_cut / n if n else 1.0


def _motion_score(layers: TissueLayers) -> float:
    """Largest relative jump of the body outline area between neighbouring slices."""
    area = layers.sealed.sum(axis=(1, 2)).astype(np.float64)
    ok = area > 0.2 * (area.max() if area.size else 0)
    if ok.sum() < 5:
        return 0.0
    a = area[ok]
    jump = np.abs(a[1:-1] - 0.5 * (a[:-2] + a[2:])) / np.maximum(a[1:-1], 1.0)
    return float(jump.max())


def run_qc(
    scan: CTScan,
    layers: TissueLayers,
    frame: FaceFrame,
    *,
    metal_volume_mm3: float,
    metal_streak_rejections: int,
) -> QCResult:
    """Face coverage, motion/dental flags, slice-thickness warnings and exclusion.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers
    frame : FaceFrame
    metal_volume_mm3 : float
        Volume of voxels at or above the metal threshold.
    metal_streak_rejections : int
        Candidates rejected as metal streaks.

    Returns
    -------
    QCResult
    """
    head, details = _is_head(layers, frame)
    cut = _anterior_cut(scan, layers, frame) if head else 1.0
    details["anterior_cut_fraction"] = cut
    coverage = bool(head and cut < 0.3)
    reasons: list[str] = []
    flags: list[str] = []
    if not coverage:
        reasons.append(FACE_NOT_COVERED)
    motion = _motion_score(layers)
    details["motion_score"] = motion
    if motion > 0.15:
        flags.append("motion_suspected")
    if metal_volume_mm3 >= _METAL_FLAG_MM3:
        flags.append("dental_metal_artefact")
    if metal_streak_rejections >= 20:
        reasons.append("excessive dental/metal artefact")
    thick = scan.slice_thickness_mm or scan.spacing_mm[0]
    if thick > _THICK_SLICE_MM:
        flags.append(f"thick_slices_{thick:.1f}mm")
    if scan.gantry_tilt_deg > 0.5:
        flags.append(f"gantry_tilt_{scan.gantry_tilt_deg:.1f}deg")
    pos = scan.slice_positions_lps_mm
    if len(pos) > 2:
        steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
        if steps.max() - steps.min() > 0.05 * float(np.median(steps)):
            flags.append("irregular_slice_spacing")
    if frame.method != "globes":
        flags.append("landmarks_fallback")
    details["face_frame_method"] = frame.method
    return QCResult(
        face_coverage_ok=coverage,
        excluded=bool(reasons),
        reasons=reasons,
        flags=flags,
        details=details,
    )
