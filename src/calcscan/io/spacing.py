"""Slice spacing analysis: median step, irregular steps, missing slices, mixed thickness.

Pure numpy on the sorted slice positions; the reader carries the exact positions anyway, this
only describes them and produces the warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MISSING_FACTOR", "SpacingReport", "analyze_slice_positions"]

#: A step longer than this times the expected step means slices are missing.
MISSING_FACTOR = 1.5
_IRREGULAR_REL = 0.05


@dataclass
class SpacingReport:
    """Description of the slice positions of a series.

    Attributes
    ----------
    median_step_lps_mm : ndarray, shape (3,)
        The step vector of median length (the affine's slice column).
    warnings : list of str
    facts : dict
        ``slice_step_median_mm``, ``slice_step_min_mm``, ``slice_step_max_mm``,
        ``n_missing_slices``, ``irregular_steps`` (slice index and step), ``slice_thicknesses_mm``.
    """

    median_step_lps_mm: NDArray[np.float64]
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def analyze_slice_positions(
    positions_lps_mm: NDArray[np.float64],
    normal: NDArray[np.float64],
    thickness_mm: Sequence[float | None] | None = None,
) -> SpacingReport:
    """Analyse sorted slice positions.

    The expected step of each gap is the median step among slices of the same nominal
    thickness (so a series mixing 4 mm and 7 mm slices is not "missing" slices where the
    thickness changes). A step longer than ``MISSING_FACTOR`` x expected counts
    ``round(step / expected) - 1`` missing slices; other steps differing by more than 5% are
    irregular.

    Parameters
    ----------
    positions_lps_mm : ndarray, shape (n, 3)
        ImagePositionPatient sorted along the normal (n >= 2).
    normal : ndarray, shape (3,)
        Unit normal of the image planes.
    thickness_mm : sequence of float or None, optional
        Nominal slice thickness of each slice.

    Returns
    -------
    SpacingReport
    """
    pos = np.asarray(positions_lps_mm, dtype=np.float64)
    diffs = np.diff(pos, axis=0)
    steps = diffs @ normal
    n_steps = len(steps)
    order = np.argsort(steps, kind="stable")
    median_vec = diffs[order[n_steps // 2]] if n_steps % 2 else diffs[order[(n_steps - 1) // 2]]
    median_step = float(np.median(steps))
    thick = list(thickness_mm) if thickness_mm is not None else [None] * len(pos)
    groups = sorted({t for t in thick if t is not None})
    expected = np.full(n_steps, median_step)
    if len(groups) > 1:
        for t in groups:
            idx = [i for i in range(n_steps) if thick[i] == t and thick[i + 1] == t]
            if idx:
                ref = float(np.median(steps[idx]))
                sel = [i for i in range(n_steps) if thick[i] == t]
                expected[sel] = ref
    report = SpacingReport(median_step_lps_mm=np.asarray(median_vec, dtype=np.float64))
    missing_at = np.nonzero(steps > MISSING_FACTOR * expected)[0]
    n_missing = int(sum(max(1, round(steps[i] / expected[i]) - 1) for i in missing_at))
    regular = np.abs(steps - expected) <= _IRREGULAR_REL * expected + 1e-3
    irregular_at = [i for i in np.nonzero(~regular)[0] if i not in set(missing_at)]
    if n_missing:
        where = ", ".join(f"{steps[i]:.2f} mm after slice {i}" for i in missing_at[:5])
        report.warnings.append(
            f"{n_missing} missing slice(s): gaps of {where} (expected {median_step:.2f} mm); "
            "exact slice positions are carried"
        )
    if irregular_at:
        where = ", ".join(f"{steps[i]:.2f} mm after slice {i}" for i in irregular_at[:5])
        more = f" and {len(irregular_at) - 5} more" if len(irregular_at) > 5 else ""
        report.warnings.append(
            f"irregular slice spacing: {where}{more} (median step {median_step:.2f} mm); "
            "exact per-slice positions are carried (no resampling)"
        )
    if len(groups) > 1:
        report.warnings.append(
            "mixed slice thickness " + "/".join(f"{t:g}" for t in groups) + " mm within the series"
        )
    report.facts = {
        "slice_step_median_mm": round(median_step, 4),
        "slice_step_min_mm": round(float(steps.min()), 4),
        "slice_step_max_mm": round(float(steps.max()), 4),
        "n_missing_slices": n_missing,
        "irregular_steps": [[int(i), round(float(steps[i]), 4)] for i in irregular_at],
        "slice_thicknesses_mm": groups,
    }
    return report
