"""Find the DICOM series in files and folders from their headers.

Headers are read without pixel data and only for the tags needed here, so discovery over a whole
archive export stays cheap. Files that are not DICOM are counted and ignored; DICOM files whose
header cannot be parsed are reported as corrupt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan.io.headers import PROVENANCE_KEYWORDS

__all__ = [
    "DiscoveryResult",
    "FileHeader",
    "SeriesInfo",
    "discover_series",
    "scan_files",
]

_HEADER_TAGS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "PatientAge",
    "PatientSex",
    "PatientBirthDate",
    "StudyDate",
    *PROVENANCE_KEYWORDS,
]
_DICOMDIR_SOP = "1.2.840.10008.1.3.10"
_LOCALIZER_WORDS = {"LOCALIZER", "SCOUT", "TOPOGRAM", "SCANOGRAM"}


@dataclass(frozen=True)
class FileHeader:
    """Geometry of one DICOM file (a slice, or a multi-frame object) from its header.

    Attributes
    ----------
    path : Path
    sop_instance_uid : str
    positions_lps_mm : ndarray, shape (n_frames, 3) or None
        ImagePositionPatient of each frame (None when absent).
    orientation : tuple of 6 float or None
        ImageOrientationPatient (row cosines, then column cosines).
    pixel_spacing_mm : tuple of 2 float or None
        (row spacing, column spacing).
    rows, cols, n_frames : int
    slice_thickness_mm : float or None
    instance_number : int or None
    """

    path: Path
    sop_instance_uid: str
    positions_lps_mm: NDArray[np.float64] | None
    orientation: tuple[float, ...] | None
    pixel_spacing_mm: tuple[float, float] | None
    rows: int
    cols: int
    n_frames: int
    slice_thickness_mm: float | None
    instance_number: int | None


@dataclass
class SeriesInfo:
    """One DICOM series found by :func:`discover_series`.

    Attributes
    ----------
    study_uid, series_uid : str
    modality : str
    image_type : tuple of str
    description : str
    series_number : int or None
    files : list of FileHeader
        One entry per file, in discovery order.
    header : pydicom.Dataset
        Header (selected tags, no pixels) of the first file: provenance and demographics.
    """

    study_uid: str
    series_uid: str
    modality: str
    image_type: tuple[str, ...]
    description: str
    series_number: int | None
    files: list[FileHeader] = field(default_factory=list)
    header: Any = None

    @property
    def paths(self) -> list[Path]:
        """Paths of the series' files."""
        return [f.path for f in self.files]

    @property
    def n_files(self) -> int:
        """Number of files."""
        return len(self.files)

    @property
    def n_slices(self) -> int:
        """Number of image frames (slices) over all files."""
        return sum(f.n_frames for f in self.files)

    @property
    def orientation(self) -> tuple[float, ...] | None:
        """ImageOrientationPatient of the first file."""
        return self.files[0].orientation if self.files else None

    @property
    def pixel_spacing_mm(self) -> tuple[float, float] | None:
        """PixelSpacing (row, col) of the first file."""
        return self.files[0].pixel_spacing_mm if self.files else None

    @property
    def slice_thickness_mm(self) -> float | None:
        """Thinnest nominal slice thickness among the files."""
        values = [f.slice_thickness_mm for f in self.files if f.slice_thickness_mm]
        return min(values) if values else None

    @property
    def is_enhanced(self) -> bool:
        """True for a multi-frame (enhanced) object."""
        return any(f.n_frames > 1 for f in self.files)

    @property
    def normal(self) -> NDArray[np.float64] | None:
        """Unit normal of the image planes (row cosines x column cosines)."""
        iop = self.orientation
        if iop is None:
            return None
        n = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:6]))
        norm = float(np.linalg.norm(n))
        return n / norm if norm > 0 else None

    @property
    def is_axial(self) -> bool:
        """Image planes within 45 degrees of axial (gantry-tilted heads stay axial)."""
        n = self.normal
        return bool(n is not None and abs(float(n[2])) >= np.cos(np.radians(45)))

    @property
    def is_original(self) -> bool:
        """ImageType starts with ORIGINAL."""
        return bool(self.image_type) and self.image_type[0] == "ORIGINAL"

    @property
    def is_localizer(self) -> bool:
        """ImageType marks a localizer/scout, or the series has one image."""
        return bool(_LOCALIZER_WORDS & set(self.image_type))

    @property
    def coverage_mm(self) -> float:
        """Extent of the slice positions along the plane normal (0 if unknown)."""
        n = self.normal
        pos = [f.positions_lps_mm for f in self.files if f.positions_lps_mm is not None]
        if n is None or not pos:
            return 0.0
        d = np.concatenate(pos) @ n
        return float(d.max() - d.min())

    def summary(self) -> dict[str, Any]:
        """Plain-value description (for ``calcscan info`` and logs)."""
        return {
            "series_instance_uid": self.series_uid,
            "study_instance_uid": self.study_uid,
            "series_number": self.series_number,
            "description": self.description,
            "modality": self.modality,
            "image_type": list(self.image_type),
            "n_files": self.n_files,
            "n_slices": self.n_slices,
            "slice_thickness_mm": self.slice_thickness_mm,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "orientation": list(self.orientation) if self.orientation else None,
            "axial": self.is_axial,
            "coverage_mm": round(self.coverage_mm, 3),
        }

    def label(self) -> str:
        """Short human label: number, description, slices and thickness."""
        thick = self.slice_thickness_mm
        parts = [f"series {self.series_number}" if self.series_number is not None else "series"]
        if self.description:
            parts.append(repr(self.description))
        parts.append(
            f"({self.modality} {' '.join(self.image_type[:3])}, {self.n_slices} slices"
            + (f" of {thick:g} mm" if thick else "")
            + f", {self.coverage_mm:.0f} mm covered)"
        )
        return " ".join(parts)


