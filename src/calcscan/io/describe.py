"""What an input holds, as plain values: series found, the choice, geometry, HU, demographics.

Used by ``calcscan info``; the dictionary is strict-JSON ready (lists, floats, str, None).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.io.decode import AIR_HU, MIN_HU
from calcscan.io.discover import DiscoveryResult
from calcscan.scan import CTScan

__all__ = ["HU_PERCENTILES", "axis_codes", "describe_scan", "hu_statistics"]

#: Percentiles reported by :func:`hu_statistics`.
HU_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
_AIR_WINDOW_HU = (-1100.0, -900.0)
_SOFT_WINDOW_HU = (-30.0, 130.0)
_MAX_SAMPLES = 4_000_000


def axis_codes(scan: CTScan) -> str:
    """Patient direction letters (LPS) of increasing (slice, row, col), e.g. ``"SPL"``.

    Each letter is the dominant axis of that index's step: L/R for x, P/A for y, S/I for z.
    """
    letters = (("R", "L"), ("A", "P"), ("I", "S"))
    out = []
    for col in range(3):
        v = scan.affine_lps[:3, col]
        axis = int(np.argmax(np.abs(v)))
        out.append(letters[axis][int(v[axis] > 0)])
    return "".join(out)


def _mode(values: NDArray[Any], lo: float, hi: float, width: float = 2.0) -> float | None:
    v = values[(values > lo) & (values < hi)]
    if v.size == 0:
        return None
    hist, edges = np.histogram(v, bins=round((hi - lo) / width), range=(lo, hi))
    return float(edges[int(hist.argmax())] + width / 2)


def hu_statistics(hu: NDArray[Any], *, padded: bool = False) -> dict[str, Any]:
    """HU summary: min/max/mean, percentiles, air and soft-tissue peaks.

    Large volumes are subsampled on a regular stride (at most 4 million voxels). The air peak is
    the mode in -1100..-900 HU leaving out the values the reader assigns itself (the clip
    floor -1024, and -1000 when padding pixels were set to it); the soft-tissue peak is the
    mode in -30..130 HU.

    Parameters
    ----------
    hu : ndarray
    padded : bool
        True when the reader set padding pixels to -1000 HU (they are not measured air).

    Returns
    -------
    dict
    """
    flat = np.asarray(hu).ravel()
    stride = max(1, flat.size // _MAX_SAMPLES)
    sample = flat[::stride].astype(np.float32)
    pct = np.percentile(sample, HU_PERCENTILES)
    keep = sample != MIN_HU
    if padded:
        keep &= sample != AIR_HU
    air = sample[keep]
    return {
        "min": float(flat.min()),
        "max": float(flat.max()),
        "mean": round(float(sample.mean()), 2),
        "percentiles": {
            f"p{p}": round(float(v), 1) for p, v in zip(HU_PERCENTILES, pct, strict=True)
        },
        "air_peak_hu": _mode(air, *_AIR_WINDOW_HU),
        "soft_tissue_peak_hu": _mode(sample, *_SOFT_WINDOW_HU),
        "sampled_voxels": int(sample.size),
    }


def _geometry(scan: CTScan) -> dict[str, Any]:
    prov = scan.provenance
    extent = np.ptp(
        scan.index_to_lps(
            np.array(
                [
                    [k, r, c]
                    for k in (0, scan.shape[0] - 1)
                    for r in (0, scan.shape[1] - 1)
                    for c in (0, scan.shape[2] - 1)
                ],
                dtype=float,
            )
        ),
        axis=0,
    )
    return {
        "shape": list(scan.shape),
        "spacing_mm": [round(v, 5) for v in scan.spacing_mm],
        "slice_thickness_mm": scan.slice_thickness_mm,
        "axis_codes": axis_codes(scan),
        "row_direction_lps": [round(float(v), 6) for v in scan.row_vector_lps / scan.spacing_mm[1]],
        "col_direction_lps": [round(float(v), 6) for v in scan.col_vector_lps / scan.spacing_mm[2]],
        "slice_normal_lps": [round(float(v), 6) for v in scan.slice_normal_lps],
        "origin_lps_mm": [round(float(v), 4) for v in scan.slice_positions_lps_mm[0]],
        "extent_lps_mm": [round(float(v), 2) for v in extent],
        "gantry_tilt_deg": round(scan.gantry_tilt_deg, 3),
        "slice_step_median_mm": prov.get("slice_step_median_mm"),
        "slice_step_min_mm": prov.get("slice_step_min_mm"),
        "slice_step_max_mm": prov.get("slice_step_max_mm"),
        "n_missing_slices": prov.get("n_missing_slices", 0),
        "irregular_steps": prov.get("irregular_steps", []),
    }


def _studies(found: DiscoveryResult, chosen_uid: str | None) -> list[dict[str, Any]]:
    by_study: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in found.series:
        row = s.summary()
        row["chosen"] = s.series_uid == chosen_uid
        by_study[s.study_uid].append(row)
    return [{"study_instance_uid": uid or None, "series": rows} for uid, rows in by_study.items()]


def describe_scan(scan: CTScan, found: DiscoveryResult | None = None) -> dict[str, Any]:
    """Plain-value description of a read scan and of the input it came from.

    Parameters
    ----------
    scan : CTScan
        From :func:`calcscan.io.read_ct_with_discovery`.
    found : DiscoveryResult, optional
        The DICOM discovery (None for volume files).

    Returns
    -------
    dict
        ``input``, ``source_format``, ``study_key``, ``studies`` (DICOM), ``files``,
        ``chosen_series``, ``choice_reason``, ``geometry``, ``hu``, ``patient``,
        ``provenance``, ``warnings``.
    """
    prov = scan.provenance
    chosen = prov.get("series_instance_uid")
    out: dict[str, Any] = {
        "input": scan.source_path,
        "source_format": prov.get("source_format"),
        "study_key": scan.study_key,
        "studies": _studies(found, chosen) if found is not None else [],
        "files": None,
        "chosen_series": chosen,
        "choice_reason": prov.get("series_choice_reason"),
        "geometry": _geometry(scan),
        "hu": hu_statistics(scan.hu, padded=bool(prov.get("n_padding_pixels"))),
        "patient": {"age_years": scan.patient_age_years, "sex": scan.patient_sex},
        "provenance": dict(prov),
        "warnings": list(scan.warnings),
    }
    if found is not None:
        out["files"] = {
            "examined": found.n_files,
            "non_dicom": len(found.non_dicom),
            "corrupt": len(found.corrupt),
        }
    return out
