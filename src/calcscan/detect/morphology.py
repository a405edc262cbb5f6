"""Morphology of a nodule: punctate, nodular, ring, flocculent or linear.

Rules on the measures of :mod:`calcscan.detect.candidates`, tried in order:

- linear: elongation >= 3 and principal extent >= 3 mm;
- ring: diameter >= 2 mm and a central lucency (a hole in the central-slice footprint covering
  >= 5 % of it, or a centre value below 70 % of the peak contrast);
- flocculent: diameter >= 3 mm and solidity < 0.6 (irregular, cloud-like);
- nodular: diameter >= 1.5 mm;
- punctate: otherwise (the reference study's sub-millimetre dots).
"""

from __future__ import annotations

from typing import Any

from calcscan.contracts import Morphology

__all__ = ["classify_morphology"]


def classify_morphology(measures: dict[str, Any]) -> Morphology:
    """Morphology category from a candidate's measures (see module docstring)."""
    d = float(measures["diameter_mm"])
    if float(measures["elongation"]) >= 3.0 and float(measures["extent_mm"]) >= 3.0:
        return "linear"
    if d >= 2.0 and (
        float(measures["center_lucency"]) >= 0.05 or float(measures.get("center_ratio", 1.0)) < 0.7
    ):
        return "ring"
    if d >= 3.0 and float(measures["solidity"]) < 0.6:
        return "flocculent"
    if d >= 1.5:
        return "nodular"
    return "punctate"
