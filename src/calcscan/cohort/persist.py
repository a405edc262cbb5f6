"""Persisting worker outcomes: study rows with demographics applied, or failure records."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from calcscan.cohort.demographics import Demographics
from calcscan.cohort.discovery import StudyTask
from calcscan.cohort.records import study_from_record
from calcscan.cohort.store import ResultStore
from calcscan.cohort.worker import Outcome

if TYPE_CHECKING:
    from calcscan.cohort.runner import RunSummary

__all__ = ["store_outcome", "update_done_demographics"]

log = logging.getLogger(__name__)


def _scrub(message: str, task: StudyTask | None, keep_identifiers: bool) -> str:
    if keep_identifiers or task is None:
        return message
    for ident in (task.path, task.study_instance_uid, task.accession_number, task.series_uid):
        if ident:
            message = message.replace(ident, "<input>")
    return message


def _apply_demographics(study: Any, row: Any) -> None:
    if row is None:
        return
    if row.age_years is not None:
        study.age_years, study.age_source = row.age_years, "csv"
    if row.sex is not None:
        study.sex, study.sex_source = row.sex, "csv"
    if row.indication is not None:
        study.indication = row.indication


def update_done_demographics(
    store: ResultStore, demo: Demographics | None, done: list[StudyTask], digest: str
) -> None:
    """Apply demographics CSV overrides to studies stored by earlier runs."""
    if demo is None or not done:
        return
    updates: dict[str, dict[str, Any]] = {}
    for task in done:
        row = demo.lookup(task, None)
        if row is None:
            continue
        values: dict[str, Any] = {}
        if row.age_years is not None:
            values.update(age_years=row.age_years, age_source="csv")
        if row.sex is not None:
            values.update(sex=row.sex, sex_source="csv")
        if row.indication is not None:
            values["indication"] = row.indication
        updates[task.input_key] = values
    if updates:
        changed = store.update_demographics(digest, updates)
        if changed:
            log.info("updated %d demographic values of studies already done", changed)


def store_outcome(
    store: ResultStore,
    task: StudyTask,
    outcome: Outcome,
    digest: str,
    run_id: int,
    demo: Demographics | None,
    keep_identifiers: bool,
    summary: RunSummary,
) -> None:
    """Commit one study's outcome: its rows, or a failure record (scrubbed of identifiers).

    Updates the summary's processed / skipped / failed counters.
    """
    if outcome.get("ok"):
        try:
            study = study_from_record(
                outcome["record"],
                task,
                config_digest=digest,
                run_id=run_id,
                elapsed_s=outcome.get("elapsed_s"),
                keep_identifiers=keep_identifiers,
            )
        except (TypeError, ValueError, KeyError) as exc:
            outcome = {
                "ok": False,
                "stage": "store",
                "error_type": type(exc).__name__,
                "message": f"malformed study record: {exc}",
            }
        else:
            if demo is not None:
                _apply_demographics(study, demo.lookup(task, study.study_key))
            if store.add_study(study):
                summary.n_processed += 1
            else:
                summary.n_skipped += 1
                log.warning(
                    "%s: study %s is already stored for config %s (duplicate or concurrent run)",
                    task.label,
                    study.study_key,
                    digest,
                )
            return
    summary.n_failed += 1
    message = _scrub(str(outcome.get("message", "")), task, keep_identifiers)
    log.error("%s failed at %s: %s: %s", task.label, outcome.get("stage"),
              outcome.get("error_type"), message)  # fmt: skip
    store.add_failure(
        run_id=run_id,
        input_key=task.input_key,
        config_digest=digest,
        stage=str(outcome.get("stage", "process")),
        error_type=str(outcome.get("error_type", "Error")),
        message=message,
        input_label=task.label,
        input_path=task.path if keep_identifiers else None,
    )
