"""Assemble a discovered DICOM series into a :class:`CTScan`.

Geometry is carried exactly: slice positions are ImagePositionPatient sorted along the plane
normal, the affine's in-plane columns come from ImageOrientationPatient and PixelSpacing, and the
slice column is the median step, so a gantry tilt stays a shear and irregular gaps stay
per-slice positions. Corrupt files are skipped with a warning when the rest is a volume;
duplicates are dropped, conflicting ones refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.errors import InputError
from calcscan.io.decode import decode_failure_message, decode_hu, ensure_transfer_syntax
from calcscan.io.discover import FileHeader, SeriesInfo
from calcscan.io.headers import (
    parse_patient_age,
    parse_patient_sex,
    provenance_from_header,
    study_key_from_uids,
)
from calcscan.io.spacing import analyze_slice_positions
from calcscan.scan import CTScan

__all__ = ["read_series"]

log = logging.getLogger(__name__)

_ORIENTATION_TOL = 1e-3
_SPACING_TOL = 1e-3
_DUPLICATE_TOL_MM = 0.01


@dataclass
class _Frame:
    header: FileHeader
    index: int  # frame index within the file
    position: NDArray[np.float64]
    depth_mm: float  # position along the plane normal


def _check_consistent(info: SeriesInfo) -> None:
    heads = info.files
    first = heads[0]
    if first.orientation is None or first.pixel_spacing_mm is None:
        raise InputError(
            f"{first.path.name}: no ImageOrientationPatient/PixelSpacing; the slice geometry "
            "is unknown (re-export the series with full headers)"
        )
    for h in heads[1:]:
        if (h.rows, h.cols) != (first.rows, first.cols):
            raise InputError(
                f"inconsistent image size within the series: {first.rows}x{first.cols} "
                f"({first.path.name}) and {h.rows}x{h.cols} ({h.path.name}); pick one series"
            )
        if (
            h.orientation is None
            or np.max(np.abs(np.subtract(h.orientation, first.orientation))) > _ORIENTATION_TOL
        ):
            raise InputError(
                f"inconsistent orientation within the series ({first.path.name} vs "
                f"{h.path.name}); split the series or pick another one with --series"
            )
        if h.pixel_spacing_mm is None or np.max(
            np.abs(np.subtract(h.pixel_spacing_mm, first.pixel_spacing_mm))
        ) > _SPACING_TOL * max(first.pixel_spacing_mm):
            raise InputError(
                f"inconsistent pixel spacing within the series: {first.pixel_spacing_mm} "
                f"({first.path.name}) vs {h.pixel_spacing_mm} ({h.path.name}); pick one series"
            )


def _frames(info: SeriesInfo, normal: NDArray[np.float64], warnings: list[str]) -> list[_Frame]:
    frames: list[_Frame] = []
    missing = [h for h in info.files if h.positions_lps_mm is None]
    if missing:
        raise InputError(
            f"{len(missing)} file(s) without ImagePositionPatient (e.g. {missing[0].path.name}); "
            "the slice positions are unknown (re-export the series with full headers)"
        )
    for h in info.files:
        assert h.positions_lps_mm is not None
        for i, pos in enumerate(h.positions_lps_mm):
            frames.append(_Frame(h, i, pos, float(pos @ normal)))
    frames.sort(key=lambda f: f.depth_mm)
    return frames


def read_series(
    info: SeriesInfo,
    *,
    source_path: str,
    reason: str = "",
    skipped_corrupt: Sequence[tuple[Path, str]] = (),
) -> CTScan:
    """Read a discovered DICOM series into a :class:`CTScan`.

    Parameters
    ----------
    info : SeriesInfo
        From :func:`calcscan.io.discover_series`.
    source_path : str
        The input path as given (recorded in the scan).
    reason : str
        Why this series was chosen (recorded in provenance).
    skipped_corrupt : sequence of (Path, str)
        Files of the input whose header was unreadable (reported as warnings).

    Returns
    -------
    CTScan
    """
    import pydicom

    warnings: list[str] = [
        f"skipped corrupt file {p.name} ({why.splitlines()[0][:120]})" for p, why in skipped_corrupt
    ]
    if info.modality != "CT":
        raise InputError(f"not a CT: Modality is {info.modality or 'missing'}; give a CT series")
    if info.n_slices < 2:
        raise InputError("one slice is not a volume; give a series with 2+ slices")
    _check_consistent(info)
    first = info.files[0]
    assert first.orientation is not None and first.pixel_spacing_mm is not None
    iop = np.asarray(first.orientation, dtype=np.float64)
    normal = np.cross(iop[:3], iop[3:6])
    normal /= np.linalg.norm(normal)
    frames = _frames(info, normal, warnings)

    rows, cols = first.rows, first.cols
    hu = np.empty((len(frames), rows, cols), dtype=np.float32)
    slot = {(id(f.header), f.index): k for k, f in enumerate(frames)}
    ok = np.ones(len(frames), dtype=bool)
    n_pad = 0
    tsyntaxes: set[str] = set()
    failures: list[str] = []
    for head in info.files:
        ks = [slot[(id(head), i)] for i in range(head.n_frames)]
        ds = None
        try:
            ds = pydicom.dcmread(head.path, force=True)  # raw DICOM without preamble too
            ensure_transfer_syntax(ds)
            tsuid = ds.file_meta.get("TransferSyntaxUID")
            tsyntaxes.add(getattr(tsuid, "name", str(tsuid)))
            if head.n_frames == 1:
                _, npad = decode_hu(ds, out=hu[ks[0] : ks[0] + 1])
            else:
                decoded, npad = decode_hu(ds)
                hu[ks] = decoded
            n_pad += npad
        except Exception as exc:
            ok[ks] = False
            failures.append(decode_failure_message(head.path, ds, exc))
            warnings.append(f"skipped unreadable file: {failures[-1]}")
    if not ok.all():
        if ok.sum() < 2:
            raise InputError(
                f"{int((~ok).sum())} of {len(frames)} slices are unreadable, too few are left "
                f"for a volume; first: {failures[0]}"
            )
        frames = [f for f, good in zip(frames, ok, strict=True) if good]
        hu = hu[ok]
    hu, frames = _drop_duplicates(hu, frames, warnings)
    if len(frames) < 2:
        raise InputError("one slice is not a volume; give a series with 2+ slices")

    positions = np.asarray([f.position for f in frames], dtype=np.float64)
    thickness = [f.header.slice_thickness_mm for f in frames]
    spacing_report = analyze_slice_positions(positions, normal, thickness)
    warnings.extend(spacing_report.warnings)
    row_spacing, col_spacing = first.pixel_spacing_mm
    affine = np.eye(4)
    affine[:3, 0] = spacing_report.median_step_lps_mm
    affine[:3, 1] = iop[3:6] * row_spacing
    affine[:3, 2] = iop[:3] * col_spacing
    affine[:3, 3] = positions[0]
    header = info.header
    provenance: dict[str, Any] = provenance_from_header(header)
    provenance.update(
        study_instance_uid=info.study_uid or None,
        series_instance_uid=info.series_uid,
        source_format="dicom",
        n_files=info.n_files,
        enhanced_multiframe=info.is_enhanced,
        transfer_syntax=sorted(tsyntaxes)[0] if len(tsyntaxes) == 1 else sorted(tsyntaxes),
        series_choice_reason=reason,
        n_padding_pixels=n_pad,
        **spacing_report.facts,
    )
    if len(set(thickness)) > 1:  # mixed thickness: keep it per slice (writers reuse it)
        provenance["slice_thickness_per_slice_mm"] = thickness
    if float(hu.min()) > -500.0:
        warnings.append(
            f"no voxel below -500 HU (min {float(hu.min()):.0f}): check the rescale intercept"
        )
    if not info.is_original:
        warnings.append(f"ImageType is {'/'.join(info.image_type) or 'missing'}, not ORIGINAL")
    scan = CTScan(
        hu=hu,
        affine_lps=affine,
        slice_positions_lps_mm=positions,
        slice_thickness_mm=info.slice_thickness_mm,
        study_key=study_key_from_uids(info.study_uid, info.series_uid),
        source_path=source_path,
        patient_age_years=parse_patient_age(
            header.get("PatientAge"), header.get("PatientBirthDate"), header.get("StudyDate")
        ),
        patient_sex=parse_patient_sex(header.get("PatientSex")),
        provenance=provenance,
        warnings=warnings,
    )
    tilt = scan.gantry_tilt_deg
    provenance["gantry_tilt_deg"] = round(tilt, 3)
    if tilt > 0.1:
        warnings.append(
            f"gantry tilt {tilt:.1f} deg: the sheared geometry is carried (no resampling); "
            "world coordinates follow ImagePositionPatient"
        )
    for w in warnings:
        log.warning("%s", w)
    return scan


def _drop_duplicates(
    hu: NDArray[np.float32], frames: list[_Frame], warnings: list[str]
) -> tuple[NDArray[np.float32], list[_Frame]]:
    """Drop slices that repeat a position with identical pixels; fail if they conflict."""
    keep = np.ones(len(frames), dtype=bool)
    n_dup = 0
    for k in range(1, len(frames)):
        a, b = frames[k - 1], frames[k]
        if abs(b.depth_mm - a.depth_mm) > _DUPLICATE_TOL_MM:
            continue
        if np.linalg.norm(b.position - a.position) > _DUPLICATE_TOL_MM:
            continue
        j = k - 1
        while not keep[j]:
            j -= 1
        if not np.array_equal(hu[j], hu[k]):
            raise InputError(
                f"two different slices at the same position {np.round(b.position, 2).tolist()} "
                f"({frames[j].header.path.name}, {b.header.path.name}): the series mixes "
                "acquisitions; separate them or pick another series with --series"
            )
        keep[k] = False
        n_dup += 1
    if n_dup:
        warnings.append(f"dropped {n_dup} duplicate slice(s) (same position, identical pixels)")
        frames = [f for f, good in zip(frames, keep, strict=True) if good]
        hu = hu[keep]
    return hu, frames
