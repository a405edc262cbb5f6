"""The study record of CONTRACTS.md section 2 as a dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from calcscan.contracts import NODULE_FIELDS, REGION_KEYS, SCHEMA_VERSION

__all__ = ["NODULE_FIELDS", "StudyRecord", "nodule_dict"]


def nodule_dict(
    nodule_id: int, centroid_lps_mm: list[float], measures: dict[str, Any], **labels: Any
) -> dict[str, Any]:
    """One nodule entry: contract fields first, then a few extra measures."""
    d: dict[str, Any] = {
        "id": int(nodule_id),
        "centroid_lps_mm": [round(float(v), 3) for v in centroid_lps_mm],
        "diameter_mm": round(float(measures["diameter_mm"]), 3),
        "volume_mm3": round(float(measures["volume_mm3"]), 3),
        "peak_hu": round(float(measures["peak_hu"]), 1),
        "mean_hu": round(float(measures["mean_hu"]), 1),
        "depth_mm": round(float(measures["depth_mm"]), 2),
        "region": str(labels["region"]),
        "side": str(labels["side"]),
        "morphology": str(labels["morphology"]),
        "conspicuity": round(float(measures["conspicuity"]), 2),
    }
    for key in ("extent_mm", "elongation", "bone_dist_mm", "n_voxels", "n_slices"):
        v = measures.get(key)
        d[key] = round(float(v), 3) if isinstance(v, float) else v
    return d


@dataclass
class StudyRecord:
    """Result of detection on one study; :meth:`to_dict` is the contract's JSON object."""

    software_version: str
    config_digest: str
    study_key: str
    input: str
    series_instance_uid: str | None
    patient_age_years: float | None
    patient_sex: str | None
    qc: dict[str, Any]
    nodules: list[dict[str, Any]]
    possible_nodules: list[dict[str, Any]]
    rejected: dict[str, int]
    distribution_pattern: str
    timings_s: dict[str, float]
    symmetry: dict[str, Any] = field(default_factory=dict)
    landmarks: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    @property
    def nodule_count(self) -> int:
        """Number of counted (definite) nodules."""
        return len(self.nodules)

    @property
    def counts_by_region(self) -> dict[str, int]:
        """Counted nodules per region (every region key present)."""
        counts: dict[str, int] = dict.fromkeys(REGION_KEYS, 0)
        for n in self.nodules:
            counts[n["region"]] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The study record (contract keys first, extra keys after)."""
        return {
            "schema_version": self.schema_version,
            "software_version": self.software_version,
            "config_digest": self.config_digest,
            "study_key": self.study_key,
            "input": self.input,
            "series_instance_uid": self.series_instance_uid,
            "patient_age_years": self.patient_age_years,
            "patient_sex": self.patient_sex,
            "qc": self.qc,
            "nodule_count": self.nodule_count,
            "counts_by_region": self.counts_by_region,
            "distribution_pattern": self.distribution_pattern,
            "nodules": self.nodules,
            "possible_nodules": self.possible_nodules,
            "rejected": dict(self.rejected),
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            "symmetry": self.symmetry,
            "landmarks": self.landmarks,
            "noise": self.noise,
            "config": self.config,
            "warnings": list(self.warnings),
        }
