"""Writing phantoms and insertions: the CT (DICOM series or NIfTI) plus ``truth.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calcscan.errors import UsageError
from calcscan.phantom.truth import TruthNodule, write_truth
from calcscan.scan import CTScan

__all__ = ["FORMATS", "write_case"]

FORMATS = ("dicom", "nifti")


def write_case(
    scan: CTScan,
    truth: list[TruthNodule],
    out_dir: str | Path,
    *,
    fmt: str = "nifti",
    regions_present: list[str] | None = None,
    generator: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``scan`` and its ground truth into ``out_dir``.

    Parameters
    ----------
    scan : CTScan
    truth : list of TruthNodule
    out_dir : str or Path
        Created if needed; holds ``ct.nii.gz`` or ``dicom/`` and ``truth.json``.
    fmt : {"dicom", "nifti"}
    regions_present, generator : optional
        Stored in ``truth.json``.

    Returns
    -------
    dict
        ``{"ct": path, "truth": path}``.
    """
    from calcscan.io import write_dicom_series, write_nifti

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "nifti":
        ct = write_nifti(scan, out / "ct.nii.gz")
    else:
        ct = out / "dicom"
        age = f"{int(scan.patient_age_years):03d}Y" if scan.patient_age_years else None
        write_dicom_series(
            scan,
            ct,
            patient_age=age,
            patient_sex=scan.patient_sex,
            series_description="calcscan synthetic",
            seed=int((generator or {}).get("seed", 0) or 0),
        )
    tp = write_truth(
        out / "truth.json", truth, regions_present=regions_present, generator=generator
    )
    return {"ct": Path(ct), "truth": tp}
