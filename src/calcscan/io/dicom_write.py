"""Write a generated volume as a CT DICOM series (tests, demos, phantoms).

The geometry written is exactly the scan's: ImagePositionPatient of slice ``k`` is
``scan.slice_positions_lps_mm[k]`` and ImageOrientationPatient / PixelSpacing come from the
row and column vectors of ``scan.affine_lps``, so ``read_ct(write_dicom_series(scan))`` gives
back the same world coordinates. Options reproduce what real exports do to readers: gantry tilt,
irregular or missing slices, compressed transfer syntaxes, shuffled files without extension,
junk files, padding values, 12-bit and signed data, big endian, enhanced multi-frame.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.errors import UsageError
from calcscan.io.geometry_edits import apply_gap, apply_tilt
from calcscan.scan import CTScan

__all__ = ["COMPRESSIONS", "available_compressions", "write_dicom_series"]

#: Compression / transfer-syntax names accepted by :func:`write_dicom_series`.
COMPRESSIONS: dict[str, str] = {
    "jpeg2000": "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "jpeg2000-lossy": "1.2.840.10008.1.2.4.91",
    "jpegls": "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "jpegls-near": "1.2.840.10008.1.2.4.81",
    "rle": "1.2.840.10008.1.2.5",
    "deflate": "1.2.840.10008.1.2.1.99",
    "implicit": "1.2.840.10008.1.2",
    "big-endian": "1.2.840.10008.1.2.2",
}
_UNENCAPSULATED = {"deflate", "implicit", "big-endian"}
#: Encoder options of the lossy syntaxes (small, bounded errors).
_LOSSY_OPTIONS: dict[str, dict[str, Any]] = {
    "jpeg2000-lossy": {"j2k_psnr": [90.0]},
    "jpegls-near": {"jls_error": 2},
}
_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"


def available_compressions() -> list[str]:
    """Names from :data:`COMPRESSIONS` that can be written with the installed encoders."""
    from pydicom.pixels import get_encoder

    out = []
    for name, uid in COMPRESSIONS.items():
        if name in _UNENCAPSULATED:
            out.append(name)
            continue
        try:
            if get_encoder(uid).is_available:
                out.append(name)
        except NotImplementedError:
            continue
    return out


def _ds(value: float) -> Any:
    from pydicom.valuerep import DSfloat

    return DSfloat(float(value), auto_format=True)


def _stored_values(
    hu: NDArray[Any], slope: float, intercept: float, bits_stored: int, signed: bool | None
) -> tuple[NDArray[Any], bool]:
    stored = np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope)
    if signed is None:
        signed = bool(stored.min() < 0)
    lo, hi = (
        (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1)
        if signed
        else (
            0,
            (1 << bits_stored) - 1,
        )
    )
    stored = np.clip(stored, lo, hi)
    return stored.astype(np.int16 if signed else np.uint16), signed


def _fov_mask(shape: tuple[int, int]) -> NDArray[np.bool_]:
    """True outside the inscribed circle of the image (the reconstruction field of view)."""
    rows, cols = shape
    r = np.arange(rows)[:, None] - (rows - 1) / 2
    c = np.arange(cols)[None, :] - (cols - 1) / 2
    return np.asarray((r / (rows / 2)) ** 2 + (c / (cols / 2)) ** 2 > 1.0)


def _base_dataset(
    scan: CTScan,
    *,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    modality: str,
    patient_age: str | None,
    patient_sex: str | None,
    series_description: str,
    image_type: Sequence[str],
    series_number: int,
    slope: float,
    intercept: float,
    bits_stored: int,
    signed: bool,
    pixel_padding_value: int | None,
    sop_class: str,
) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.Modality = modality
    ds.ImageType = list(image_type)
    ds.PatientName = "Phantom^Synthetic"
    ds.PatientID = "calcscan-synthetic"
    if patient_age is not None:
        ds.PatientAge = patient_age
    if patient_sex is not None:
        ds.PatientSex = patient_sex
    ds.StudyDate = ds.SeriesDate = _dt.date(2020, 1, 1).strftime("%Y%m%d")
    ds.Manufacturer = "calcscan"
    ds.ManufacturerModelName = "synthetic"
    ds.ConvolutionKernel = "SYNTH"
    ds.KVP = 120
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = _ds(scan.slice_thickness_mm or scan.spacing_mm[0])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = scan.shape[1], scan.shape[2]
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    if pixel_padding_value is not None:
        ds.PixelPaddingValue = pixel_padding_value
    return ds


def _thickness_per_slice(scan: CTScan, given: float | Sequence[float] | None) -> list[float]:
    """Nominal thickness of every slice: given, else the reader's per-slice list, else one."""
    n = scan.shape[0]
    if given is None:
        given = scan.provenance.get("slice_thickness_per_slice_mm")
        if given is None or len(given) != n or any(t is None for t in given):
            given = scan.slice_thickness_mm or scan.spacing_mm[0]
    if isinstance(given, int | float):
        return [float(given)] * n
    values = [float(t) for t in given]
    if len(values) != n:
        raise UsageError(f"slice_thickness_mm has {len(values)} values for {n} slices")
    return values


