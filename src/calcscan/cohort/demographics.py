"""Demographics CSV for cohort runs: age, sex and indication joined on a study key.

The CSV's key column is one of ``study_key``, ``StudyInstanceUID``, ``accession`` (or
``AccessionNumber``) or ``path``; its values override the age and sex read from the DICOM
headers, and ``indication`` (Table 1 of the reference study) comes only from here. Malformed
rows (empty key, non-numeric or impossible age, unknown sex, repeated key) are reported by row
number (the header is row 1) and skipped; the run carries on.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from calcscan.cohort.discovery import StudyTask
from calcscan.errors import UsageError

__all__ = ["Demographics", "DemographicsRow", "load_demographics"]

log = logging.getLogger(__name__)

_KEY_ALIASES = {
    "study_key": ("studykey",),
    "study_instance_uid": ("studyinstanceuid", "studyuid"),
    "accession_number": ("accession", "accessionnumber", "accessionno"),
    "path": ("path", "input", "inputpath"),
}
_AGE_ALIASES = ("ageyears", "age", "patientageyears")
_SEX_ALIASES = ("sex", "patientsex", "gender")
_INDICATION_ALIASES = ("indication", "clinicalindication")
_SEX_VALUES = {"m": "M", "male": "M", "f": "F", "female": "F", "o": "O", "other": "O"}
_MAX_AGE_YEARS = 130.0


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class DemographicsRow:
    """One valid CSV row: overrides for one study (None: keep the header value)."""

    row_number: int
    key: str
    age_years: float | None
    sex: str | None
    indication: str | None


@dataclass
class Demographics:
    """A loaded demographics CSV.

    Attributes
    ----------
    key_column : str
        Which key the rows join on (``study_key``, ``study_instance_uid``,
        ``accession_number`` or ``path``).
    rows : dict
        Valid rows by normalised key.
    problems : list of str
        One line per skipped row, naming its row number and what is wrong.
    """

    key_column: str
    rows: dict[str, DemographicsRow] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    matched: set[str] = field(default_factory=set)

    def _normalise_key(self, value: str) -> str:
        if self.key_column == "path":
            return str(Path(value).expanduser().resolve())
        return value.strip()

    def lookup(self, task: StudyTask, study_key: str | None = None) -> DemographicsRow | None:
        """The row for a study, or None.

        Parameters
        ----------
        task : StudyTask
            The study (its UIDs, accession and path come from discovery).
        study_key : str, optional
            The study key of its record (known after processing).
        """
        candidates: list[str | None]
        if self.key_column == "study_key":
            candidates = [study_key, task.input_key]
        elif self.key_column == "study_instance_uid":
            candidates = [task.study_instance_uid]
        elif self.key_column == "accession_number":
            candidates = [task.accession_number]
        else:
            path = Path(task.path).resolve()
            candidates = [str(path), str(path.parent)]
        for value in candidates:
            if value:
                row = self.rows.get(self._normalise_key(value))
                if row is not None:
                    self.matched.add(row.key)
                    return row
        return None

    def unmatched_rows(self) -> list[int]:
        """Row numbers of valid rows that matched no study (call after the run)."""
        return sorted(r.row_number for k, r in self.rows.items() if k not in self.matched)


def _find(header: dict[str, str], aliases: tuple[str, ...]) -> str | None:
    for alias in aliases:
        if alias in header:
            return header[alias]
    return None


def load_demographics(path: str | os.PathLike[str], base_dir: Path | None = None) -> Demographics:
    """Read and validate a demographics CSV.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    base_dir : Path, optional
        Folder relative ``path`` keys are resolved against (default: the CSV's folder).

    Returns
    -------
    Demographics

    Raises
    ------
    UsageError
        If the file cannot be read or has no key column (the run has not started yet).
    """
    csv_path = Path(path).expanduser()
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fieldnames = list(reader.fieldnames or [])
            records = [(reader.line_num, dict(r)) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"cannot read demographics CSV {csv_path}: {exc}") from None
    header = {_norm(name): name for name in fieldnames}
    key_column = key_field = None
    for column, aliases in _KEY_ALIASES.items():
        key_field = _find(header, (_norm(column), *aliases))
        if key_field is not None:
            key_column = column
            break
    if key_column is None or key_field is None:
        raise UsageError(
            f"demographics CSV {csv_path} has no key column: add one of study_key, "
            "StudyInstanceUID, accession or path"
        )
    age_field = _find(header, _AGE_ALIASES)
    sex_field = _find(header, _SEX_ALIASES)
    ind_field = _find(header, _INDICATION_ALIASES)
    if age_field is None and sex_field is None and ind_field is None:
        raise UsageError(
            f"demographics CSV {csv_path} has none of the columns age_years, sex, indication"
        )
    demo = Demographics(key_column=key_column)
    base = base_dir or csv_path.parent
    for line, rec in records:
        problems = []
        key = (rec.get(key_field) or "").strip()
        if not key:
            problems.append(f"empty {key_field}")
        age: float | None = None
        raw_age = (rec.get(age_field) or "").strip() if age_field else ""
        if raw_age:
            try:
                age = float(raw_age)
            except ValueError:
                problems.append(f"{age_field} {raw_age!r} is not a number")
            else:
                if not 0 <= age <= _MAX_AGE_YEARS:
                    problems.append(f"{age_field} {raw_age} is outside 0-{_MAX_AGE_YEARS:g}")
        sex: str | None = None
        raw_sex = (rec.get(sex_field) or "").strip() if sex_field else ""
        if raw_sex:
            sex = _SEX_VALUES.get(raw_sex.lower())
            if sex is None:
                problems.append(f"{sex_field} {raw_sex!r} is not M, F or O")
        if None in rec:  # more cells than header columns
            problems.append("more cells than columns in the header")
        if key_column == "path" and key and not Path(key).is_absolute():
            key = str(base / key)
        norm_key = demo._normalise_key(key) if key else ""
        if not problems and norm_key in demo.rows:
            problems.append(f"{key_field} repeats row {demo.rows[norm_key].row_number}")
        if problems:
            demo.problems.append(f"demographics row {line}: {'; '.join(problems)} (row skipped)")
            continue
        indication = (rec.get(ind_field) or "").strip() if ind_field else ""
        demo.rows[norm_key] = DemographicsRow(line, norm_key, age, sex, indication or None)
    for problem in demo.problems:
        log.warning("%s", problem)
    return demo
