"""Validation metrics accumulated over many scans (phantoms, insertions, real negatives)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calcscan.phantom.truth import TruthNodule
from calcscan.validate.matching import FAINT_PEAK_HU, SIZE_BINS_MM, match_detections

__all__ = ["ScanOutcome", "Tally", "in_plane_error_mm", "score_scan", "summarize"]


def in_plane_error_mm(
    truth_lps: Sequence[float], det_lps: Sequence[float], slice_normal: Sequence[float]
) -> float:
    """Distance between two LPS points projected onto the image plane (normal removed)."""
    d = np.asarray(det_lps, dtype=np.float64) - np.asarray(truth_lps, dtype=np.float64)
    n = np.asarray(slice_normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    return float(np.linalg.norm(d - np.dot(d, n) * n))


@dataclass
class ScanOutcome:
    """Per-scan result of scoring one detection record against its truth.

    Attributes
    ----------
    name : str
    kind : str
        "phantom", "insertion", "negative" or "miliary".
    seconds : float
        Detection time.
    rows : list of dict
        One row per truth nodule: diameter_mm, rendered_peak_hu, faint, hit, region_truth,
        region_detected, in_plane_error_mm.
    false_positives : int
        Detections (counted or possible) matching no truth nodule.
    false_positives_counted : int
        Counted (definite) detections matching no truth nodule.
    n_truth, n_counted : int
        Truth nodules and counted detections (for the count error).
    """

    name: str
    kind: str
    seconds: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    false_positives: int = 0
    false_positives_counted: int = 0
    n_truth: int = 0
    n_counted: int = 0


def score_scan(
    name: str,
    kind: str,
    truth: Sequence[TruthNodule],
    record: dict[str, Any],
    *,
    voxel_diagonal_mm: float,
    slice_normal: Sequence[float] = (0.0, 0.0, 1.0),
    seconds: float = 0.0,
    faint_peak_hu: float = FAINT_PEAK_HU,
) -> ScanOutcome:
    """Match one record's nodules and possible nodules to truth and score them.

    A detection matched to a faint truth nodule (rendered peak < ``faint_peak_hu``) is not a
    false positive; the faint nodule is neither hit nor miss (``faint=True`` in its row).
    """
    counted = list(record.get("nodules") or [])
    possible = list(record.get("possible_nodules") or [])
    dets = counted + possible
    m = match_detections(truth, dets, voxel_diagonal_mm=voxel_diagonal_mm)
    by_truth = {t: (d, dist) for (t, d), dist in zip(m.pairs, m.distances_mm, strict=True)}
    out = ScanOutcome(name=name, kind=kind, seconds=seconds, n_truth=len(truth))
    out.n_counted = len(counted)
    for i, tn in enumerate(truth):
        faint = not (tn.rendered_peak_hu >= faint_peak_hu)
        row: dict[str, Any] = {
            "diameter_mm": tn.diameter_mm,
            "rendered_peak_hu": tn.rendered_peak_hu,
            "faint": faint,
            "hit": i in by_truth,
            "region_truth": tn.region,
            "side_truth": tn.side,
            "region_detected": None,
            "side_detected": None,
            "counted": None,
            "in_plane_error_mm": None,
        }
        if i in by_truth:
            j, _ = by_truth[i]
            det = dets[j]
            row["region_detected"] = det.get("region")
            row["side_detected"] = det.get("side")
            row["counted"] = j < len(counted)
            row["in_plane_error_mm"] = in_plane_error_mm(
                tn.centroid_lps_mm, det["centroid_lps_mm"], slice_normal
            )
        out.rows.append(row)
    out.false_positives = len(m.unmatched_detections)
    out.false_positives_counted = sum(1 for j in m.unmatched_detections if j < len(counted))
    return out


@dataclass
class Tally:
    """Hits over eligible nodules for one stratum."""

    hits: int = 0
    total: int = 0

    @property
    def value(self) -> float | None:
        """Sensitivity, or None when the stratum is empty."""
        return self.hits / self.total if self.total else None


def _bin_label(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g} mm"


def summarize(outcomes: Sequence[ScanOutcome]) -> dict[str, Any]:
    """Aggregate scan outcomes into the validation table.

    Returns
    -------
    dict
        ``sensitivity_by_size`` (non-faint nodules by size bin), ``sensitivity_ge1mm_peak200``,
        ``sensitivity_peak200``, ``false_positives_per_scan`` (all detections, and counted
        only), by kind, ``region_agreement`` (matched, non-faint nodules with a known region),
        ``side_agreement``, ``count_error_miliary`` (mean |counted - truth| / truth over miliary
        scans), ``centroid_error_in_plane_mm`` (mean, p95, max), ``seconds_per_scan``,
        ``n_scans``, ``n_truth``, ``n_faint``.
    """
    bins = {_bin_label(lo, hi): Tally() for lo, hi in SIZE_BINS_MM}
    ge1, allp = Tally(), Tally()
    reg, side = Tally(), Tally()
    errors: list[float] = []
    n_faint = 0
    for o in outcomes:
        for r in o.rows:
            if r["faint"]:
                n_faint += 1
                continue
            d = r["diameter_mm"]
            for (lo, hi), label in zip(SIZE_BINS_MM, bins, strict=True):
                last = hi == SIZE_BINS_MM[-1][1]
                if lo <= d < hi or (last and d == hi):
                    bins[label].total += 1
                    bins[label].hits += int(r["hit"])
            allp.total += 1
            allp.hits += int(r["hit"])
            if d >= 1.0:
                ge1.total += 1
                ge1.hits += int(r["hit"])
            if r["hit"]:
                if r["region_truth"] is not None:
                    reg.total += 1
                    reg.hits += int(r["region_detected"] == r["region_truth"])
                if r["side_truth"] is not None:
                    side.total += 1
                    side.hits += int(r["side_detected"] == r["side_truth"])
                if r["in_plane_error_mm"] is not None:
                    errors.append(float(r["in_plane_error_mm"]))
    kinds = sorted({o.kind for o in outcomes})
    fp_by_kind = {
        k: {
            "scans": sum(1 for o in outcomes if o.kind == k),
            "fp_per_scan": _mean([o.false_positives for o in outcomes if o.kind == k]),
            "fp_counted_per_scan": _mean(
                [o.false_positives_counted for o in outcomes if o.kind == k]
            ),
            "max_fp": max((o.false_positives for o in outcomes if o.kind == k), default=0),
        }
        for k in kinds
    }
    miliary = [
        abs(o.n_counted - o.n_truth) / o.n_truth
        for o in outcomes
        if o.kind == "miliary" and o.n_truth
    ]
    err = np.asarray(errors)
    return {
        "n_scans": len(outcomes),
        "n_truth": sum(o.n_truth for o in outcomes),
        "n_faint": n_faint,
        "sensitivity_by_size": {k: _tally(t) for k, t in bins.items()},
        "sensitivity_ge1mm_peak200": _tally(ge1),
        "sensitivity_peak200": _tally(allp),
        "false_positives_per_scan": _mean([o.false_positives for o in outcomes]),
        "false_positives_counted_per_scan": _mean([o.false_positives_counted for o in outcomes]),
        "false_positives_by_kind": fp_by_kind,
        "region_agreement": _tally(reg),
        "side_agreement": _tally(side),
        "count_error_miliary": _mean(miliary) if miliary else None,
        "centroid_error_in_plane_mm": {
            "mean": float(err.mean()) if err.size else None,
            "p95": float(np.percentile(err, 95)) if err.size else None,
            "max": float(err.max()) if err.size else None,
        },
        "seconds_per_scan": _mean([o.seconds for o in outcomes]),
    }


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _tally(t: Tally) -> dict[str, Any]:
    return {"value": t.value, "hits": t.hits, "total": t.total}