def _geometry(scan: CTScan) -> tuple[list[float], list[float]]:
    row_vec, col_vec = scan.row_vector_lps, scan.col_vector_lps
    spacing = [float(np.linalg.norm(row_vec)), float(np.linalg.norm(col_vec))]
    iop = np.concatenate([col_vec / spacing[1], row_vec / spacing[0]])
    return [float(v) for v in iop], spacing


def write_dicom_series(
    scan: CTScan,
    folder: str | Path,
    *,
    tilt_deg: float = 0.0,
    gap_after: int | Sequence[int] | None = None,
    gap_mm: float = -0.5,
    drop_slices: Sequence[int] = (),
    compression: str | None = None,
    shuffle: bool = False,
    junk_files: int = 0,
    extension: str = ".dcm",
    patient_age: str | None = "052Y",
    patient_sex: str | None = "F",
    modality: str = "CT",
    series_uid: str | None = None,
    study_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "synthetic head",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    rescale: tuple[float, float] = (1.0, -1024.0),
    bits_stored: int = 16,
    signed: bool | None = None,
    pixel_padding_value: int | None = None,
    slice_thickness_mm: float | Sequence[float] | None = None,
    enhanced: bool = False,
    seed: int = 0,
) -> list[Path]:
    """Write ``scan`` as a CT DICOM series in ``folder``.

    Parameters
    ----------
    scan : CTScan
        Volume in HU and its geometry (written exactly).
    folder : str or Path
        Output folder (created).
    tilt_deg : float
        Shear the geometry like a gantry tilt (see :func:`apply_tilt`).
    gap_after, gap_mm : int or sequence of int, float
        Make the step after these slice indices ``gap_mm`` longer (see :func:`apply_gap`).
    drop_slices : sequence of int
        Slice indices not written (missing slices).
    compression : str or None
        A name from :data:`COMPRESSIONS` (``"jpeg2000"``, ``"jpegls"``, ``"rle"``,
        ``"deflate"``, ``"implicit"``, ``"big-endian"``...); None writes explicit VR little
        endian. Raises :class:`~calcscan.errors.UsageError` if no encoder is installed (see
        :func:`available_compressions`).
    shuffle : bool
        Random file names (no order information in names).
    junk_files : int
        Number of non-DICOM files (text, random bytes) added to the folder.
    extension : str
        File name extension (``""`` for none).
    patient_age, patient_sex : str or None
        DICOM PatientAge (``"052Y"``) and PatientSex.
    modality, series_uid, study_uid, series_number, series_description, image_type
        Header values; UIDs are generated when None.
    rescale : (float, float)
        RescaleSlope and RescaleIntercept: stored = round((HU - intercept) / slope).
    bits_stored : int
        12, 14 or 16; values are clipped to the representable range.
    signed : bool or None
        PixelRepresentation; None chooses signed only when negative stored values occur.
    pixel_padding_value : int or None
        When given, pixels outside the inscribed circle (the reconstruction field of view) are
        written with this stored value and PixelPaddingValue is set.
    slice_thickness_mm : float or sequence of float, optional
        Nominal SliceThickness (one value, or one per slice). By default the scan's per-slice
        list from the reader (``provenance["slice_thickness_per_slice_mm"]``, mixed-thickness
        series), else ``scan.slice_thickness_mm``, else the slice step.
    enhanced : bool
        Write one Enhanced CT multi-frame file (per-frame positions, rescale in the shared
        functional groups) instead of one file per slice.
    seed : int
        Seed for shuffled names and junk content.

    Returns
    -------
    list of Path
        The DICOM files written, in slice order (junk files not included).
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    if compression is not None and compression not in COMPRESSIONS:
        raise UsageError(
            f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}"
        )
    if compression is not None and compression not in available_compressions():
        raise UsageError(
            f"no encoder installed for {compression!r}; install pylibjpeg-openjpeg or pyjpegls"
        )
    if bits_stored not in (8, 10, 12, 14, 16):
        raise UsageError(f"bits_stored must be 12, 14 or 16, got {bits_stored}")
    if tilt_deg:
        scan = apply_tilt(scan, tilt_deg)
    if gap_after is not None:
        scan = apply_gap(scan, gap_after, gap_mm)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    slope, intercept = float(rescale[0]), float(rescale[1])
    if pixel_padding_value is not None and pixel_padding_value < 0:
        if signed is False:
            raise UsageError("a negative pixel_padding_value needs signed=True (or None)")
        signed = True
    stored, is_signed = _stored_values(scan.hu, slope, intercept, bits_stored, signed)
    if pixel_padding_value is not None:
        stored = stored.copy()
        stored[:, _fov_mask(scan.shape[1:])] = pixel_padding_value
    iop, spacing = _geometry(scan)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    keep = [k for k in range(scan.shape[0]) if k not in set(drop_slices)]
    thickness = _thickness_per_slice(scan, slice_thickness_mm)
    common = dict(
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=frame_uid,
        modality=modality,
        patient_age=patient_age,
        patient_sex=patient_sex,
        series_description=series_description,
        image_type=image_type,
        series_number=series_number,
        slope=slope,
        intercept=intercept,
        bits_stored=bits_stored,
        signed=is_signed,
        pixel_padding_value=pixel_padding_value,
    )
    tsuid = COMPRESSIONS[compression] if compression else ExplicitVRLittleEndian

    def name(k: int) -> Path:
        stem = f"{rng.getrandbits(48):012x}" if shuffle else f"slice_{k:04d}"
        return folder / f"{stem}{extension}"

    def save(ds: Any, pixels: NDArray[Any], path: Path) -> None:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
        if compression in (None, "implicit", "deflate"):
            ds.file_meta.TransferSyntaxUID = tsuid
        elif compression == "big-endian":
            ds.file_meta.TransferSyntaxUID = tsuid
            ds.PixelData = np.ascontiguousarray(pixels).byteswap().tobytes()
        else:
            ds.compress(tsuid, np.ascontiguousarray(pixels), **_LOSSY_OPTIONS.get(compression, {}))
        ds.save_as(path, enforce_file_format=True)

    paths: list[Path] = []
    if enhanced:
        ds = _base_dataset(scan, sop_class=_ENHANCED_CT_STORAGE, **common)  # type: ignore[arg-type]
        _add_functional_groups(ds, scan, keep, iop, spacing, slope, intercept)
        ds.SOPInstanceUID = generate_uid()
        ds.NumberOfFrames = len(keep)
        path = name(0)
        save(ds, stored[keep], path)
        paths.append(path)
    else:
        for i, k in enumerate(keep):
            ds = _base_dataset(scan, sop_class=_CT_IMAGE_STORAGE, **common)  # type: ignore[arg-type]
            ds.SOPInstanceUID = generate_uid()
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [_ds(v) for v in scan.slice_positions_lps_mm[k]]
            ds.ImageOrientationPatient = [_ds(v) for v in iop]
            ds.PixelSpacing = [_ds(v) for v in spacing]
            ds.SliceLocation = _ds(float(scan.slice_positions_lps_mm[k, 2]))
            ds.SliceThickness = _ds(thickness[k])
            ds.RescaleSlope = _ds(slope)
            ds.RescaleIntercept = _ds(intercept)
            ds.RescaleType = "HU"
            path = name(k)
            save(ds, stored[k], path)
            paths.append(path)
    for j in range(junk_files):
        _write_junk(folder, j, rng)
    return paths


def _add_functional_groups(
    ds: Any,
    scan: CTScan,
    keep: list[int],
    iop: list[float],
    spacing: list[float],
    slope: float,
    intercept: float,
) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    def item(**kw: Any) -> Any:
        it = Dataset()
        for key, value in kw.items():
            setattr(it, key, value)
        return it

    shared = item(
        PlaneOrientationSequence=DicomSequence(
            [item(ImageOrientationPatient=[_ds(v) for v in iop])]
        ),
        PixelMeasuresSequence=DicomSequence(
            [
                item(
                    PixelSpacing=[_ds(v) for v in spacing],
                    SliceThickness=_ds(scan.slice_thickness_mm or scan.spacing_mm[0]),
                )
            ]
        ),
        PixelValueTransformationSequence=DicomSequence(
            [item(RescaleSlope=_ds(slope), RescaleIntercept=_ds(intercept), RescaleType="HU")]
        ),
    )
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [
            item(
                PlanePositionSequence=DicomSequence(
                    [item(ImagePositionPatient=[_ds(v) for v in scan.slice_positions_lps_mm[k]])]
                ),
                FrameContentSequence=DicomSequence([item(InStackPositionNumber=i + 1)]),
            )
            for i, k in enumerate(keep)
        ]
    )


def _write_junk(folder: Path, j: int, rng: random.Random) -> None:
    kind = j % 3
    if kind == 0:
        (folder / f"README_{j}.txt").write_text("exported by a PACS; not an image\n")
    elif kind == 1:
        (folder / f"blob_{j}").write_bytes(bytes(rng.getrandbits(8) for _ in range(2048)))
    else:
        (folder / f".DS_Store_{j}").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)
