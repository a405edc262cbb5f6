"""``calcscan cohort export``: the study table (or nodule table) of a store as CSV/Parquet.

The study table has one row per study with the columns ``calcscan stats`` reads (CONTRACTS
§4/§5). It is de-identified by default: study_key hashes, age, sex and findings; the identifier
columns are added only with ``keep_identifiers`` (and are filled only if the run kept them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from calcscan.cohort.store import read_nodule_table, read_study_table
from calcscan.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["export_nodules", "export_studies", "write_table"]

log = logging.getLogger(__name__)

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot export to {path.name}: use a .csv or .parquet file name")
    if not path.parent.exists():
        raise UsageError(f"cannot export to {path}: folder {path.parent} does not exist")
    return fmt


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV or Parquet, chosen by the file suffix.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : str or Path
        ``*.csv`` or ``*.parquet``.

    Returns
    -------
    Path
        The file written.
    """
    out = Path(path).expanduser()
    if _format(out) == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return out


def export_studies(
    db_url: str,
    path: str | Path,
    *,
    config_digest: str | None = None,
    keep_identifiers: bool = False,
) -> tuple[Path, int]:
    """Export one row per study.

    Parameters
    ----------
    db_url : str
        Results store URL.
    path : str or Path
        Output ``.csv`` or ``.parquet``.
    config_digest : str, optional
        Which config's results (default: the most recently stored one).
    keep_identifiers : bool
        Add input path, study/series UID and accession columns.

    Returns
    -------
    (Path, int)
        File written and number of rows.
    """
    _format(Path(path).expanduser())
    frame = read_study_table(db_url, config_digest, keep_identifiers=keep_identifiers)
    return write_table(frame, path), len(frame)


def export_nodules(
    db_url: str, path: str | Path, *, config_digest: str | None = None
) -> tuple[Path, int]:
    """Export one row per nodule (counted and possible, ``definite`` tells which).

    Returns
    -------
    (Path, int)
        File written and number of rows.
    """
    _format(Path(path).expanduser())
    frame = read_nodule_table(db_url, config_digest)
    return write_table(frame, path), len(frame)
