"""Cohort statistics of the reference study (Kim et al., AJNR 2017) and beyond.

Pure functions on a pandas DataFrame returning documented dataclasses; ``to_dict()`` gives
strict-JSON values. Entry points: :func:`load_cohort`, :func:`analyze_cohort`,
:func:`calcscan.stats.simulate.simulate_cohort`.
"""

from __future__ import annotations

from calcscan.stats._result import NotEstimable
from calcscan.stats.analyze import AnalysisOptions, CohortStats, analyze_cohort
from calcscan.stats.io import load_cohort, validate_cohort

__all__ = [
    "AnalysisOptions",
    "CohortStats",
    "NotEstimable",
    "analyze_cohort",
    "load_cohort",
    "validate_cohort",
]
