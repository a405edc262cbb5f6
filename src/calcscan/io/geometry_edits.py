"""Edits of a scan's geometry that real series show: gantry tilt (shear) and irregular steps.

Used by the synthetic DICOM writer and by tests to know the exact geometry written.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calcscan.scan import CTScan

__all__ = ["apply_gap", "apply_tilt"]


def apply_tilt(scan: CTScan, tilt_deg: float) -> CTScan:
    """Shear a scan like a gantry tilt: each slice shifts down the image by ``d tan(tilt)``.

    ``d`` is the distance of the slice from the first one along the plane normal, and the
    shift is along the row vector (increasing row index), as on a tilted gantry where the
    table moves along the body axis but the image planes are inclined. Pixels are untouched.

    Parameters
    ----------
    scan : CTScan
    tilt_deg : float
        Tilt angle in degrees.

    Returns
    -------
    CTScan
        Same voxels, sheared affine and slice positions.
    """
    pos = scan.slice_positions_lps_mm
    dist = (pos - pos[0]) @ scan.slice_normal_lps
    row_unit = scan.row_vector_lps / np.linalg.norm(scan.row_vector_lps)
    shift = np.tan(np.radians(tilt_deg)) * dist[:, None] * row_unit[None, :]
    new_pos = pos + shift
    aff = scan.affine_lps.copy()
    aff[:3, 0] = (
        aff[:3, 0]
        + np.tan(np.radians(tilt_deg)) * float(np.dot(aff[:3, 0], scan.slice_normal_lps)) * row_unit
    )
    return scan.replace(affine_lps=aff, slice_positions_lps_mm=new_pos)


def apply_gap(scan: CTScan, after: int | Sequence[int], gap_mm: float) -> CTScan:
    """Add ``gap_mm`` (may be negative) to the slice step after the given slice indices.

    Parameters
    ----------
    scan : CTScan
    after : int or sequence of int
        Slice index ``k``: slices ``k+1..`` move by ``gap_mm`` along the slice step.
    gap_mm : float
        Extra distance; ``-0.5`` turns one 1.5 mm step into 1.0 mm (the InVesalius head).

    Returns
    -------
    CTScan
        Same voxels, irregular slice positions (the affine keeps the regular step).
    """
    ks = [after] if isinstance(after, int) else list(after)
    step = scan.affine_lps[:3, 0]
    unit = step / np.linalg.norm(step)
    pos = scan.slice_positions_lps_mm.copy()
    for k in ks:
        pos[k + 1 :] += gap_mm * unit
    return scan.replace(slice_positions_lps_mm=pos)
