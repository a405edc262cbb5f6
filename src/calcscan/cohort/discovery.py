"""Turn the inputs of ``calcscan cohort run`` into a list of studies to process.

Inputs are folders (walked; DICOM files grouped into studies and series by UID from their
headers only, through :func:`calcscan.io.discover_series`), zip files, NIfTI/NRRD/MHA files, or
manifest CSVs listing such paths. Each study becomes one small, picklable :class:`StudyTask`
(paths and keys only: volumes never travel between processes). The same study reached twice
(same folder twice, a copy, the same file content) is kept once and reported as a duplicate;
inputs that cannot be read are reported as problems and the rest carries on.

:func:`iter_discovery` streams: it yields each study (and each duplicate or problem) as soon as
it is known, one input at a time, so a runner can start processing before the whole archive
has been walked. :func:`discover_studies` collects the same stream into a :class:`Discovery`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Discovery",
    "Duplicate",
    "Found",
    "HeaderReader",
    "InputProblem",
    "StudyTask",
    "content_key",
    "discover_studies",
    "expand_inputs",
    "iter_discovery",
]

log = logging.getLogger(__name__)

_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_DICOM_SUFFIXES = {".dcm", ".dicom", ".ima", ""}
_SKIP_SUFFIXES = (".raw", ".json", ".txt", ".md", ".csv", ".png", ".jpg", ".html", ".db")


@dataclass(frozen=True)
class StudyTask:
    """One study to process: what the worker reads, and the keys the store needs.

    Attributes
    ----------
    input_key : str
        Stable key of the study used for resuming (study-level UID hash for DICOM, content
        hash for single files).
    path : str
        What :func:`calcscan.io.read_ct` is given (folder, zip or file).
    series_uid : str or None
        Series chosen for a multi-series DICOM study (None: let the reader choose).
    kind : str
        ``"dicom"``, ``"zip"`` or ``"volume"``.
    label : str
        Non-identifying label for logs and failure records.
    study_instance_uid, accession_number : str or None
        Identifiers used to join demographics (stored only with ``keep_identifiers``).
    """

    input_key: str
    path: str
    series_uid: str | None
    kind: str
    label: str
    study_instance_uid: str | None = None
    accession_number: str | None = None


@dataclass(frozen=True)
class Duplicate:
    """A study reached twice: kept from ``kept_path``, skipped at ``duplicate_path``."""

    input_key: str
    kept_path: str
    duplicate_path: str


@dataclass(frozen=True)
class InputProblem:
    """An input (or part of one) that could not be used, with a one-line reason."""

    path: str
    message: str


@dataclass
class Discovery:
    """Result of :func:`discover_studies`."""

    tasks: list[StudyTask] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    n_inputs: int = 0


#: One item of the discovery stream.
Found = StudyTask | Duplicate | InputProblem
#: Reads DICOM headers of some files (default :func:`calcscan.io.discover_series`); the runner
#: passes one that reads chunks of files on its workers.
HeaderReader = Callable[[list[Path]], Any]
#: Given the volume files about to be keyed, returns ``key_of(path)`` (default
#: :func:`content_key`); the runner passes one that hashes them on its workers.
KeyHasher = Callable[[list[Path]], Callable[[Path], str]]


def _is_volume(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(_VOLUME_SUFFIXES)


def content_key(path: Path) -> str:
    """Key of a non-DICOM study file: hash of its content (with an MHD's raw data file)."""
    from calcscan.io.headers import study_key_from_file

    files = [path]
    if path.name.lower().endswith(".mhd"):
        files += [p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() == ".raw"]
    return study_key_from_file(files)


def _study_key(study_uid: str) -> str:
    return hashlib.sha256(f"study:{study_uid}".encode()).hexdigest()[:16]


def _accession(path: Path | Any) -> str | None:
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


def _dicom_tasks(
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
        if other.suffix.lower() in _DICOM_SUFFIXES:
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
        key = _study_key(study_uid) if study_uid else content_key(chosen_files[0])
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
                accession_number=_accession(chosen_files[0]) if want_accession else None,
            )
        )
    return tasks


