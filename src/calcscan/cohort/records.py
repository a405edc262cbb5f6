"""Convert a study record (CONTRACTS §2) into store rows, de-identified unless asked not to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from calcscan.cohort.discovery import StudyTask
from calcscan.cohort.models import Nodule, RejectedCount, Study
from calcscan.contracts import NODULE_FIELDS as CONTRACT_NODULE_FIELDS
from calcscan.contracts import REGION_KEYS, SEXES

__all__ = [
    "IDENTIFYING_RECORD_KEYS",
    "NODULE_FIELDS",
    "deidentify_record",
    "study_from_record",
]

#: Record keys that can identify a patient (paths, UIDs); dropped unless identifiers are kept.
IDENTIFYING_RECORD_KEYS = ("input", "series_instance_uid", "study_instance_uid", "accession")

#: Per-nodule fields of the study record copied into the ``nodules`` table as they are.
NODULE_FIELDS = tuple(f for f in CONTRACT_NODULE_FIELDS if f not in ("id", "centroid_lps_mm"))


def deidentify_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` without paths and UIDs (findings, age, sex and keys remain)."""
    return {k: v for k, v in record.items() if k not in IDENTIFYING_RECORD_KEYS}


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and abs(out) != float("inf") else None


def _nodule(item: dict[str, Any], *, definite: bool, index: int) -> Nodule:
    centroid = list(item.get("centroid_lps_mm") or [None, None, None])[:3]
    centroid += [None] * (3 - len(centroid))
    values: dict[str, Any] = {}
    for key in NODULE_FIELDS:
        value = item.get(key)
        values[key] = value if key in ("region", "side", "morphology") else _float(value)
    return Nodule(
        nodule_id=int(item.get("id", index)),
        definite=definite,
        x_lps_mm=_float(centroid[0]),
        y_lps_mm=_float(centroid[1]),
        z_lps_mm=_float(centroid[2]),
        **values,
    )


def study_from_record(
    record: dict[str, Any],
    task: StudyTask,
    *,
    config_digest: str,
    run_id: int,
    elapsed_s: float | None = None,
    keep_identifiers: bool = False,
) -> Study:
    """Build the ``Study`` row (with nodules and rejected counts) for one processed study.

    Parameters
    ----------
    record : dict
        The study record returned by the worker.
    task : StudyTask
        The task it came from (input key, identifiers for joins).
    config_digest : str
        Digest the row is stored under (the run's, even if the record disagrees).
    run_id : int
        The run that produced it.
    elapsed_s : float, optional
        Wall time of the worker task.
    keep_identifiers : bool
        Keep the input path and UIDs in the row and the stored record.

    Returns
    -------
    Study
    """
    qc = record.get("qc") or {}
    counts = record.get("counts_by_region") or {}
    nodules = list(record.get("nodules") or [])
    possible = list(record.get("possible_nodules") or [])
    sex = record.get("patient_sex")
    age = _float(record.get("patient_age_years"))
    study = Study(
        input_key=task.input_key,
        study_key=str(record.get("study_key") or task.input_key),
        config_digest=config_digest,
        run_id=run_id,
        schema_version=record.get("schema_version"),
        software_version=record.get("software_version"),
        source_format=record.get("source_format") or task.kind,
        age_years=age,
        sex=sex if sex in SEXES else None,
        age_source="header" if age is not None else None,
        sex_source="header" if sex in SEXES else None,
        face_coverage_ok=qc.get("face_coverage_ok"),
        excluded=bool(qc.get("excluded", False)),
        qc_reasons=[str(r) for r in qc.get("reasons") or []],
        qc_flags=[str(f) for f in qc.get("flags") or []],
        nodule_count=int(record.get("nodule_count", len(nodules))),
        possible_count=len(possible),
        distribution_pattern=str(record.get("distribution_pattern") or "none"),
        processing_s=elapsed_s,
        timings_s=record.get("timings_s"),
        record=record if keep_identifiers else deidentify_record(record),
        created_at=datetime.now(UTC),
    )
    for region in REGION_KEYS:
        setattr(study, f"counts_{region}", int(counts.get(region, 0) or 0))
    if keep_identifiers:
        study.input_path = task.path
        study.study_instance_uid = task.study_instance_uid
        study.series_instance_uid = record.get("series_instance_uid") or task.series_uid
        study.accession_number = task.accession_number
    study.nodules = [_nodule(n, definite=True, index=i) for i, n in enumerate(nodules, 1)]
    study.nodules += [_nodule(n, definite=False, index=i) for i, n in enumerate(possible, 1)]
    study.rejected = [
        RejectedCount(reason=str(reason), count=int(count))
        for reason, count in (record.get("rejected") or {}).items()
    ]
    return study
