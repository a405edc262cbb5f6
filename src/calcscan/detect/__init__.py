"""Detection of facial dermal calcified nodules: tissue layers, landmarks and regions,
candidates, mimic rejection, conspicuity, morphology, QC and the study record.

Public entry points are :func:`detect_scan` (CTScan -> StudyRecord) and :func:`detect_path`
(path -> StudyRecord); options live in the frozen :class:`DetectConfig`.
"""

from __future__ import annotations

from calcscan.detect.config import DetectConfig
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
