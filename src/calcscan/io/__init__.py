"""CT input and output: read any supported CT input into a :class:`~calcscan.scan.CTScan`,
discover and choose DICOM series, and write synthetic DICOM series and NIfTI files.

Public API
----------
read_ct(path, *, series_uid=None) -> CTScan
discover_series(paths) -> DiscoveryResult; choose_series(series) -> (SeriesInfo, reason)
read_dicom_frames(path) -> DicomFrames (one file's frames in HU, e.g. single slices)
write_dicom_series(scan, folder, ...) -> list[Path]; write_nifti(scan, path) -> Path
"""

from calcscan.io.choose import choose_series
from calcscan.io.decode import DicomFrames, read_dicom_frames
from calcscan.io.dicom_write import COMPRESSIONS, available_compressions, write_dicom_series
from calcscan.io.discover import DiscoveryResult, FileHeader, SeriesInfo, discover_series
from calcscan.io.geometry_edits import apply_gap, apply_tilt
from calcscan.io.headers import parse_patient_age, parse_patient_sex
from calcscan.io.reader import read_ct, read_ct_with_discovery
from calcscan.io.volume_files import read_volume_file, write_nifti

__all__ = [
    "COMPRESSIONS",
    "DicomFrames",
    "DiscoveryResult",
    "FileHeader",
    "SeriesInfo",
    "apply_gap",
    "apply_tilt",
    "available_compressions",
    "choose_series",
    "discover_series",
    "parse_patient_age",
    "parse_patient_sex",
    "read_ct",
    "read_ct_with_discovery",
    "read_dicom_frames",
    "read_volume_file",
    "write_dicom_series",
    "write_nifti",
]
