"""Validation metrics accumulated over many scans (phantoms, insertions, real negatives)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.phantom.truth import TruthNodule
from calcscan.validate.matching import (
    FAINT_PEAK_HU,
    SIZE_BINS_MM,
    match_detections,
    tolerance_mm,
)

__all__ = [
    "CANDIDATES_KEY",
    "NOT_MEASURED",
    "ScanOutcome",
    "Tally",
    "in_plane_error_mm",
    "miss_fate",
    "score_scan",
    "summarize",
]

#: Optional key of a detection record (validation only, not part of the study record
#: contract): every measured candidate as ``{"centroid_lps_mm": [...], "fate": str}``, the
#: fate being its rejection reason, or "definite"/"possible".
CANDIDATES_KEY = "_candidates"
#: Fate of a missed nodule with no measured candidate near it: below threshold, outside the
#: layer, or dropped before measuring (noise spike, the bone's slope).
NOT_MEASURED = "not_measured"


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
        One row per truth nodule: its truth (centroid, diameter, density, ring, shape, depth,
        rendered peak, region, side), ``faint``, ``hit`` (matched by a counted or possible
        detection), ``hit_counted`` (matched by a counted one), the detected region/side and
        the in-plane centroid error.
    false_positives : int
        Counted (definite) detections matching no truth nodule.
    possible_unmatched : int
        Possible (not counted) detections matching no truth nodule.
    n_truth, n_counted : int
        Truth nodules and counted detections (for the count error).
    """

    name: str
    kind: str
    seconds: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    false_positives: int = 0
    possible_unmatched: int = 0
    n_truth: int = 0
    n_counted: int = 0


