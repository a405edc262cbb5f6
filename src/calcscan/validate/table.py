"""Plain-text rendering of the validation summary (CLI and benchmark)."""

from __future__ import annotations

from typing import Any

__all__ = ["acceptance_rows", "summary_rows"]


def acceptance_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(check, "value vs target: PASS/FAIL/not measured") rows of the acceptance checks."""
    out = []
    for c in summary.get("acceptance", []):
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[c["pass"]]
        out.append((c["check"], f"{_fmt(c['value'])} (target {c['target']}): {verdict}"))
    return out


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _tally(t: dict[str, Any]) -> str:
    return f"{_fmt(t['value'])} ({t['hits']}/{t['total']})"


def _ci(interval: list[float] | None) -> str:
    if not interval:
        return ""
    return f", 95% CI {interval[0]:.3f}-{interval[1]:.3f} (scans resampled)"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, value) rows of the validation table, acceptance strata first."""
    ci = summary.get("sensitivity_ci95_scan_bootstrap") or {}
    rows = [
        (
            "sensitivity, >= 1 mm and peak >= 200 HU",
            _tally(summary["sensitivity_ge1mm_peak200"]) + _ci(ci.get("ge1mm_peak200")),
        ),
        (
            "sensitivity, peak >= 200 HU",
            _tally(summary["sensitivity_peak200"]) + _ci(ci.get("peak200")),
        ),
        (
            "  counted only, >= 1 mm and peak >= 200 HU",
            _tally(summary["sensitivity_counted_ge1mm_peak200"]),
        ),
        ("  counted only, peak >= 200 HU", _tally(summary["sensitivity_counted_peak200"])),
    ]
    for source, t in (summary.get("sensitivity_ge1mm_peak200_by_source") or {}).items():
        rows.append((f"  >= 1 mm, {source}", _tally(t)))
    fates = summary.get("misses_ge1mm_peak200_by_fate") or {}
    if fates:
        rows.append(
            (
                "  misses >= 1 mm by fate",
                ", ".join(f"{fate} {n}" for fate, n in fates.items()),
            )
        )
    for label, t in summary["sensitivity_by_size"].items():
        rows.append((f"sensitivity {label} (peak >= 200 HU)", _tally(t)))
    rows.append(
        (
            "false positives per scan (counted)",
            f"{_fmt(summary['false_positives_per_scan'])} (max {summary['max_false_positives']})",
        )
    )
    rows.append(
        ("unmatched possible nodules per scan", _fmt(summary["possible_unmatched_per_scan"]))
    )
    for kind, k in summary["false_positives_by_kind"].items():
        rows.append(
            (
                f"  FP/scan {kind} ({k['scans']} scans)",
                f"{_fmt(k['fp_per_scan'])} (max {k['max_fp']}, unmatched possible "
                f"{_fmt(k['possible_unmatched_per_scan'])})",
            )
        )
    rows.append(("region agreement (region truth known)", _tally(summary["region_agreement"])))
    for kind, t in summary.get("region_agreement_by_kind", {}).items():
        rows.append((f"  region agreement {kind}", _tally(t)))
    rows.append(("side agreement", _tally(summary["side_agreement"])))
    rows.append(("count error, miliary (60 nodules)", _fmt(summary["count_error_miliary"])))
    ce = summary["centroid_error_in_plane_mm"]
    rows.append(
        (
            "centroid error in-plane (mm)",
            f"mean {_fmt(ce['mean'], 2)}, p95 {_fmt(ce['p95'], 2)}, max {_fmt(ce['max'], 2)}",
        )
    )
    rows.append(("seconds per scan (detect)", _fmt(summary["seconds_per_scan"], 2)))
    rows.append(
        (
            "scans / truth nodules / faint (< 200 HU)",
            f"{summary['n_scans']} / {summary['n_truth']} / {summary['n_faint']}",
        )
    )
    return rows
