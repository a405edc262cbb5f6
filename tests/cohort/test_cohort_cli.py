"""End to end through the CLI with the real reader and detector on synthetic head phantoms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from calcscan.contracts import REGION_KEYS

CALCSCAN = [sys.executable, "-m", "calcscan"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CALCSCAN, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def phantom_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two DICOM studies and one NIfTI of small head phantoms with facial nodules."""
    from calcscan.io import write_dicom_series, write_nifti
    from calcscan.phantom import make_head_phantom

    root = tmp_path_factory.mktemp("phantoms")
    for i, (age, sex) in enumerate([("045Y", "F"), ("067Y", "M")]):
        scan, _ = make_head_phantom(
            seed=i, nodules={"frontal": 3, "maxillary": 2}, spacing_mm=(2.0, 1.0, 1.0)
        )
        uid = f"1.2.826.0.1.3680043.10.998.{i + 1}"
        write_dicom_series(
            scan, root / f"study_{i}", patient_age=age, patient_sex=sex, study_uid=uid,
            series_uid=uid + ".1", seed=i,
        )  # fmt: skip
    scan, _ = make_head_phantom(seed=7, nodules={"temporal": 2}, spacing_mm=(2.0, 1.0, 1.0))
    write_nifti(scan, root / "head.nii.gz")
    return root


@pytest.mark.slow
def test_cli_run_export_and_stats(phantom_archive: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'results.db'}"
    demo = tmp_path / "demo.csv"
    demo.write_text(
        f"path,age_years,sex,indication\n{phantom_archive / 'head.nii.gz'},52,F,sinusitis\n"
    )
    run = _cli("cohort", "run", str(phantom_archive), "--db", db, "--workers", "2",
               "--demographics", str(demo), "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["n_processed"] == 3 and summary["n_failed"] == 0 and summary["exit_code"] == 0

    rerun = _cli("cohort", "run", str(phantom_archive), "--db", db, "--json")
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["n_skipped"] == 3

    out = tmp_path / "cohort.csv"
    export = _cli("cohort", "export", "--db", db, "-o", str(out))
    assert export.returncode == 0, export.stderr
    table = pd.read_csv(out)
    assert len(table) == 3
    for column in ("study_key", "age_years", "sex", "nodule_count", "distribution_pattern",
                   "excluded", "indication", *(f"counts_{r}" for r in REGION_KEYS)):  # fmt: skip
        assert column in table.columns
    assert sorted(table["age_years"]) == [45.0, 52.0, 67.0]
    assert table["nodule_count"].sum() > 0
    text = out.read_text()
    assert "1.2.826.0.1.3680043" not in text and str(phantom_archive) not in text  # de-identified

    # the export is what `calcscan detect` says for the same study
    from calcscan.detect import detect_path

    record = detect_path(str(phantom_archive / "head.nii.gz")).to_dict()
    row = table[table["study_key"] == record["study_key"]].iloc[0]
    assert row["nodule_count"] == record["nodule_count"]
    assert row["distribution_pattern"] == record["distribution_pattern"]
    assert row["indication"] == "sinusitis"

    stats = _cli("stats", str(out), "--json")
    assert stats.returncode == 0, stats.stderr[-2000:]
    assert json.loads(stats.stdout)["n"] == int((~table["excluded"]).sum())

    nodules = tmp_path / "nodules.parquet"
    assert _cli("cohort", "export", "--db", db, "-o", str(nodules), "--nodules").returncode == 0
    per_nodule = pd.read_parquet(nodules)
    assert per_nodule["definite"].sum() == table["nodule_count"].sum()

    failures = _cli("cohort", "failures", "--db", db)
    assert failures.returncode == 0 and "0 failures" in failures.stdout


def test_cli_failed_studies_exit_2_and_are_listed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti" * 20)
    db = f"sqlite:///{tmp_path / 'results.db'}"
    run = _cli("cohort", "run", str(bad), "--db", db, "--workers", "1")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    listed = _cli("cohort", "failures", "--db", db, "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["stage"] == "read" and rows[0]["error_type"] == "InputError"
    assert str(tmp_path) not in listed.stdout  # the path is not stored by default
