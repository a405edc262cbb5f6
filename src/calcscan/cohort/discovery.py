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
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from calcscan.cohort.dicom_studies import HeaderReader, dicom_tasks
from calcscan.cohort.tasks import (
    Discovery,
    Duplicate,
    Found,
    InputProblem,
    StudyTask,
    content_key,
    uid_input_key,
)

__all__ = [
    "Discovery",
    "Duplicate",
    "Found",
    "HeaderReader",
    "InputProblem",
    "KeyHasher",
    "StudyTask",
    "content_key",
    "discover_studies",
    "expand_inputs",
    "iter_discovery",
]

log = logging.getLogger(__name__)

_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_SKIP_SUFFIXES = (".raw", ".json", ".txt", ".md", ".csv", ".png", ".jpg", ".html", ".db")


#: Given the volume files about to be keyed, returns ``key_of(path)`` (default
#: :func:`content_key`); the runner passes one that hashes them on its workers.
KeyHasher = Callable[[list[Path]], Callable[[Path], str]]


def _is_volume(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(_VOLUME_SUFFIXES)


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
        for task in dicom_tasks(
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
        return dicom_tasks([path], str(path), disc, want_accession=want_accession)
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
        key = uid_input_key(uid)
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
