"""Findings from a ``calcscan detect`` study record (CONTRACTS.md section 2).

The record's facial dermal nodules become structured findings (face, cutaneous/subcutaneous,
punctate / ring -> central lucency, symmetric when both sides are involved, multiple), so that the
differential explains primary miliary osteoma cutis against its mimics and secondary causes.
"""

from __future__ import annotations

import statistics
from typing import Any

from calcscan.contracts import MORPHOLOGIES, REGION_KEYS, SIDES
from calcscan.ddx.findings import Findings, parse_findings
from calcscan.errors import InputError

__all__ = ["CUTANEOUS_DEPTH_MM", "findings_from_record", "record_summary"]

#: Depth below the skin surface up to which a nodule counts as dermal (facial dermis is about
#: 1-2.5 mm thick); deeper nodules are hypodermal (subcutaneous).
CUTANEOUS_DEPTH_MM = 2.0

_MORPHOLOGY_MAP: dict[str, tuple[str, ...]] = {
    "punctate": ("punctate",),
    "nodular": ("nodular",),
    "ring": ("ring_like", "central_lucency"),
    "flocculent": ("cloud_like",),
    "linear": ("linear",),
}


def _nodules(record: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    nodules = record.get("nodules")
    if not isinstance(nodules, list):
        raise InputError(
            "record: 'nodules' missing or not a list; pass a `calcscan detect --json` record"
        )
    if nodules:
        return nodules, False
    possible = record.get("possible_nodules") or []
    if not possible:
        raise InputError("record: no nodules (nor possible nodules) to explain; nothing to rank")
    return list(possible), True


def _check_nodule(i: int, n: Any) -> None:
    if not isinstance(n, dict):
        raise InputError(f"record: nodules[{i}] is not an object")
    for key in ("region", "side", "morphology", "depth_mm", "diameter_mm"):
        if key not in n:
            raise InputError(f"record: nodules[{i}] lacks '{key}' (CONTRACTS.md section 2)")
    if n["region"] not in REGION_KEYS:
        raise InputError(
            f"record: nodules[{i}].region {n['region']!r} not one of {', '.join(REGION_KEYS)}"
        )
    if n["side"] not in SIDES:
        raise InputError(f"record: nodules[{i}].side {n['side']!r} not one of {', '.join(SIDES)}")
    if n["morphology"] not in MORPHOLOGIES:
        raise InputError(
            f"record: nodules[{i}].morphology {n['morphology']!r} "
            f"not one of {', '.join(MORPHOLOGIES)}"
        )


def findings_from_record(record: Any) -> Findings:
    """Build findings from a detect study record.

    Parameters
    ----------
    record : dict
        A study record (CONTRACTS.md section 2) with at least one nodule (or possible nodule).

    Returns
    -------
    Findings

    Raises
    ------
    InputError
        When the record is not an object, has no nodules or a nodule lacks contract fields.
    """
    if not isinstance(record, dict):
        raise InputError(
            "record: expected one JSON object (a `calcscan detect --json` study record)"
        )
    nodules, _ = _nodules(record)
    for i, n in enumerate(nodules):
        _check_nodule(i, n)
    data: dict[str, Any] = {}
    age = record.get("patient_age_years")
    if isinstance(age, int | float) and not isinstance(age, bool):
        data["age_years"] = float(age)
    if record.get("patient_sex") in ("M", "F"):
        data["sex"] = record["patient_sex"]
    regions = {n["region"] for n in nodules}
    data["body_region"] = "scalp" if regions == {"scalp"} else "head_face"
    depths = [float(n["depth_mm"]) for n in nodules]
    data["compartment"] = (
        "cutaneous" if statistics.median(depths) <= CUTANEOUS_DEPTH_MM else "subcutaneous"
    )
    morph: list[str] = []
    for n in nodules:
        for term in _MORPHOLOGY_MAP[n["morphology"]]:
            if term not in morph:
                morph.append(term)
    data["morphology"] = morph
    sides = {n["side"] for n in nodules}
    dist = ["face", "multiple" if len(nodules) > 1 else "solitary"]
    if {"left", "right"} <= sides:
        dist += ["bilateral", "symmetric"]
    data["distribution"] = dist
    data["size_mm"] = round(statistics.median(float(n["diameter_mm"]) for n in nodules), 2)
    return parse_findings(data)


def record_summary(record: dict[str, Any]) -> dict[str, Any]:
    """Short summary of the nodules the findings were built from."""
    nodules, possible_only = _nodules(record)
    sides = sorted({n["side"] for n in nodules})
    return {
        "study_key": record.get("study_key"),
        "nodule_count": len(nodules),
        "from_possible_nodules": possible_only,
        "counts_by_region": {
            r: sum(n["region"] == r for n in nodules)
            for r in REGION_KEYS
            if any(n["region"] == r for n in nodules)
        },
        "sides": sides,
        "median_diameter_mm": round(statistics.median(float(n["diameter_mm"]) for n in nodules), 2),
        "median_depth_mm": round(statistics.median(float(n["depth_mm"]) for n in nodules), 2),
        "distribution_pattern": record.get("distribution_pattern"),
    }
