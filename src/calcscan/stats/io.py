"""Reading and validating a cohort table (CSV, Parquet or a cohort results store)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from calcscan.errors import InputError, UsageError

__all__ = ["REQUIRED_COLUMNS", "load_cohort", "validate_cohort"]

log = logging.getLogger(__name__)

#: Columns every cohort table must have (CONTRACTS.md section 4).
REQUIRED_COLUMNS = ("age_years", "sex", "nodule_count")

_SEX_MAP = {"m": "M", "male": "M", "f": "F", "female": "F", "o": "O", "other": "O"}


def load_cohort(path: str | Path | None = None, *, db_url: str | None = None) -> pd.DataFrame:
    """Read a cohort table and validate it.

    Parameters
    ----------
    path : str or Path, optional
        ``.csv`` or ``.parquet`` file with one row per study.
    db_url : str, optional
        SQLAlchemy URL of a cohort results store (read with
        ``calcscan.cohort.store.read_study_table``); exclusive with ``path``.

    Returns
    -------
    pandas.DataFrame
        The validated table (see :func:`validate_cohort`).

    Raises
    ------
    UsageError
        Neither or both sources given, or an unsupported file type.
    InputError
        Unreadable file or invalid content.
    """
    if (path is None) == (db_url is None):
        raise UsageError("give exactly one cohort source: a CSV/Parquet file or --db URL")
    if db_url is not None:
        try:
            from calcscan.cohort.store import read_study_table
        except ImportError as exc:
            raise UsageError(
                "--db needs calcscan.cohort.store, which is not installed in this build; "
                "export the table with 'calcscan cohort export' and pass the CSV"
            ) from exc
        df = read_study_table(db_url)
        return validate_cohort(df, source=db_url)
    p = Path(str(path))
    if not p.is_file():
        raise InputError(f"cohort file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(p)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            raise UsageError(f"unsupported cohort file type '{suffix}': use .csv or .parquet")
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{p}: empty cohort table (no header, no rows)") from exc
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read the cohort table ({exc})".splitlines()[0]) from exc
    return validate_cohort(df, source=str(p))


def _numeric_column(df: pd.DataFrame, column: str, source: str) -> pd.Series:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        shown = raw.iloc[row]
        what = "empty" if pd.isna(shown) or str(shown).strip() == "" else f"'{shown}'"
        raise InputError(
            f"{source}: column '{column}' row {row + 2} (data row {row + 1}) is {what}: "
            f"every {column} must be a number; fix or drop the row"
        )
    return values.astype(float)


def validate_cohort(df: pd.DataFrame, *, source: str = "cohort") -> pd.DataFrame:
    """Check the required columns and values; return a cleaned copy.

    ``age_years`` and ``nodule_count`` must be finite numbers (count a non-negative integer),
    ``sex`` one of M/F (male/female accepted, case-insensitive). Rows with ``excluded`` true
    (the QC exclusion of the cohort store) are dropped. Row numbers in messages are file line
    numbers (header = line 1).

    Raises
    ------
    InputError
        Empty table, missing column, or an invalid value (message names column and row).
    """
    if df.shape[0] == 0:
        raise InputError(f"{source}: empty cohort table (no rows)")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: missing required column(s) {', '.join(missing)}; a cohort table needs "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    out = df.copy()
    if "excluded" in out.columns:
        excl = out["excluded"].astype(str).str.lower().isin(("true", "1", "yes"))
        if excl.any():
            log.info("dropping %d QC-excluded studies", int(excl.sum()))
        out = out.loc[~excl].reset_index(drop=True)
        if out.shape[0] == 0:
            raise InputError(f"{source}: every study is marked excluded; nothing to analyse")
    out["age_years"] = _numeric_column(out, "age_years", source)
    counts = _numeric_column(out, "nodule_count", source)
    bad = (counts < 0) | (counts != np.round(counts))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: column 'nodule_count' row {row + 2} is {counts.iloc[row]}: counts must "
            "be non-negative integers"
        )
    out["nodule_count"] = counts.astype(int)
    sex = out["sex"].astype(str).str.strip().str.lower().map(_SEX_MAP)
    bad_sex = sex.isna() | out["sex"].isna()
    if bad_sex.any():
        row = int(np.flatnonzero(bad_sex.to_numpy())[0])
        raise InputError(
            f"{source}: column 'sex' row {row + 2} is '{out['sex'].iloc[row]}': use M or F"
        )
    out["sex"] = sex
    other = out["sex"] == "O"
    if other.any():
        log.warning("%d studies with sex 'O' are left out of the sex comparisons", other.sum())
    out["present"] = (out["nodule_count"] > 0).astype(int)
    return out
