"""Validation of the detector against ground truth: phantoms, insertions, real negatives."""

from __future__ import annotations

from calcscan.validate.matching import (
    FAINT_PEAK_HU,
    SIZE_BINS_MM,
    MatchResult,
    match_detections,
    tolerance_mm,
)
from calcscan.validate.metrics import ScanOutcome, in_plane_error_mm, score_scan, summarize

__all__ = [
    "FAINT_PEAK_HU",
    "SIZE_BINS_MM",
    "MatchResult",
    "ScanOutcome",
    "in_plane_error_mm",
    "match_detections",
    "score_scan",
    "summarize",
    "tolerance_mm",
]
