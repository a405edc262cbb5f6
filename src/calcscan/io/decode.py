"""Decode the pixels of one DICOM file to Hounsfield units.

Pixel data are decoded by pydicom with its plugins (pylibjpeg-openjpeg for JPEG 2000,
pylibjpeg-libjpeg/pyjpegls/GDCM for JPEG and JPEG-LS, RLE), never by hand. Rescale
slope/intercept are taken per file, or per frame from the functional groups of enhanced
multi-frame objects; padding pixels become air.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.errors import InputError

__all__ = ["AIR_HU", "MIN_HU", "DicomFrames", "decode_hu", "read_dicom_frames"]

#: HU given to padding pixels (PixelPaddingValue / PixelPaddingRangeLimit).
AIR_HU = -1000.0
#: HU below this (outside the reconstruction circle) are raised to it.
MIN_HU = -1024.0


@dataclass(frozen=True)
class DicomFrames:
    """The frames of one DICOM file in HU with their geometry.

    Attributes
    ----------
    hu : ndarray, shape (n_frames, rows, cols), float32
    positions_lps_mm : ndarray, shape (n_frames, 3) or None
    orientation : tuple of 6 float or None
    pixel_spacing_mm : tuple of 2 float or None
    transfer_syntax : str
    n_padding_pixels : int
        Pixels equal to the padding value (set to :data:`AIR_HU`).
    """

    hu: NDArray[np.float32]
    positions_lps_mm: NDArray[np.float64] | None
    orientation: tuple[float, ...] | None
    pixel_spacing_mm: tuple[float, float] | None
    transfer_syntax: str
    n_padding_pixels: int


def _frame_item(ds: Any, seq: str, index: int) -> Any:
    """Item of functional-group macro ``seq`` for frame ``index`` (per-frame wins over shared)."""
    for groups, i in (
        ("PerFrameFunctionalGroupsSequence", index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        items = ds.get(groups)
        if items and len(items) > i and seq in items[i] and items[i][seq].value:
            return items[i][seq].value[0]
    return None


def _rescale(ds: Any, n_frames: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    slopes = np.ones(n_frames)
    intercepts = np.zeros(n_frames)
    top_slope, top_inter = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    for i in range(n_frames):
        item = _frame_item(ds, "PixelValueTransformationSequence", i)
        slope = item.get("RescaleSlope") if item is not None else None
        inter = item.get("RescaleIntercept") if item is not None else None
        slope = top_slope if slope in (None, "") else slope
        inter = top_inter if inter in (None, "") else inter
        slopes[i] = float(slope) if slope not in (None, "") else 1.0
        intercepts[i] = float(inter) if inter not in (None, "") else 0.0
    return slopes, intercepts


def _padding_mask(ds: Any, raw: NDArray[Any]) -> NDArray[np.bool_] | None:
    pad = ds.get("PixelPaddingValue")
    if pad is None:
        return None
    pad = int(pad)
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        return np.asarray(raw == pad)
    lo, hi = sorted((pad, int(limit)))
    return np.asarray((raw >= lo) & (raw <= hi))


#: Decoder packages to suggest per transfer-syntax family when decoding fails.
_DECODER_HINTS = {
    "JPEG Extended": "pylibjpeg-libjpeg",
    "JPEG Baseline": "pylibjpeg-libjpeg or pillow",
    "JPEG Lossless": "pylibjpeg-libjpeg or python-gdcm",
    "JPEG-LS": "pyjpegls or python-gdcm",
    "JPEG 2000": "pylibjpeg-openjpeg or python-gdcm",
    "RLE": "pylibjpeg-rle",
}


def decode_failure_message(path: Path, ds: Any, exc: Exception) -> str:
    """One-line reason why the pixels of ``path`` could not be decoded."""
    tsuid = ds.file_meta.get("TransferSyntaxUID") if ds is not None else None
    name = getattr(tsuid, "name", str(tsuid)) if tsuid is not None else "unknown"
    if isinstance(exc, RuntimeError | NotImplementedError) and "plugin" in str(exc).lower():
        hint = next((v for k, v in _DECODER_HINTS.items() if name.startswith(k)), "a decoder")
        return f"{path.name}: no working decoder for {name}; install {hint}"
    first = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{path.name}: cannot decode pixels ({type(exc).__name__}: {first})"


def ensure_transfer_syntax(ds: Any) -> None:
    """Raw DICOM without file meta: record the encoding pydicom detected as its syntax."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def decode_hu(ds: Any, out: NDArray[np.float32] | None = None) -> tuple[NDArray[np.float32], int]:
    """Decode the pixels of a dataset to HU.

    Applies the rescale (per frame for enhanced objects), sets padding pixels to
    :data:`AIR_HU` and raises values below :data:`MIN_HU` to it.

    Parameters
    ----------
    ds : pydicom.Dataset
        A full dataset (with pixel data).
    out : ndarray, shape (n_frames, rows, cols), optional
        Where to write the result (avoids a copy when stacking a series).

    Returns
    -------
    (ndarray, int)
        HU frames (n_frames, rows, cols) float32 and the number of padding pixels.
    """
    samples = int(ds.get("SamplesPerPixel") or 1)
    if samples != 1:
        raise InputError(
            f"{samples} samples per pixel ({ds.get('PhotometricInterpretation', '?')}): a "
            "colour image, not CT grey levels; give the original CT series"
        )
    raw = ds.pixel_array
    if raw.ndim == 2:
        raw = raw[None]
    if raw.ndim != 3:
        raise InputError(f"pixel data has shape {raw.shape}; a grey-level CT image is needed")
    n = raw.shape[0]
    slopes, intercepts = _rescale(ds, n)
    hu = out if out is not None else np.empty(raw.shape, dtype=np.float32)
    if np.all(slopes == 1.0):
        np.add(
            raw,
            np.float32(intercepts[0])
            if np.all(intercepts == intercepts[0])
            else intercepts[:, None, None].astype(np.float32),
            out=hu,
            casting="unsafe",
        )
    else:
        np.multiply(raw, slopes[:, None, None].astype(np.float32), out=hu, casting="unsafe")
        hu += intercepts[:, None, None].astype(np.float32)
    mask = _padding_mask(ds, raw)
    n_pad = 0
    if mask is not None:
        n_pad = int(mask.sum())
        if n_pad:
            hu[mask] = AIR_HU
    np.maximum(hu, np.float32(MIN_HU), out=hu)
    return hu, n_pad


def read_dicom_frames(path: str | Path) -> DicomFrames:
    """Read every frame of one DICOM file (single- or multi-frame) in HU.

    Useful for single images and transfer-syntax checks that :func:`calcscan.io.read_ct`
    refuses as volumes.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    DicomFrames
    """
    import pydicom

    from calcscan.io.discover import file_header_from_dataset

    path = Path(path)
    if not path.is_file():
        raise InputError(f"path does not exist: {path}; check the path")
    ds = None
    try:
        ds = pydicom.dcmread(path, force=True)
        ensure_transfer_syntax(ds)
        hu, n_pad = decode_hu(ds)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(decode_failure_message(path, ds, exc)) from exc
    head = file_header_from_dataset(path, ds)
    tsuid = ds.file_meta.get("TransferSyntaxUID")
    return DicomFrames(
        hu=hu,
        positions_lps_mm=head.positions_lps_mm,
        orientation=head.orientation,
        pixel_spacing_mm=head.pixel_spacing_mm,
        transfer_syntax=getattr(tsuid, "name", str(tsuid)),
        n_padding_pixels=n_pad,
    )