@dataclass
class DiscoveryResult:
    """Series found in some files, plus what was skipped.

    Attributes
    ----------
    series : list of SeriesInfo
    n_files : int
        Files examined.
    non_dicom : list of Path
        Files that are not DICOM (ignored).
    corrupt : list of tuple (Path, str)
        DICOM-looking files whose header could not be read, with the reason.
    """

    series: list[SeriesInfo]
    n_files: int
    non_dicom: list[Path]
    corrupt: list[tuple[Path, str]]


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _first(seq_item: Any, seq: str, keyword: str) -> Any:
    if seq_item is None or seq not in seq_item or not seq_item[seq].value:
        return None
    return seq_item[seq].value[0].get(keyword)


def file_header_from_dataset(path: Path, ds: Any) -> FileHeader:
    n_frames = int(ds.get("NumberOfFrames") or 1)
    iop = _floats(ds.get("ImageOrientationPatient"), 6)
    spacing = _floats(ds.get("PixelSpacing"), 2)
    thickness = ds.get("SliceThickness")
    positions: NDArray[np.float64] | None = None
    ipp = _floats(ds.get("ImagePositionPatient"), 3)
    if ipp is not None:
        positions = np.asarray([ipp], dtype=np.float64)
    shared = (
        ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    )
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if shared is not None or per_frame is not None:
        frame0 = per_frame[0] if per_frame else None
        for item in (shared, frame0):
            iop = (
                _floats(_first(item, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
                or iop
            )
            spacing = _floats(_first(item, "PixelMeasuresSequence", "PixelSpacing"), 2) or spacing
            thickness = _first(item, "PixelMeasuresSequence", "SliceThickness") or thickness
        if per_frame:
            frames = [
                _floats(_first(it, "PlanePositionSequence", "ImagePositionPatient"), 3)
                for it in per_frame
            ]
            if all(p is not None for p in frames):
                positions = np.asarray(frames, dtype=np.float64)
    try:
        thickness_mm = float(thickness) if thickness not in (None, "") else None
    except (TypeError, ValueError):
        thickness_mm = None
    inst = ds.get("InstanceNumber")
    return FileHeader(
        path=path,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        positions_lps_mm=positions,
        orientation=iop,
        pixel_spacing_mm=(spacing[0], spacing[1]) if spacing else None,
        rows=int(ds.get("Rows") or 0),
        cols=int(ds.get("Columns") or 0),
        n_frames=n_frames,
        slice_thickness_mm=thickness_mm,
        instance_number=int(inst) if inst not in (None, "") else None,
    )


def _looks_like_raw_dicom(path: Path) -> bool:
    """DICOM without the 128-byte preamble: starts with a group 0x0002 or 0x0008 tag."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return len(head) == 4 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3] == 0


def scan_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of regular files."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file()))
        elif p.is_file():
            out.append(p)
    return out


def discover_series(paths: str | Path | Iterable[str | Path]) -> DiscoveryResult:
    """Group DICOM files into series by reading their headers only.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and/or folders (searched recursively). Non-DICOM files are ignored.

    Returns
    -------
    DiscoveryResult
        Series (grouped by StudyInstanceUID + SeriesInstanceUID, in order of first
        appearance), the number of files examined, the non-DICOM and the corrupt files.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    files = scan_files(paths)
    groups: dict[tuple[str, str], SeriesInfo] = {}
    non_dicom: list[Path] = []
    corrupt: list[tuple[Path, str]] = []
    for path in files:
        try:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
            except InvalidDicomError:
                if not _looks_like_raw_dicom(path):
                    non_dicom.append(path)
                    continue
                ds = pydicom.dcmread(
                    path, stop_before_pixels=True, specific_tags=_HEADER_TAGS, force=True
                )
        except Exception as exc:  # truncated or garbled header
            corrupt.append((path, f"{type(exc).__name__}: {exc}"))
            continue
        if str(ds.get("SOPClassUID", "")) == _DICOMDIR_SOP:
            non_dicom.append(path)
            continue
        if "SeriesInstanceUID" not in ds:
            corrupt.append((path, "no SeriesInstanceUID (truncated header?)"))
            continue
        key = (str(ds.get("StudyInstanceUID", "")), str(ds.SeriesInstanceUID))
        info = groups.get(key)
        if info is None:
            series_number = ds.get("SeriesNumber")
            info = SeriesInfo(
                study_uid=key[0],
                series_uid=key[1],
                modality=str(ds.get("Modality", "") or "").strip().upper(),
                image_type=tuple(str(v).strip().upper() for v in ds.get("ImageType") or ()),
                description=str(ds.get("SeriesDescription", "") or "").strip(),
                series_number=int(series_number) if series_number not in (None, "") else None,
                header=ds,
            )
            groups[key] = info
        try:
            info.files.append(file_header_from_dataset(path, ds))
        except Exception as exc:
            corrupt.append((path, f"unreadable geometry ({type(exc).__name__}: {exc})"))
    return DiscoveryResult(list(groups.values()), len(files), non_dicom, corrupt)
