"""Validation of the detector against ground truth: phantoms, insertions, real negatives.

Run ``calcscan validate [--data DIR] [--trials N] [--seed S] [--json]`` or
``python benchmarks/bench_validate.py``. Scenarios (:mod:`calcscan.validate.runner`): the three
real heads unmodified (negatives), ``N`` random insertions into each (0.6-4 mm, 300-1400 HU,
some with a central lucency), ``N`` region phantoms and one symmetric miliary phantom (60
nodules). Seeds: trial ``i`` uses ``S + i``; the default ``S = 1000`` is the acceptance run,
the detector is tuned on seeds below 1000 only.

Scoring (:mod:`calcscan.validate.metrics`): counted nodules are matched to truth first, then
possible nodules (Hungarian on LPS distance, tolerance ``max(2 mm, radius + voxel
diagonal)``); a hit is a truth nodule matched by either; a false positive is a counted nodule
matching no truth; truth nodules rendered below 200 HU are neither hits nor misses. Region
truth: phantoms by construction, real heads from hand-annotated globes
(``calcscan/phantom/landmarks.yaml``), both evaluated with the project's region definitions
(:mod:`calcscan.phantom.regiontruth`); border cases carry no region truth.
"""

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
