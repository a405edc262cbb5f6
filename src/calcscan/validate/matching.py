"""One-to-one matching of detections to ground truth and the validation metrics.

Matching: Hungarian assignment (:func:`scipy.optimize.linear_sum_assignment`) on the LPS
distance between truth centroids and detection centroids; a pair counts only within the
tolerance ``max(min_tolerance_mm, truth radius + voxel diagonal)``.

Acceptance strata (issue 3): a truth nodule whose rendered peak is < 200 HU is "faint": if
matched it is neither a hit nor a miss, and its matched detection is not a false positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from calcscan.phantom.truth import TruthNodule

__all__ = [
    "FAINT_PEAK_HU",
    "SIZE_BINS_MM",
    "MatchResult",
    "match_detections",
    "tolerance_mm",
]

#: Truth nodules rendered below this peak count neither as hits nor as misses.
FAINT_PEAK_HU = 200.0
#: Size bins (mm, [lo, hi)) of the sensitivity table; the last bin includes its upper edge.
SIZE_BINS_MM: tuple[tuple[float, float], ...] = ((0.6, 1.0), (1.0, 2.0), (2.0, 4.0))


def tolerance_mm(
    truth: TruthNodule, voxel_diagonal_mm: float, min_tolerance_mm: float = 2.0
) -> float:
    """Match distance allowed for one truth nodule."""
    return max(min_tolerance_mm, truth.diameter_mm / 2.0 + voxel_diagonal_mm)


@dataclass
class MatchResult:
    """Outcome of matching one scan's detections to its truth.

    Attributes
    ----------
    pairs : list of (int, int)
        (truth index, detection index) matched pairs.
    unmatched_truth : list of int
    unmatched_detections : list of int
    distances_mm : list of float
        Distance of each pair (same order as ``pairs``).
    """

    pairs: list[tuple[int, int]] = field(default_factory=list)
    unmatched_truth: list[int] = field(default_factory=list)
    unmatched_detections: list[int] = field(default_factory=list)
    distances_mm: list[float] = field(default_factory=list)


def _centroid(det: dict[str, Any]) -> np.ndarray:
    return np.asarray(det["centroid_lps_mm"], dtype=np.float64)


def match_detections(
    truth: Sequence[TruthNodule],
    detections: Sequence[dict[str, Any]],
    *,
    voxel_diagonal_mm: float,
    min_tolerance_mm: float = 2.0,
) -> MatchResult:
    """Match detections to truth one-to-one, minimising the total distance.

    Parameters
    ----------
    truth : sequence of TruthNodule
    detections : sequence of dict
        Each with ``centroid_lps_mm`` (detect_scan's nodules and possible_nodules).
    voxel_diagonal_mm : float
        Diagonal of one voxel of the scan (part of the tolerance).
    min_tolerance_mm : float
        Smallest tolerance, whatever the nodule size.

    Returns
    -------
    MatchResult
    """
    nt, nd = len(truth), len(detections)
    if nt == 0 or nd == 0:
        return MatchResult(unmatched_truth=list(range(nt)), unmatched_detections=list(range(nd)))
    t = np.array([n.centroid_lps_mm for n in truth], dtype=np.float64)
    d = np.array([_centroid(x) for x in detections], dtype=np.float64)
    dist = np.linalg.norm(t[:, None, :] - d[None, :, :], axis=-1)
    tol = np.array([tolerance_mm(n, voxel_diagonal_mm, min_tolerance_mm) for n in truth])
    big = 1e6
    cost = np.where(dist <= tol[:, None], dist, big)
    rows, cols = linear_sum_assignment(cost)
    res = MatchResult()
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] < big:
            res.pairs.append((int(r), int(c)))
            res.distances_mm.append(float(dist[r, c]))
    mt = {p[0] for p in res.pairs}
    md = {p[1] for p in res.pairs}
    res.unmatched_truth = [i for i in range(nt) if i not in mt]
    res.unmatched_detections = [j for j in range(nd) if j not in md]
    return res
