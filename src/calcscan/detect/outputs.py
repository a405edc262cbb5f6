"""Files written for one study: record JSON, nodules CSV, key image PNG, HTML report."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calcscan.detect.pipeline import DetectionResult
from calcscan.detect.record import NODULE_FIELDS
from calcscan.scan import CTScan

__all__ = ["StudyOutputs", "write_nodules_csv", "write_outputs", "write_record_json"]


@dataclass
class StudyOutputs:
    """Paths of the files written for one study."""

    record_json: Path
    nodules_csv: Path
    key_image_png: Path
    report_html: Path


def _strict(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_record_json(record: dict[str, Any], path: Path) -> Path:
    """Write the study record as strict JSON (no NaN/Infinity)."""
    path.write_text(json.dumps(_strict(record), indent=2, allow_nan=False) + "\n", "utf-8")
    return path


def write_nodules_csv(record: dict[str, Any], path: Path) -> Path:
    """One row per counted and possible nodule (``status`` column tells which)."""
    fields = [c for c in NODULE_FIELDS if c != "centroid_lps_mm"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["study_key", "status", "x_lps_mm", "y_lps_mm", "z_lps_mm", *fields])
        for status, rows in (
            ("counted", record["nodules"]),
            ("possible", record["possible_nodules"]),
        ):
            for n in rows:
                x, y, z = n["centroid_lps_mm"]
                w.writerow([record["study_key"], status, x, y, z, *(n[c] for c in fields)])
    return path


def write_outputs(result: DetectionResult, scan: CTScan, outdir: str | Path) -> StudyOutputs:
    """Write record JSON, nodules CSV, key image and HTML report into ``outdir``.

    File names start with the study key: ``<key>_record.json``, ``<key>_nodules.csv``,
    ``<key>_key_image.png``, ``<key>_report.html``.
    """
    from calcscan.report.study import write_study_report
    from calcscan.report.study_figure import write_key_image

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    record = result.record.to_dict()
    key = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in record["study_key"])[:64]
    rj = write_record_json(record, out / f"{key}_record.json")
    nc = write_nodules_csv(record, out / f"{key}_nodules.csv")
    img = write_key_image(
        scan,
        record["nodules"],
        out / f"{key}_key_image.png",
        anterior=result.frame.anterior,
        lateral=result.frame.lateral,
        possible=record["possible_nodules"],
        title=f"{record['nodule_count']} counted nodules, pattern {record['distribution_pattern']}",
    )
    html = write_study_report(record, out / f"{key}_report.html", key_image_png=img)
    return StudyOutputs(rj, nc, img, html)
