"""Demographics CSV: overrides, indication, bad rows reported by number, run continues."""

from __future__ import annotations

from pathlib import Path

import pytest
from cohort_fakes import Cohort, blob_detect

from calcscan.cohort import read_study_table, run_cohort
from calcscan.cohort.demographics import load_demographics
from calcscan.errors import UsageError

CONFIG = {"threshold_hu": 150.0}


def test_study_key_csv_fills_nifti_and_reports_bad_rows(
    cohort: Cohort, db_url: str, tmp_path: Path
) -> None:
    run_cohort(cohort.inputs, db_url, config=CONFIG, process=blob_detect, workers=1)
    keys = read_study_table(db_url)
    nifti = keys[keys["age_years"].isna()]["study_key"].tolist()
    dicom = keys[keys["age_years"].notna()]["study_key"].tolist()
    lines = ["study_key,age_years,sex,indication"]
    lines += [f"{k},{40 + i},{'MF'[i % 2]},sinusitis" for i, k in enumerate(nifti)]
    lines += [
        f"{dicom[0]},77,female,headache",  # overrides the header age and sex
        f"{dicom[1]},abc,M,",  # malformed age
        f"{dicom[2]},50,X,",  # unknown sex
        ",50,M,",  # empty key
        f"{dicom[0]},60,M,",  # repeated key
        "0000000000000000,50,M,",  # matches no study
    ]
    csv = tmp_path / "demo.csv"
    csv.write_text("\n".join(lines) + "\n")
    first_bad = len(nifti) + 3  # header is row 1
    db2 = f"sqlite:///{tmp_path / 'with_demo.db'}"
    summary = run_cohort(
        cohort.inputs, db2, config=CONFIG, process=blob_detect, workers=1, demographics=csv
    )
    assert summary.n_processed == cohort.n_good  # bad rows do not stop the run
    text = "\n".join(summary.problems)
    assert f"demographics row {first_bad}: age_years 'abc' is not a number" in text
    assert f"row {first_bad + 1}: sex 'X' is not M, F or O" in text
    assert f"row {first_bad + 2}: empty study_key" in text
    assert f"row {first_bad + 3}: study_key repeats row {first_bad - 1}" in text
    assert f"1 demographics rows matched no study (rows {first_bad + 4})" in text
    table = read_study_table(db2).set_index("study_key")
    assert table.loc[nifti, "age_years"].notna().all()
    assert (table.loc[nifti, "indication"] == "sinusitis").all()
    assert (table.loc[nifti, "age_source"] == "csv").all()
    assert table.loc[dicom[0], "age_years"] == 77 and table.loc[dicom[0], "sex"] == "F"
    assert table.loc[dicom[1], "age_source"] == "header"  # bad row ignored, header kept
    # with age and sex known, only the detector's QC keeps a study out of the statistics
    assert (table.loc[nifti, "excluded"] == table.loc[nifti, "qc_excluded"]).all()


def test_rerun_with_csv_updates_studies_already_done(
    cohort: Cohort, db_url: str, tmp_path: Path
) -> None:
    run_cohort(cohort.inputs, db_url, config=CONFIG, process=blob_detect, workers=1)
    csv = tmp_path / "uids.csv"
    csv.write_text(
        "StudyInstanceUID,age_years,sex,indication\n1.2.826.0.1.3680043.10.999.6,81,F,trauma\n"
    )
    again = run_cohort(
        cohort.inputs, db_url, config=CONFIG, process=blob_detect, workers=1, demographics=csv
    )
    assert again.n_processed == 0
    table = read_study_table(db_url)
    row = table[table["indication"] == "trauma"]
    assert len(row) == 1 and row["age_years"].iloc[0] == 81 and row["sex"].iloc[0] == "F"


def test_csv_without_key_column_is_a_usage_error(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("name,age_years\nx,3\n")
    with pytest.raises(UsageError, match="no key column"):
        load_demographics(csv)


def test_path_key(cohort: Cohort, db_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "paths.csv"
    target = cohort.inputs[0] / "vol_03.nii.gz"
    csv.write_text(f"path,age_years,sex\n{target},33,M\n")
    run_cohort(cohort.inputs, db_url, config=CONFIG, process=blob_detect, workers=1,
               demographics=csv)  # fmt: skip
    table = read_study_table(db_url)
    from_csv = table[table["age_source"] == "csv"]
    assert len(from_csv) == 1 and from_csv["age_years"].iloc[0] == 33
