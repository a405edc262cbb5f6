"""Cohort runs at scale: batch runner (serial, local processes, Dask), results store, export.

Heavy modules load on first use, so worker processes that import the per-study task
(:mod:`calcscan.cohort.worker`) can cap BLAS threads before numpy is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calcscan.cohort.export import export_nodules, export_studies
    from calcscan.cohort.runner import RunSummary, run_cohort
    from calcscan.cohort.store import open_store, read_nodule_table, read_study_table

__all__ = [
    "RunSummary",
    "export_nodules",
    "export_studies",
    "open_store",
    "read_nodule_table",
    "read_study_table",
    "run_cohort",
]

_HOME = {
    "RunSummary": "calcscan.cohort.runner",
    "run_cohort": "calcscan.cohort.runner",
    "open_store": "calcscan.cohort.store",
    "read_study_table": "calcscan.cohort.store",
    "read_nodule_table": "calcscan.cohort.store",
    "export_studies": "calcscan.cohort.export",
    "export_nodules": "calcscan.cohort.export",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'calcscan.cohort' has no attribute {name!r}")
