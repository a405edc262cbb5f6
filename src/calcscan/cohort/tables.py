"""Tables read from a results store: one row per study (what ``calcscan stats`` reads) or
one row per nodule. Re-exported by :mod:`calcscan.cohort.store`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from calcscan.cohort.models import Nodule, Study
from calcscan.cohort.records import NODULE_FIELDS
from calcscan.contracts import REGION_KEYS
from calcscan.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from calcscan.cohort.store import ResultStore

__all__ = ["IDENTIFIER_COLUMNS", "STUDY_COLUMNS", "read_nodule_table", "read_study_table"]

log = logging.getLogger(__name__)

#: Columns of the de-identified study table, in export order.
STUDY_COLUMNS: tuple[str, ...] = (
    "study_key",
    "age_years",
    "sex",
    "nodule_count",
    "possible_count",
    "distribution_pattern",
    *(f"counts_{r}" for r in REGION_KEYS),
    "excluded",
    "exclusion_reasons",
    "qc_excluded",
    "face_coverage_ok",
    "indication",
    "age_source",
    "sex_source",
    "source_format",
    "config_digest",
    "software_version",
)
#: Identifier columns, exported only with ``keep_identifiers``.
IDENTIFIER_COLUMNS: tuple[str, ...] = (
    "input_path",
    "study_instance_uid",
    "series_instance_uid",
    "accession_number",
)


def _digest_for(store: ResultStore, config_digest: str | None) -> str | None:
    digests = store.digests()
    if config_digest is not None:
        if config_digest not in digests:
            known = ", ".join(sorted(digests)) or "none"
            raise UsageError(
                f"no studies with config digest {config_digest} in {store.url} (stored: {known})"
            )
        return config_digest
    latest = store.latest_digest()
    if len(digests) > 1:
        log.info(
            "store holds %d config digests; using the latest (%s); pick one with --config-digest",
            len(digests),
            latest,
        )
    return latest


def _study_row(study: Study, columns: list[str]) -> dict[str, Any]:
    """Export row of a study; unknown age or sex keeps it out of the statistics."""
    row = {c: getattr(study, c) for c in columns if hasattr(study, c)}
    reasons = list(study.qc_reasons or [])
    if study.age_years is None:
        reasons.append("age unknown")
    if study.sex not in ("M", "F"):
        reasons.append("sex unknown" if study.sex is None else f"sex {study.sex}")
    row["qc_excluded"] = bool(study.excluded)
    row["excluded"] = bool(study.excluded) or len(reasons) > len(study.qc_reasons or [])
    row["exclusion_reasons"] = ";".join(reasons)
    return row


def read_study_table(
    url: str, config_digest: str | None = None, *, keep_identifiers: bool = False
) -> pd.DataFrame:
    """One row per study of a results store, with the columns ``calcscan stats`` reads.

    Parameters
    ----------
    url : str
        SQLAlchemy URL of a store written by ``calcscan cohort run``.
    config_digest : str, optional
        Which detection config's results to read; default: the most recently stored one.
    keep_identifiers : bool
        Add the identifier columns (only filled when the run kept identifiers).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STUDY_COLUMNS`, sorted by ``study_key``; empty (with the columns) for
        an empty store. ``excluded`` is true when the detector's QC excluded the study
        (``qc_excluded``) or when its age or sex (M/F) is unknown, so the table can go to
        ``calcscan stats`` as is; ``exclusion_reasons`` says why (``;``-separated).
    """
    import pandas as pd

    from calcscan.cohort.store import open_store

    store = open_store(url)
    try:
        digest = _digest_for(store, config_digest)
        columns = list(STUDY_COLUMNS) + (list(IDENTIFIER_COLUMNS) if keep_identifiers else [])
        rows: list[dict[str, Any]] = []
        if digest is not None:
            with store.session() as s:
                for study in s.scalars(
                    select(Study).where(Study.config_digest == digest).order_by(Study.study_key)
                ):
                    rows.append(_study_row(study, columns))
    finally:
        store.close()
    frame = pd.DataFrame(rows, columns=columns)
    frame["age_years"] = frame["age_years"].astype("float64")
    for c in ("nodule_count", "possible_count", *(f"counts_{r}" for r in REGION_KEYS)):
        frame[c] = frame[c].astype("int64")
    for c in ("excluded", "qc_excluded"):
        frame[c] = frame[c].astype("bool")
    return frame


_NODULE_COLUMNS = ("nodule_id", "definite", "x_lps_mm", "y_lps_mm", "z_lps_mm", *NODULE_FIELDS)


def read_nodule_table(url: str, config_digest: str | None = None) -> pd.DataFrame:
    """One row per nodule (counted and possible) with its study's key, age, sex and digest.

    Parameters
    ----------
    url : str
        SQLAlchemy URL of a results store.
    config_digest : str, optional
        Which config's results to read; default: the most recently stored one.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    from calcscan.cohort.store import open_store

    store = open_store(url)
    head = ("study_key", "age_years", "sex", "config_digest")
    try:
        digest = _digest_for(store, config_digest)
        rows: list[dict[str, Any]] = []
        if digest is not None:
            stmt = (
                select(Study, Nodule)
                .join(Nodule, Nodule.study_id == Study.id)
                .where(Study.config_digest == digest)
                .order_by(Study.study_key, Nodule.definite.desc(), Nodule.nodule_id)
            )
            with store.session() as s:
                for study, nodule in s.execute(stmt):
                    row = {c: getattr(study, c) for c in head}
                    row.update({c: getattr(nodule, c) for c in _NODULE_COLUMNS})
                    rows.append(row)
    finally:
        store.close()
    return pd.DataFrame(rows, columns=[*head, *_NODULE_COLUMNS])
