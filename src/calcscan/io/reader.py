"""``read_ct``: any supported CT input path -> :class:`CTScan`, or a one-line refusal."""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

from calcscan.errors import InputError
from calcscan.io.choose import choose_series
from calcscan.io.dicom_read import read_series
from calcscan.io.discover import DiscoveryResult, discover_series
from calcscan.io.volume_files import read_volume_file, volume_format
from calcscan.scan import CTScan

__all__ = ["read_ct", "read_ct_with_discovery"]

log = logging.getLogger(__name__)

_SUPPORTED = "a DICOM folder or .zip, NIfTI (.nii/.nii.gz), NRRD or MHA/MHD file"


def _extract_zip(path: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            root = dest.resolve()
            for member in zf.infolist():
                if member.is_dir():
                    continue
                target = (dest / member.filename).resolve()
                if not target.is_relative_to(root):  # zip slip
                    raise InputError(f"{path}: unsafe member path {member.filename!r} in zip")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: not a valid zip file ({exc}); re-create the archive") from exc


class _OnlyVolumeFiles(InputError):
    """No DICOM in a folder, but volume files (NIfTI, NRRD, MHA/MHD)."""

    def __init__(self, message: str, volumes: list[Path]) -> None:
        super().__init__(message)
        self.volumes = volumes


def _discover_checked(root: Path, shown: str) -> DiscoveryResult:
    found = discover_series(root)
    if found.n_files == 0:
        raise InputError(f"{shown}: empty folder; give a folder holding a CT series")
    if not found.series:
        if found.corrupt:
            raise InputError(
                f"{shown}: no readable DICOM ({len(found.corrupt)} corrupt file(s), e.g. "
                f"{found.corrupt[0][0].name}); re-export the series"
            )
        volumes = [q for q in found.non_dicom if volume_format(q) is not None]
        if volumes:
            raise _OnlyVolumeFiles(
                f"{shown}: no DICOM files, but {len(volumes)} volume file(s) such as "
                f"{volumes[0].name}; give that file as the input",
                volumes,
            )
        raise InputError(
            f"{shown}: no DICOM files among {found.n_files} file(s); give {_SUPPORTED}"
        )
    if found.non_dicom:
        log.info("%s: ignored %d non-DICOM file(s)", shown, len(found.non_dicom))
    return found


def read_ct(path: str | Path, *, series_uid: str | None = None) -> CTScan:
    """Read a CT from a DICOM folder, study folder, .zip, NIfTI, NRRD or MHA/MHD file.

    For DICOM the series is chosen by :func:`calcscan.io.choose_series` (CT, axial, ORIGINAL,
    covering the face, thinnest slices first) unless ``series_uid`` is given; the reason is
    logged and kept in ``provenance["series_choice_reason"]``.

    Parameters
    ----------
    path : str or Path
        The input.
    series_uid : str, optional
        SeriesInstanceUID to read instead of the automatic choice.

    Returns
    -------
    CTScan
        HU volume (slice, row, col) float32 (int16 for integer volume files), LPS affine,
        per-slice positions, provenance, age/sex and warnings.

    Raises
    ------
    InputError
        Unusable input, with a one-line reason (exit code 2).
    UsageError
        ``series_uid`` not found in the input (exit code 1).
    """
    return read_ct_with_discovery(path, series_uid=series_uid)[0]


def read_ct_with_discovery(
    path: str | Path, *, series_uid: str | None = None
) -> tuple[CTScan, DiscoveryResult | None]:
    """Like :func:`read_ct`, also returning the DICOM discovery (None for volume files).

    Headers are read once: the same discovery chooses the series and describes the input
    (``calcscan info``).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"path does not exist: {path}; check the path")
    if p.is_file():
        if volume_format(p) is not None:
            return read_volume_file(p, source_path=str(path)), None
        if zipfile.is_zipfile(p):
            with tempfile.TemporaryDirectory(prefix="calcscan_zip_") as tmp:
                _extract_zip(p, Path(tmp))
                try:
                    scan, found = _read_dicom(Path(tmp), str(path), series_uid)
                except _OnlyVolumeFiles as exc:
                    if len(exc.volumes) != 1:
                        raise
                    # a zip holding one NIfTI/NRRD/MHA volume: read it
                    volume = read_volume_file(exc.volumes[0], source_path=str(path))
                    volume.provenance["source_format"] += "-zip"
                    return volume, None
            scan.provenance["source_format"] = "dicom-zip"
            return scan, found
    return _read_dicom(p, str(path), series_uid)


def _read_dicom(root: Path, shown: str, series_uid: str | None) -> tuple[CTScan, DiscoveryResult]:
    found = _discover_checked(root, shown)
    chosen, reason = choose_series(found.series, series_uid=series_uid)
    log.info("%s: %d series found; chose %s", shown, len(found.series), reason)
    scan = read_series(chosen, source_path=shown, reason=reason, skipped_corrupt=found.corrupt)
    studies = {s.study_uid for s in found.series}
    if len(studies) > 1:
        msg = (
            f"the input holds {len(studies)} studies; read one series of one of them "
            "(choose another with --series, or give one study per input)"
        )
        scan.warnings.append(msg)
        log.warning("%s: %s", shown, msg)
    scan.provenance["n_studies_found"] = len(studies)
    scan.provenance["n_series_found"] = len(found.series)
    scan.provenance["n_non_dicom_files"] = len(found.non_dicom)
    return scan, found
