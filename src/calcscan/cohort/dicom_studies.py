"""DICOM files of an input grouped into studies (from headers only), one task per study.

The series read for a study is chosen by :func:`calcscan.io.choose_series`; folders that only
repeat SOP instances already seen (a copy of the study) are reported as duplicates.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calcscan.cohort.tasks import (
    Discovery,
    Duplicate,
    InputProblem,
    StudyTask,
    content_key,
    uid_input_key,
)

__all__ = ["DICOM_SUFFIXES", "HeaderReader", "accession_number", "dicom_tasks"]

log = logging.getLogger(__name__)

#: Suffixes of files taken for DICOM (a file without suffix too).
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima", ""}
#: Reads DICOM headers of some files (default :func:`calcscan.io.discover_series`); the runner
#: passes one that reads chunks of files on its workers.
HeaderReader = Callable[[list[Path]], Any]


def accession_number(path: Path | Any) -> str | None:
    """AccessionNumber of one DICOM file (path or open file), or None."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["AccessionNumber"])
    except Exception:  # unreadable header: no accession to join on
        return None
    value = str(ds.get("AccessionNumber") or "").strip()
    return value or None


def _drop_copies(files: list[Any]) -> tuple[list[Path], list[Path]]:
    """Split a series' files by folder; folders repeating SOP instances already seen are copies.

    A series legitimately spread over several folders has disjoint SOPInstanceUIDs and is kept
    whole. Returns the files to read and the folders that only hold copies.
    """
    by_dir: dict[Path, list[Any]] = defaultdict(list)
    for header in files:
        by_dir[Path(header.path).parent].append(header)
    kept: list[Path] = []
    copies: list[Path] = []
    seen: set[str] = set()
    for folder, headers in by_dir.items():
        sops = {str(h.sop_instance_uid) for h in headers if h.sop_instance_uid}
        if sops and sops <= seen:
            copies.append(folder)
            continue
        seen |= sops
        kept.extend(Path(h.path) for h in headers)
    return kept, copies


def dicom_tasks(
    files: list[Path],
    source: str,
    disc: Discovery,
    *,
    want_accession: bool,
    read_headers: HeaderReader | None = None,
) -> list[StudyTask]:
    """Group DICOM files into studies by UID (headers only) and make one task per study."""
    from calcscan.io import choose_series, discover_series

    try:
        found = (read_headers or discover_series)(files)
    except Exception as exc:  # unreadable headers for the whole input
        disc.problems.append(InputProblem(source, f"no readable DICOM series: {exc}"))
        return []
    good_dirs = {p.parent for s in found.series for p in s.paths}
    bad_dirs: dict[Path, list[str]] = defaultdict(list)
    for bad_path, reason in found.corrupt:
        bad_dirs[bad_path.parent].append(reason)
    for other in found.non_dicom:  # named like DICOM, yet not readable as DICOM
        if other.suffix.lower() in DICOM_SUFFIXES:
            bad_dirs[other.parent].append(f"{other.name} is not a readable DICOM file")
    for folder, reasons in bad_dirs.items():
        if folder in good_dirs:  # the reader skips them and reads the rest of the series
            log.warning("%s: %d DICOM files with unreadable headers", folder, len(reasons))
        else:
            disc.problems.append(
                InputProblem(
                    str(folder),
                    f"no readable DICOM series: {len(reasons)} files with unreadable headers "
                    f"({reasons[0]})",
                )
            )
    by_study: dict[str, list[Any]] = defaultdict(list)
    for series in found.series:
        by_study[str(series.study_uid or "")].append(series)
    tasks = []
    for study_uid, members in by_study.items():
        try:
            chosen, reason = choose_series(members)
            log.debug("study %s: %s", study_uid, reason)
            chosen_files, copies = _drop_copies(chosen.files)
            series_uid: str | None = chosen.series_uid
        except Exception as exc:  # no CT among them: the worker's read_ct reports the reason
            log.debug("study %s: no series chosen (%s)", study_uid, exc)
            chosen_files = [p for s in members for p in s.paths]
            copies = []
            series_uid = None
        study_dir = os.path.commonpath([str(f.parent) for f in chosen_files])
        key = uid_input_key(study_uid) if study_uid else content_key(chosen_files[0])
        for copy in copies:
            disc.duplicates.append(Duplicate(key, str(chosen_files[0].parent), str(copy)))
        tasks.append(
            StudyTask(
                input_key=key,
                path=study_dir,
                series_uid=series_uid,
                kind="dicom",
                label=f"dicom study {key}",
                study_instance_uid=study_uid or None,
                accession_number=accession_number(chosen_files[0]) if want_accession else None,
            )
        )
    return tasks
