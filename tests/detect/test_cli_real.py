"""``calcscan detect`` CLI (exit codes, outputs) and the real CT negatives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from calcscan.detect import detect_path

CLI = [sys.executable, "-m", "calcscan"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def test_missing_input_exits_2(tmp_path: Path) -> None:
    p = run("detect", str(tmp_path / "nope.nii.gz"))
    assert p.returncode == 2
    assert p.stderr.startswith("error:") and "Traceback" not in p.stderr


def test_bad_option_exits_1(tmp_path: Path) -> None:
    p = run("detect", str(tmp_path), "--connectivity", "7")
    assert p.returncode == 1
    assert "connectivity" in p.stderr and "Traceback" not in p.stderr


def test_cli_on_phantom_nifti(tmp_path: Path, phantom_case: tuple[Any, list[Any], Any]) -> None:
    from calcscan.io import write_nifti

    scan, _truth, _ = phantom_case
    nii = write_nifti(scan, tmp_path / "phantom.nii.gz")
    out = tmp_path / "out"
    p = run("detect", str(nii), "-o", str(out), "--json")
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)  # stdout holds only the JSON
    assert rec["nodule_count"] == len(rec["nodules"]) >= 1
    names = sorted(f.name.split("_", 1)[1] for f in out.iterdir())
    assert names == ["key_image.png", "nodules.csv", "record.json", "report.html"]
    html = next(out.glob("*_report.html")).read_text()
    assert "Research use only" in html
    csv_lines = next(out.glob("*_nodules.csv")).read_text().splitlines()
    assert len(csv_lines) == 1 + rec["nodule_count"] + len(rec["possible_nodules"])
    assert csv_lines[0].startswith("study_key,status,x_lps_mm,y_lps_mm,z_lps_mm,id,")


REAL_HEADS = {
    "invesalius_0051_head/dicom": 1,
    "dcm_qa_ct_GE_head/dicom": 1,
    "dicom2stl_ct_example/ct_example.nii.gz": 2,
}


@pytest.mark.shared_data
@pytest.mark.parametrize("rel", sorted(REAL_HEADS))
def test_real_heads_are_covered_negatives(shared_ct: Path, rel: str) -> None:
    rec = detect_path(shared_ct / rel).to_dict()
    assert rec["qc"]["face_coverage_ok"] is True
    assert rec["qc"]["excluded"] is False
    assert rec["nodule_count"] <= REAL_HEADS[rel]
    assert sum(rec["rejected"].values()) > 0


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel", ["totalseg_example_ct/example_ct.nii.gz", "totalseg_example_ct_dicom/dicom"]
)
def test_abdomen_is_excluded_face_not_covered(shared_ct: Path, rel: str) -> None:
    rec = detect_path(shared_ct / rel).to_dict()
    assert rec["qc"]["face_coverage_ok"] is False
    assert rec["qc"]["excluded"] is True
    assert "face not covered" in rec["qc"]["reasons"]
