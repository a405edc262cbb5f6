"""Non-identifying facts from DICOM headers: study key, demographics, provenance.

Only what downstream stages need leaves the reader: UIDs (they are hashed into ``study_key``),
acquisition facts, patient age in years and sex. Names, IDs, dates and institutions never do.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "parse_patient_age",
    "parse_patient_sex",
    "provenance_from_header",
    "study_key_from_file",
    "study_key_from_uids",
]

_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0, "": 1.0}


def study_key_from_uids(study_uid: str | None, series_uid: str | None) -> str:
    """Stable, non-identifying key of a DICOM series.

    Parameters
    ----------
    study_uid, series_uid : str or None
        StudyInstanceUID and SeriesInstanceUID.

    Returns
    -------
    str
        First 16 hex digits of SHA-256 of ``"<study_uid>/<series_uid>"``.
    """
    text = f"{study_uid or ''}/{series_uid or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def study_key_from_file(paths: Path | Iterable[Path]) -> str:
    """Stable key of non-DICOM input: SHA-256 (first 16 hex digits) of the file content.

    Parameters
    ----------
    paths : Path or iterable of Path
        One file, or several (e.g. an MHD header and its raw data) hashed in order.
    """
    digest = hashlib.sha256()
    for path in [paths] if isinstance(paths, Path) else list(paths):
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _parse_date(value: Any) -> _dt.date | None:
    text = str(value or "").strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        return _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def parse_patient_age(
    patient_age: Any = None, birth_date: Any = None, study_date: Any = None
) -> float | None:
    """Patient age in years from DICOM PatientAge, or from birth date and study date.

    Parameters
    ----------
    patient_age : str or None
        DICOM AS value such as ``"052Y"``, ``"006M"``, ``"010W"``, ``"003D"``.
    birth_date, study_date : str or None
        DICOM DA values (``YYYYMMDD``), used when PatientAge is absent or unreadable.

    Returns
    -------
    float or None
        Age in years (fractional for months/weeks/days), or None when unknown.
    """
    match = _AGE_RE.match(str(patient_age or ""))
    if match:
        years = int(match.group(1)) * _AGE_UNIT_YEARS[match.group(2).upper()]
        if 0 <= years < 150:
            return round(years, 3)
    birth, study = _parse_date(birth_date), _parse_date(study_date)
    if birth is not None and study is not None and study >= birth:
        return round((study - birth).days / 365.25, 3)
    return None


def parse_patient_sex(value: Any) -> str | None:
    """Normalise DICOM PatientSex to ``"M"``, ``"F"``, ``"O"`` or None."""
    text = str(value or "").strip().upper()
    return text if text in {"M", "F", "O"} else None


def _clean(value: Any) -> Any:
    """Convert pydicom values (DS, IS, MultiValue, UID) to plain JSON-able Python values."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        return text.strip() or None
    if isinstance(value, Iterable):
        return [_clean(v) for v in value]
    if isinstance(value, int | float):
        return float(value) if isinstance(value, float) else int(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value).strip() or None


#: Header keywords copied into provenance (non-identifying acquisition facts).
PROVENANCE_KEYWORDS: tuple[str, ...] = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "ConvolutionKernel",
    "KVP",
    "XRayTubeCurrent",
    "SliceThickness",
    "SeriesNumber",
    "SeriesDescription",
    "ImageType",
    "BodyPartExamined",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "GantryDetectorTilt",
    "BitsStored",
    "PixelRepresentation",
    "ContrastBolusAgent",
)


def provenance_from_header(ds: Any) -> dict[str, Any]:
    """Non-identifying acquisition facts of a DICOM dataset as plain JSON-able values.

    Parameters
    ----------
    ds : pydicom.Dataset
        A header (pixel data not needed).

    Returns
    -------
    dict
        Snake-case keys (``study_instance_uid``, ``manufacturer``, ``convolution_kernel``,
        ``kvp``, ``slice_thickness_mm``, ``transfer_syntax``...) for the tags present.
    """
    out: dict[str, Any] = {}
    for keyword in PROVENANCE_KEYWORDS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", keyword).lower()
        if keyword == "SliceThickness":
            key = "slice_thickness_mm"
        out[key] = _clean(value)
    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid is not None:
        out["transfer_syntax_uid"] = str(tsuid)
        out["transfer_syntax"] = getattr(tsuid, "name", str(tsuid))
    sop = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    if sop:
        out["sop_class"] = getattr(sop, "name", str(sop))
    return out
