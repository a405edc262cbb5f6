"""Detection of facial dermal calcified nodules: tissue layers, landmarks and regions,
candidates, mimic rejection, conspicuity, morphology, QC and the study record.

Public entry points are :func:`detect_scan` (CTScan -> StudyRecord) and :func:`detect_path`
(path -> StudyRecord); options live in the frozen :class:`DetectConfig`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from calcscan.detect.config import DetectConfig

if TYPE_CHECKING:
    from calcscan.detect.mimics import REJECTION_REASONS
    from calcscan.detect.pipeline import DetectionResult, detect_path, detect_scan, run_detection
    from calcscan.detect.record import StudyRecord

__all__ = [
    "REJECTION_REASONS",
    "DetectConfig",
    "DetectionResult",
    "StudyRecord",
    "detect_path",
    "detect_scan",
    "run_detection",
]

# the pipeline (scipy, scikit-image, cc3d) is imported on first use, so that a cohort driver
# needing only DetectConfig stays light
_LAZY = {
    "REJECTION_REASONS": "calcscan.detect.mimics",
    "DetectionResult": "calcscan.detect.pipeline",
    "detect_path": "calcscan.detect.pipeline",
    "detect_scan": "calcscan.detect.pipeline",
    "run_detection": "calcscan.detect.pipeline",
    "StudyRecord": "calcscan.detect.record",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
