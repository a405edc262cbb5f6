"""Issue 3 acceptance targets checked against a validation run.

Targets (issue 3): real negatives, i.e. FP per scan on the unmodified heads: InVesalius <= 1,
GE tilt <= 1, dicom2stl <= 2; sensitivity >= 0.95 for nodules >= 1 mm rendered >= 200 HU and
>= 0.90 for all nodules rendered >= 200 HU (hits by counted or possible detections, as matched
by :func:`calcscan.validate.metrics.score_scan`); at most 1 false positive (counted detection
matching no truth) on every scan, insertion scans included; region agreement >= 0.90; count
error <= 10 % on the miliary phantom; in-plane centroid error <= 1 mm, checked on the 95th
percentile (stricter than the mean, tolerant of one outlier).
"""

from __future__ import annotations

from typing import Any

from calcscan.validate.metrics import ScanOutcome

__all__ = ["NEGATIVE_FP_LIMITS", "acceptance_checks"]

#: Allowed counted false positives on each unmodified real head.
NEGATIVE_FP_LIMITS = {"invesalius": 1, "ge_tilt": 1, "dicom2stl": 2}


def _check(name: str, value: float | None, target: str, ok: bool | None) -> dict[str, Any]:
    return {"check": name, "value": value, "target": target, "pass": ok}


def acceptance_checks(summary: dict[str, Any], outcomes: list[ScanOutcome]) -> list[dict[str, Any]]:
    """One row per acceptance target: value, target and pass (None when not measured)."""
    rows = []
    for name, limit in NEGATIVE_FP_LIMITS.items():
        neg = [o for o in outcomes if o.kind == "negative" and o.name == name]
        v = float(neg[0].false_positives) if neg else None
        rows.append(
            _check(f"FP on negative {name}", v, f"<= {limit}", None if v is None else v <= limit)
        )
    s1 = summary["sensitivity_ge1mm_peak200"]["value"]
    rows.append(
        _check(
            "sensitivity >= 1 mm, peak >= 200 HU", s1, ">= 0.95", None if s1 is None else s1 >= 0.95
        )
    )
    s2 = summary["sensitivity_peak200"]["value"]
    rows.append(
        _check("sensitivity, peak >= 200 HU", s2, ">= 0.90", None if s2 is None else s2 >= 0.90)
    )
    worst = max((o.false_positives for o in outcomes), default=None)
    rows.append(
        _check(
            "max FP on any scan",
            None if worst is None else float(worst),
            "<= 1",
            None if worst is None else worst <= 1,
        )
    )
    ra = summary["region_agreement"]["value"]
    rows.append(_check("region agreement", ra, ">= 0.90", None if ra is None else ra >= 0.90))
    ce = summary["count_error_miliary"]
    rows.append(_check("count error, miliary", ce, "<= 0.10", None if ce is None else ce <= 0.10))
    p95 = summary["centroid_error_in_plane_mm"]["p95"]
    rows.append(
        _check(
            "centroid error in-plane p95 (mm)", p95, "<= 1.0", None if p95 is None else p95 <= 1.0
        )
    )
    return rows
