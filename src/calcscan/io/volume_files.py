"""NIfTI, NRRD and MetaImage (MHA/MHD) volumes <-> :class:`CTScan`.

NIfTI stores a RAS affine: it is converted to LPS (negate x and y) on reading and back on
writing. NRRD and MetaImage are read with SimpleITK, whose geometry is already LPS. The voxel
array is reordered to (slice, row, col) with the affine columns permuted alongside it, so world
coordinates never change.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.errors import InputError
from calcscan.io.headers import study_key_from_file
from calcscan.io.spacing import analyze_slice_positions
from calcscan.scan import CTScan

__all__ = ["VOLUME_SUFFIXES", "read_volume_file", "volume_format", "write_nifti"]

log = logging.getLogger(__name__)

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: File name endings handled here and the format name each maps to.
VOLUME_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "mha",
    ".mhd": "mhd",
}


def volume_format(path: Path) -> str | None:
    """Format name of a volume file from its name (``"nifti"``, ``"nrrd"``...), else None."""
    name = path.name.lower()
    for suffix, fmt in VOLUME_SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def write_nifti(scan: CTScan, path: str | Path) -> Path:
    """Write ``scan`` as NIfTI-1 with a RAS affine (voxel axes i=col, j=row, k=slice).

    The LPS affine is converted to RAS. NIfTI carries one affine only: per-slice positions of
    an irregularly spaced series are not stored (a warning is logged); a gantry-tilt shear is
    kept in the sform.

    Parameters
    ----------
    scan : CTScan
    path : str or Path
        ``.nii`` or ``.nii.gz``.

    Returns
    -------
    Path
        The file written.
    """
    import nibabel as nib

    path = Path(path)
    expected = CTScan.from_affine(scan.hu, scan.affine_lps).slice_positions_lps_mm
    if not np.allclose(expected, scan.slice_positions_lps_mm, atol=1e-3):
        log.warning("%s: irregular slice positions are not representable in NIfTI", path.name)
    aff_ijk = scan.affine_lps[:, [2, 1, 0, 3]]
    aff_ras = _RAS_TO_LPS @ aff_ijk
    data = np.transpose(np.asarray(scan.hu), (2, 1, 0))
    if np.issubdtype(data.dtype, np.floating) and np.array_equal(data, np.rint(data)):
        if data.min() >= -32768 and data.max() <= 32767:
            data = data.astype(np.int16)
    img = nib.Nifti1Image(data, aff_ras)
    img.set_sform(aff_ras, code=1)
    img.set_qform(aff_ras, code=1)
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return path


def read_volume_file(path: Path, *, source_path: str | None = None) -> CTScan:
    """Read a NIfTI, NRRD or MHA/MHD file as a :class:`CTScan` in LPS.

    Parameters
    ----------
    path : Path
        The volume file; its values are taken as HU.
    source_path : str, optional
        Input path to record (defaults to ``path``).

    Returns
    -------
    CTScan
    """
    fmt = volume_format(path)
    if fmt is None:
        raise InputError(f"{path}: not a NIfTI, NRRD or MHA/MHD file")
    try:
        if fmt == "nifti":
            hu, affine, extra = _read_nifti(path)
            key_files = [path]
        else:
            hu, affine, extra = _read_itk(path)
            key_files = [path, *extra.pop("data_files", [])]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"{path}: cannot read {fmt} file ({type(exc).__name__}: {exc}); check that it is "
            "complete"
        ) from exc
    if hu.shape[0] < 2:
        raise InputError(f"{path}: one slice is not a volume; give a series with 2+ slices")
    warnings: list[str] = []
    finite = np.isfinite(hu)
    if not finite.all():
        warnings.append(f"{int((~finite).sum())} non-finite voxels set to -1000 HU")
        hu = np.where(finite, hu, np.float32(-1000.0)).astype(hu.dtype)
    if float(hu.min()) > -500.0:
        warnings.append(
            f"no voxel below -500 HU (min {float(hu.min()):.0f}): values may not be Hounsfield "
            "units"
        )
    for w in warnings:
        log.warning("%s: %s", path.name, w)
    provenance: dict[str, Any] = {"source_format": fmt, "n_files": len(key_files), **extra}
    scan = CTScan.from_affine(
        hu,
        affine,
        study_key=study_key_from_file(key_files),
        source_path=source_path if source_path is not None else str(path),
        provenance=provenance,
        warnings=warnings,
    )
    spacing = analyze_slice_positions(scan.slice_positions_lps_mm, scan.slice_normal_lps)
    provenance.update(spacing.facts)
    provenance["gantry_tilt_deg"] = round(scan.gantry_tilt_deg, 3)
    return scan


def _as_hu(data: NDArray[Any]) -> NDArray[Any]:
    if data.dtype == np.int16 or data.dtype == np.float32:
        return data
    if np.issubdtype(data.dtype, np.integer) and data.min() >= -32768 and data.max() <= 32767:
        return data.astype(np.int16)
    return data.astype(np.float32)


def _read_nifti(path: Path) -> tuple[NDArray[Any], NDArray[np.float64], dict[str, Any]]:
    import nibabel as nib

    img: Any = nib.load(str(path))
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{path}: NIfTI has shape {img.shape}; a 3-D CT volume is needed")
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if slope == 1.0 and inter == 0.0:
        raw = np.asarray(img.dataobj.get_unscaled())
    else:
        raw = np.asarray(img.dataobj, dtype=np.float32)
    data = raw.reshape(shape)
    hu = np.ascontiguousarray(np.transpose(_as_hu(data), (2, 1, 0)))
    aff_ras = np.asarray(img.affine, dtype=np.float64)
    aff_lps = _RAS_TO_LPS @ aff_ras
    affine = aff_lps[:, [2, 1, 0, 3]]
    extra = {"nifti_sform_code": int(img.header["sform_code"])}
    return hu, affine, extra


def _read_itk(path: Path) -> tuple[NDArray[Any], NDArray[np.float64], dict[str, Any]]:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    img = reader.Execute()
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{path}: image has {img.GetDimension()} dimensions and "
            f"{img.GetNumberOfComponentsPerPixel()} components; a 3-D CT volume is needed"
        )
    data = sitk.GetArrayFromImage(img)  # (z, y, x) == (slice, row, col)
    spacing = np.asarray(img.GetSpacing(), dtype=np.float64)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, 0] = direction[:, 2] * spacing[2]
    affine[:3, 1] = direction[:, 1] * spacing[1]
    affine[:3, 2] = direction[:, 0] * spacing[0]
    affine[:3, 3] = img.GetOrigin()
    extra: dict[str, Any] = {}
    if path.suffix.lower() == ".mhd":
        extra["data_files"] = _mhd_data_files(path)
    return np.ascontiguousarray(_as_hu(data)), affine, extra


def _mhd_data_files(path: Path) -> list[Path]:
    """Raw data file(s) named by the ElementDataFile line of a MetaImage header."""
    for line in path.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ElementDataFile":
            candidate = path.parent / value.strip()
            return [candidate] if candidate.is_file() else []
    return []