def _walk(folder: Path, disc: Discovery) -> tuple[list[Path], list[Path]]:
    """Files of a folder tree split into (volume/zip files, other candidate DICOM files)."""
    volumes: list[Path] = []
    dicoms: list[Path] = []

    def onerror(err: OSError) -> None:
        disc.problems.append(
            InputProblem(str(err.filename or folder), f"cannot read folder: {err.strerror}")
        )

    for root, dirs, names in os.walk(folder, onerror=onerror):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            low = name.lower()
            if _is_volume(path) or low.endswith(".zip"):
                volumes.append(path)
            elif not low.endswith(_SKIP_SUFFIXES) and not name.startswith("."):
                dicoms.append(path)
    return volumes, dicoms


def _manifest_paths(path: Path, disc: Discovery) -> list[Path]:
    """Paths listed in a manifest CSV (column ``path``, else the first column)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        disc.problems.append(InputProblem(str(path), f"cannot read manifest: {exc}"))
        return []
    if not rows:
        disc.problems.append(InputProblem(str(path), "empty manifest"))
        return []
    header = [h.strip().lower() for h in rows[0]]
    col = header.index("path") if "path" in header else 0
    body = rows[1:] if "path" in header else rows
    out = []
    for row in body:
        if len(row) > col and row[col].strip():
            p = Path(row[col].strip()).expanduser()
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def expand_inputs(
    inputs: Sequence[str | os.PathLike[str]], disc: Discovery | None = None
) -> list[Path]:
    """Inputs with manifest CSVs replaced by the paths they list.

    Parameters
    ----------
    inputs : sequence of path-like
        Folders, zip files, volume files or manifest CSVs (one path per row, column ``path``
        or the first column, relative paths taken from the CSV's folder).
    disc : Discovery, optional
        Collects unreadable or empty manifests as problems.

    Returns
    -------
    list of Path
        One path per input (its length is the run's ``n_inputs``).
    """
    disc = disc if disc is not None else Discovery()
    expanded: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.suffix.lower() == ".csv" and path.is_file():
            expanded.extend(_manifest_paths(path, disc))
        else:
            expanded.append(path)
    return expanded


def iter_discovery(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    want_accession: bool = False,
    read_headers: HeaderReader | None = None,
    content_keys: KeyHasher | None = None,
) -> Iterator[Found]:
    """Stream the studies behind the inputs of a cohort run, input by input.

    Volume and zip files are yielded as soon as they are keyed; the DICOM files of a folder
    input are grouped into studies from all of that folder's headers (so the series choice
    and the copy detection see the whole folder), then yielded. A study reached again later
    (another input, a zip of the same study, a copy) is yielded as a :class:`Duplicate`.

    Parameters
    ----------
    inputs : sequence of path-like
        As for :func:`expand_inputs`.
    want_accession : bool
        Also read AccessionNumber (one header per study) for demographics joins.
    read_headers : callable, optional
        ``read_headers(files) -> calcscan.io.DiscoveryResult``; default
        :func:`calcscan.io.discover_series` in this process.
    content_keys : callable, optional
        ``content_keys(files) -> key_of``, ``key_of(path) -> str``; default
        :func:`content_key` in this process.

    Yields
    ------
    StudyTask, Duplicate or InputProblem
        In input order; each unique study exactly once.
    """
    disc = Discovery()
    shown = [0, 0]  # problems and duplicates already yielded

    def flush() -> Iterator[Found]:
        yield from disc.problems[shown[0] :]
        yield from disc.duplicates[shown[1] :]
        shown[:] = [len(disc.problems), len(disc.duplicates)]

    paths = expand_inputs(inputs, disc)
    yield from flush()
    seen: dict[str, str] = {}
    for path in paths:
        for task in _tasks_for(path, disc, want_accession, read_headers, content_keys):
            yield from flush()
            if task.input_key in seen:
                yield Duplicate(task.input_key, seen[task.input_key], task.path)
                continue
            seen[task.input_key] = task.path
            yield task
        yield from flush()


def discover_studies(
    inputs: Sequence[str | os.PathLike[str]], *, want_accession: bool = False
) -> Discovery:
    """Find the studies behind the inputs of a cohort run (all of them, then return).

    Parameters
    ----------
    inputs : sequence of path-like
        Folders, zip files, NIfTI/NRRD/MHA files or manifest CSVs (one path per row, column
        ``path`` or the first column, relative paths taken from the CSV's folder).
    want_accession : bool
        Also read AccessionNumber (one header per study) for demographics joins.

    Returns
    -------
    Discovery
        Unique study tasks in input order, duplicates found, and inputs that could not be used.
    """
    disc = Discovery(n_inputs=len(expand_inputs(inputs)))
    for item in iter_discovery(inputs, want_accession=want_accession):
        if isinstance(item, StudyTask):
            disc.tasks.append(item)
        elif isinstance(item, Duplicate):
            disc.duplicates.append(item)
        else:
            disc.problems.append(item)
    return disc


def _tasks_for(
    path: Path,
    disc: Discovery,
    want_accession: bool,
    read_headers: HeaderReader | None,
    content_keys: KeyHasher | None,
) -> Iterator[StudyTask]:
    """Tasks of one input, each yielded as soon as it is known (problems go to ``disc``)."""
    if not path.exists():
        disc.problems.append(InputProblem(str(path), "does not exist"))
        return
    if not path.is_dir():
        yield from _file_tasks(path, disc, want_accession=want_accession)
        return
    if not os.access(path, os.R_OK | os.X_OK):
        disc.problems.append(InputProblem(str(path), "cannot read folder: permission denied"))
        return
    volumes, dicoms = _walk(path, disc)
    key_of = content_keys([v for v in volumes if _is_volume(v)]) if content_keys else content_key
    n_tasks = 0
    for volume in volumes:
        for task in _file_tasks(volume, disc, want_accession=want_accession, key_of=key_of):
            n_tasks += 1
            yield task
    if dicoms:
        for task in _dicom_tasks(
            dicoms, str(path), disc, want_accession=want_accession, read_headers=read_headers
        ):
            n_tasks += 1
            yield task
    if not n_tasks and not any(p.path.startswith(str(path)) for p in disc.problems):
        disc.problems.append(InputProblem(str(path), "no CT files found in folder"))


def _file_tasks(
    path: Path,
    disc: Discovery,
    *,
    want_accession: bool,
    key_of: Callable[[Path], str] = content_key,
) -> list[StudyTask]:
    try:
        if path.name.lower().endswith(".zip"):
            return _zip_tasks(path, want_accession=want_accession)
        if _is_volume(path):
            key = key_of(path)
            return [StudyTask(key, str(path), None, "volume", f"volume file {key}")]
        return _dicom_tasks([path], str(path), disc, want_accession=want_accession)
    except OSError as exc:
        disc.problems.append(InputProblem(str(path), f"cannot read file: {exc.strerror or exc}"))
        return []


def _zip_tasks(path: Path, *, want_accession: bool) -> list[StudyTask]:
    """A zip is one study, keyed by the StudyInstanceUID of its first DICOM member."""
    import zipfile

    import pydicom

    uid = accession = None
    try:
        with zipfile.ZipFile(path) as zf:
            for member in [m for m in zf.infolist() if not m.is_dir()][:20]:
                with zf.open(member) as fh:
                    try:
                        ds = pydicom.dcmread(
                            fh,
                            stop_before_pixels=True,
                            specific_tags=["StudyInstanceUID", "AccessionNumber"],
                        )
                    except Exception:  # not DICOM: try the next member
                        continue
                uid = str(ds.get("StudyInstanceUID") or "").strip() or None
                accession = str(ds.get("AccessionNumber") or "").strip() or None
                if uid:
                    break
    except zipfile.BadZipFile:
        uid = None  # the worker's reader reports the bad archive
    if uid:
        key = _study_key(uid)
        return [
            StudyTask(
                key,
                str(path),
                None,
                "zip",
                f"zip study {key}",
                study_instance_uid=uid,
                accession_number=accession if want_accession else None,
            )
        ]
    key = content_key(path)
    return [StudyTask(key, str(path), None, "zip", f"zip file {key}")]
