"""Inputs of a cohort run: manifests, zips that duplicate folders, unreadable folders."""

from __future__ import annotations

import os
import shutil
import socket
import zipfile
from pathlib import Path

import pytest
from cohort_fakes import Cohort, blob_detect
from sqlalchemy import func, select

from calcscan.cohort import run_cohort
from calcscan.cohort.discovery import discover_studies
from calcscan.cohort.models import Run
from calcscan.cohort.store import open_store
from calcscan.errors import UsageError

CONFIG = {"threshold_hu": 150.0}


def test_manifest_csv_relative_paths_and_missing_rows(
    cohort: Cohort, db_url: str, tmp_path: Path
) -> None:
    archive = cohort.inputs[0]
    manifest = archive.parent / "manifest.csv"
    manifest.write_text("path\narchive/vol_01.nii.gz\narchive/study_02\narchive/nothing_here\n")
    summary = run_cohort([manifest], db_url, config=CONFIG, process=blob_detect, workers=1)
    assert summary.n_inputs == 3
    assert summary.n_processed == 2 and summary.n_failed == 1
    assert open_store(db_url).failures()[0]["message"] == "does not exist"


def test_zip_of_a_study_given_as_a_folder_too_is_a_duplicate(
    cohort: Cohort, tmp_path: Path
) -> None:
    study = cohort.inputs[0] / "study_01" / "ct"
    zipped = tmp_path / "study_01.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for f in sorted(study.iterdir()):
            zf.write(f, f"ct/{f.name}")
    found = discover_studies([study, zipped, study])
    assert len(found.tasks) == 1
    assert [d.duplicate_path for d in found.duplicates] == [str(zipped), str(study)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_unreadable_folder_is_reported_and_the_rest_runs(
    cohort: Cohort, db_url: str, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        summary = run_cohort(
            [locked, cohort.inputs[0] / "vol_02.nii.gz"], db_url, config=CONFIG,
            process=blob_detect, workers=1,
        )  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert summary.n_processed == 1 and summary.n_failed == 1
    assert "permission denied" in open_store(db_url).failures()[0]["message"]


def test_folder_without_ct_files_is_reported(db_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty_export"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing to see")
    summary = run_cohort([empty], db_url, config=CONFIG, process=blob_detect, workers=1)
    assert summary.n_failed == 1 and summary.exit_code == 2
    assert "no CT files found" in open_store(db_url).failures()[0]["message"]


def test_unreachable_dask_scheduler_is_a_usage_error(cohort: Cohort, db_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UsageError, match="cannot reach Dask scheduler"):
        run_cohort(
            [cohort.inputs[0] / "vol_00.nii.gz"], db_url, config=CONFIG, process=blob_detect,
            scheduler=f"tcp://127.0.0.1:{port}",
        )  # fmt: skip
    with open_store(db_url).session() as session:  # checked before any work: no run recorded
        assert session.scalar(select(func.count()).select_from(Run)) == 0


def test_copy_of_a_study_inside_the_same_folder_is_a_duplicate(
    cohort: Cohort, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    shutil.copytree(cohort.inputs[0] / "study_05", export / "a" / "study_05")
    shutil.copytree(cohort.inputs[0] / "study_05", export / "b" / "study_05_again")
    shutil.copytree(cohort.inputs[0] / "study_06", export / "b" / "study_06")
    found = discover_studies([export])
    assert len(found.tasks) == 2
    assert [Path(d.duplicate_path).parent.name for d in found.duplicates] == ["study_05_again"]
