"""What discovery produces: study tasks, duplicates, input problems; and how studies are keyed.

A :class:`StudyTask` is small and picklable (paths and keys only): it is what crosses to the
worker processes, never a volume.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Discovery",
    "Duplicate",
    "Found",
    "InputProblem",
    "StudyTask",
    "content_key",
    "uid_input_key",
]


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


def content_key(path: Path) -> str:
    """Input key of a non-DICOM study file: hash of its content (with an MHD's raw data)."""
    from calcscan.io.headers import study_key_from_file

    files = [path]
    if path.name.lower().endswith(".mhd"):
        files += [p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() == ".raw"]
    return study_key_from_file(files)


def uid_input_key(study_uid: str) -> str:
    """Input key of a DICOM study (resume key): hash of its StudyInstanceUID."""
    return hashlib.sha256(f"study:{study_uid}".encode()).hexdigest()[:16]