def miss_fate(
    truth: TruthNodule, candidates: Sequence[dict[str, Any]], *, voxel_diagonal_mm: float
) -> str:
    """What became of a missed nodule: the fate of the nearest measured candidate within
    twice the match tolerance (a rejection reason, or "definite"/"possible" when a detection
    near it was matched elsewhere or fell just outside the tolerance), else
    :data:`NOT_MEASURED`."""
    if not candidates:
        return NOT_MEASURED
    t = np.asarray(truth.centroid_lps_mm, dtype=np.float64)
    pts = np.array([c["centroid_lps_mm"] for c in candidates], dtype=np.float64)
    dist = np.linalg.norm(pts - t, axis=1)
    k = int(np.argmin(dist))
    if dist[k] > 2.0 * tolerance_mm(truth, voxel_diagonal_mm):
        return NOT_MEASURED
    return str(candidates[k]["fate"])


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
    """Match one record's nodules, then its possible nodules, to truth and score them.

    Counted nodules are matched first (Hungarian, one-to-one); the truth nodules they leave
    unmatched are then matched to the possible nodules, so a possible detection never takes a
    truth nodule away from a counted one. A detection matched to a faint truth nodule (rendered
    peak < ``faint_peak_hu``) is not a false positive; the faint nodule is neither hit nor miss
    (``faint=True`` in its row). When the record carries :data:`CANDIDATES_KEY`, each missed
    nodule's row gets its ``fate`` (:func:`miss_fate`).
    """
    counted = list(record.get("nodules") or [])
    possible = list(record.get("possible_nodules") or [])
    m1 = match_detections(truth, counted, voxel_diagonal_mm=voxel_diagonal_mm)
    rest = list(m1.unmatched_truth)
    m2 = match_detections([truth[i] for i in rest], possible, voxel_diagonal_mm=voxel_diagonal_mm)
    by_truth: dict[int, dict[str, Any]] = {t: counted[d] for t, d in m1.pairs}
    by_truth.update({rest[t]: possible[d] for t, d in m2.pairs})
    counted_hits = {t for t, _ in m1.pairs}
    out = ScanOutcome(name=name, kind=kind, seconds=seconds, n_truth=len(truth))
    out.n_counted = len(counted)
    for i, tn in enumerate(truth):
        det = by_truth.get(i)
        row: dict[str, Any] = {
            "centroid_lps_mm": list(tn.centroid_lps_mm),
            "diameter_mm": tn.diameter_mm,
            "density_hu": tn.density_hu,
            "ring": tn.ring,
            "shape": tn.shape,
            "depth_mm": tn.depth_mm,
            "rendered_peak_hu": tn.rendered_peak_hu,
            "faint": not (tn.rendered_peak_hu >= faint_peak_hu),
            "hit": det is not None,
            "hit_counted": i in counted_hits,
            "region_truth": tn.region,
            "side_truth": tn.side,
            "region_detected": None if det is None else det.get("region"),
            "side_detected": None if det is None else det.get("side"),
            "in_plane_error_mm": None,
            "fate": None,
        }
        if det is None and CANDIDATES_KEY in record:
            row["fate"] = miss_fate(tn, record[CANDIDATES_KEY], voxel_diagonal_mm=voxel_diagonal_mm)
        if det is not None:
            row["in_plane_error_mm"] = in_plane_error_mm(
                tn.centroid_lps_mm, det["centroid_lps_mm"], slice_normal
            )
        out.rows.append(row)
    out.false_positives = len(m1.unmatched_detections)
    out.possible_unmatched = len(m2.unmatched_detections)
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
        ``sensitivity_peak200`` (hit = matched by a counted or possible detection), the same
        two with counted detections only (``sensitivity_counted_*``),
        ``misses_ge1mm_peak200_by_fate`` (the first stratum's misses by :func:`miss_fate`,
        when the records carry candidates), ``sensitivity_ge1mm_peak200_by_source`` (the
        first stratum by phantom kind or by the real head inserted into),
        ``false_positives_per_scan`` (counted detections matching no truth; also
        ``max_false_positives``, by kind, and ``possible_unmatched_per_scan``),
        ``region_agreement`` (matched, non-faint nodules with a known region; also
        ``region_agreement_by_kind``),
        ``side_agreement``, ``count_error_miliary`` (mean |counted - truth| / truth over miliary
        scans), ``centroid_error_in_plane_mm`` (mean, p95, max), ``seconds_per_scan``,
        ``n_scans``, ``n_truth``, ``n_faint``.
    """
    bins = {_bin_label(lo, hi): Tally() for lo, hi in SIZE_BINS_MM}
    ge1_c, allp_c = Tally(), Tally()
    reg, side = Tally(), Tally()
    reg_kind: dict[str, Tally] = {}
    errors: list[float] = []
    fates: dict[str, int] = {}
    by_source: dict[str, Tally] = {}
    n_faint = 0
    per_scan = np.zeros((len(outcomes), 4), dtype=np.int64)  # hits/total: >= 1 mm, all
    for i, o in enumerate(outcomes):
        for r in o.rows:
            if r["faint"]:
                n_faint += 1
                continue
            per_scan[i] += (
                int(r["hit"] and r["diameter_mm"] >= 1.0),
                int(r["diameter_mm"] >= 1.0),
                int(r["hit"]),
                1,
            )
            d = r["diameter_mm"]
            for (lo, hi), label in zip(SIZE_BINS_MM, bins, strict=True):
                last = hi == SIZE_BINS_MM[-1][1]
                if lo <= d < hi or (last and d == hi):
                    bins[label].total += 1
                    bins[label].hits += int(r["hit"])
            allp_c.total += 1
            allp_c.hits += int(r["hit_counted"])
            if d >= 1.0:
                source = by_source.setdefault(_source(o), Tally())
                source.total += 1
                source.hits += int(r["hit"])
                if not r["hit"] and r.get("fate") is not None:
                    fates[r["fate"]] = fates.get(r["fate"], 0) + 1
                ge1_c.total += 1
                ge1_c.hits += int(r["hit_counted"])
            if r["hit"]:
                if r["region_truth"] is not None:
                    agree = int(r["region_detected"] == r["region_truth"])
                    reg.total += 1
                    reg.hits += agree
                    rk = reg_kind.setdefault(o.kind, Tally())
                    rk.total += 1
                    rk.hits += agree
                if r["side_truth"] is not None:
                    side.total += 1
                    side.hits += int(r["side_detected"] == r["side_truth"])
                if r["in_plane_error_mm"] is not None:
                    errors.append(float(r["in_plane_error_mm"]))
    ge1 = Tally(int(per_scan[:, 0].sum()), int(per_scan[:, 1].sum()))
    allp = Tally(int(per_scan[:, 2].sum()), int(per_scan[:, 3].sum()))
    kinds = sorted({o.kind for o in outcomes})
    fp_by_kind = {
        k: {
            "scans": sum(1 for o in outcomes if o.kind == k),
            "fp_per_scan": _mean([o.false_positives for o in outcomes if o.kind == k]),
            "possible_unmatched_per_scan": _mean(
                [o.possible_unmatched for o in outcomes if o.kind == k]
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
        "sensitivity_counted_ge1mm_peak200": _tally(ge1_c),
        "sensitivity_counted_peak200": _tally(allp_c),
        "sensitivity_ci95_scan_bootstrap": {
            "ge1mm_peak200": _scan_bootstrap_ci(per_scan[:, 0], per_scan[:, 1]),
            "peak200": _scan_bootstrap_ci(per_scan[:, 2], per_scan[:, 3]),
        },
        "sensitivity_ge1mm_peak200_by_source": {k: _tally(t) for k, t in sorted(by_source.items())},
        "misses_ge1mm_peak200_by_fate": dict(sorted(fates.items(), key=lambda kv: (-kv[1], kv[0]))),
        "false_positives_per_scan": _mean([o.false_positives for o in outcomes]),
        "max_false_positives": max((o.false_positives for o in outcomes), default=0),
        "possible_unmatched_per_scan": _mean([o.possible_unmatched for o in outcomes]),
        "false_positives_by_kind": fp_by_kind,
        "region_agreement": _tally(reg),
        "region_agreement_by_kind": {k: _tally(t) for k, t in sorted(reg_kind.items())},
        "side_agreement": _tally(side),
        "count_error_miliary": _mean(miliary) if miliary else None,
        "centroid_error_in_plane_mm": {
            "mean": float(err.mean()) if err.size else None,
            "p95": float(np.percentile(err, 95)) if err.size else None,
            "max": float(err.max()) if err.size else None,
        },
        "seconds_per_scan": _mean([o.seconds for o in outcomes]),
    }


def _source(o: ScanOutcome) -> str:
    """Where a scan's nodules come from: the real head of an insertion ("head+seed" names),
    else the scenario kind."""
    return o.name.split("+", 1)[0] if o.kind == "insertion" and "+" in o.name else o.kind


def _scan_bootstrap_ci(
    hits: NDArray[np.int64], totals: NDArray[np.int64], n_boot: int = 2000
) -> list[float] | None:
    """95 % percentile interval of the pooled proportion, resampling whole scans.

    Nodules of one scan share its anatomy and noise, so they are not independent trials; a
    binomial interval over nodules would be too narrow. Fixed seed: the same run gives the
    same interval.
    """
    if totals.sum() == 0 or len(totals) < 2:
        return None
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(totals), size=(n_boot, len(totals)))
    t = totals[pick].sum(axis=1)
    p = hits[pick].sum(axis=1)[t > 0] / t[t > 0]
    return [float(np.percentile(p, 2.5)), float(np.percentile(p, 97.5))]


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _tally(t: Tally) -> dict[str, Any]:
    return {"value": t.value, "hits": t.hits, "total": t.total}
