"""Cohort runs on a generated cohort: serial, processes and Dask agree; resume; failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from cohort_fakes import Cohort, blob_detect

from calcscan.cohort import read_nodule_table, read_study_table, run_cohort
from calcscan.cohort.store import open_store
from calcscan.contracts import REGION_KEYS

CONFIG = {"threshold_hu": 150.0}


def _run(cohort: Cohort, url: str, **kwargs: object) -> object:
    opts: dict[str, object] = {"config": CONFIG, "process": blob_detect, "workers": 1}
    opts.update(kwargs)
    return run_cohort(cohort.inputs, url, **opts)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def serial_url(cohort: Cohort, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('serial') / 'results.db'}"
    _run(cohort, url, keep_identifiers=True)
    return url


def test_serial_run_counts_failures_and_duplicates(cohort: Cohort, db_url: str) -> None:
    summary = _run(cohort, db_url)
    assert summary.n_processed == cohort.n_good
    assert summary.n_failed == cohort.n_broken
    assert summary.n_duplicates == cohort.n_duplicates == 1
    assert summary.exit_code == 2
    assert any("duplicate study" in p and "copy_of_study_00" in p for p in summary.problems)
    table = read_study_table(db_url)
    assert len(table) == cohort.n_good
    assert table["study_key"].is_unique
    failures = open_store(db_url).failures()
    stages = sorted(f["stage"] for f in failures)
    assert stages == ["discover", "process", "process"], failures
    messages = " | ".join(f["message"] for f in failures)
    assert "unreadable" in messages and "nifti" in messages.lower()
    # de-identified by default: no paths in the failures or the stored records
    assert all(f["input"] and "/" not in f["input"] for f in failures)
    assert "cohort" not in messages.replace("cohort_fakes", "")


def test_study_table_columns_and_values(cohort: Cohort, serial_url: str) -> None:
    table = read_study_table(serial_url)
    for column in ("study_key", "age_years", "sex", "nodule_count", "distribution_pattern",
                   "excluded", "indication", *(f"counts_{r}" for r in REGION_KEYS)):  # fmt: skip
        assert column in table.columns
    counts = table[[f"counts_{r}" for r in REGION_KEYS]].sum(axis=1)
    assert (counts == table["nodule_count"]).all()
    assert table["nodule_count"].sum() > 0
    dicom = table.dropna(subset=["age_years"])
    assert len(dicom) == len(cohort.dicom_study_uids) + 1  # + the zipped study
    # NIfTI has no demographics: unknown age keeps those rows out of the statistics
    nifti = table[table["age_years"].isna()]
    assert nifti["excluded"].all() and nifti["exclusion_reasons"].str.contains("age").all()
    # identifiers are only in the identifier columns, and only when asked for
    assert "input_path" not in table.columns
    with_ids = read_study_table(serial_url, keep_identifiers=True)
    two_series = with_ids[with_ids["study_instance_uid"] == "1.2.826.0.1.3680043.10.999.4"]
    assert list(two_series["series_instance_uid"]) == ["1.2.826.0.1.3680043.10.999.4.1"]


def test_rerun_skips_done_and_retries_failures(cohort: Cohort, db_url: str) -> None:
    _run(cohort, db_url)
    again = _run(cohort, db_url)
    assert again.n_processed == 0
    assert again.n_skipped == cohort.n_good
    assert again.n_failed == cohort.n_broken  # failed studies are tried again, fail again
    assert len(read_study_table(db_url)) == cohort.n_good
    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    assert con.execute("select count(*) from runs").fetchone()[0] == 2
    dup = con.execute(
        "select count(*) from studies group by input_key, config_digest having count(*) > 1"
    ).fetchall()
    assert dup == []


def test_config_change_keeps_both(cohort: Cohort, db_url: str) -> None:
    first = _run(cohort, db_url)
    second = _run(cohort, db_url, config={"threshold_hu": 1000.0})
    assert first.config_digest != second.config_digest
    assert second.n_processed == cohort.n_good
    store = open_store(db_url)
    assert store.digests() == {first.config_digest: cohort.n_good,
                               second.config_digest: cohort.n_good}  # fmt: skip
    high = read_study_table(db_url, second.config_digest)
    low = read_study_table(db_url, first.config_digest)
    assert high["nodule_count"].sum() == 0 < low["nodule_count"].sum()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_processes_match_serial(cohort: Cohort, serial_url: str, db_url: str) -> None:
    summary = _run(cohort, db_url, workers=2)
    assert summary.executor == "processes" and summary.workers == 2
    assert summary.n_processed == cohort.n_good and summary.n_failed == cohort.n_broken
    _same(read_study_table(db_url), read_study_table(serial_url))
    _same(read_nodule_table(db_url), read_nodule_table(serial_url))


def test_dask_local_cluster_matches_serial(cohort: Cohort, serial_url: str, db_url: str) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        summary = _run(cohort, db_url, scheduler=cluster.scheduler_address, workers=None)
    assert summary.executor == "dask"
    assert summary.n_processed == cohort.n_good and summary.n_failed == cohort.n_broken
    _same(read_study_table(db_url), read_study_table(serial_url))
    _same(read_nodule_table(db_url), read_nodule_table(serial_url))


def test_nodule_table(serial_url: str) -> None:
    studies = read_study_table(serial_url)
    nodules = read_nodule_table(serial_url)
    assert len(nodules) == studies["nodule_count"].sum() + studies["possible_count"].sum()
    assert set(nodules["study_key"]) <= set(studies["study_key"])
    assert nodules[["x_lps_mm", "y_lps_mm", "z_lps_mm"]].notna().all().all()


def test_missing_input_is_a_failure_not_a_crash(
    cohort: Cohort, db_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no_such_folder"
    summary = run_cohort(
        [missing, cohort.inputs[0] / "vol_00.nii.gz"], db_url, config=CONFIG,
        process=blob_detect, workers=1,
    )  # fmt: skip
    assert summary.n_processed == 1 and summary.n_failed == 1
    assert open_store(db_url).failures()[0]["message"] == "does not exist"
