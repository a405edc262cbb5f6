"""``calcscan info``: tables, strict JSON, exit codes 0 / 1 / 2 with one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from calcscan.io import write_dicom_series
from calcscan.scan import CTScan

SynthScan = Callable[..., CTScan]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calcscan", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, synth_scan: SynthScan) -> Path:
    root = tmp_path_factory.mktemp("info") / "study"
    write_dicom_series(
        synth_scan(shape=(12, 24, 20)),
        root / "thin",
        study_uid="1.2.3",
        series_uid="1.2.3.1",
        series_number=1,
        series_description="head thin",
        gap_after=4,
        gap_mm=-0.5,
        patient_age="061Y",
        patient_sex="M",
    )
    write_dicom_series(
        synth_scan(shape=(4, 24, 20), spacing=(6.0, 0.7, 0.8)),
        root / "thick",
        study_uid="1.2.3",
        series_uid="1.2.3.2",
        series_number=2,
        series_description="head thick",
    )
    write_dicom_series(synth_scan(shape=(5, 8, 8)), root / "mr", modality="MR", study_uid="1.2.3")
    return root


def test_info_json_is_strict_and_complete(study: Path) -> None:
    r = run("info", str(study), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)  # stdout holds only JSON
    assert report["chosen_series"] == "1.2.3.1"
    assert "thinnest" in report["choice_reason"]
    series = report["studies"][0]["series"]
    assert {s["series_instance_uid"] for s in series} >= {"1.2.3.1", "1.2.3.2"}
    assert [s["chosen"] for s in series].count(True) == 1
    geo = report["geometry"]
    assert geo["shape"] == [12, 24, 20]
    assert geo["spacing_mm"] == [2.0, 0.7, 0.8]
    assert geo["axis_codes"] == "SPL"
    assert geo["irregular_steps"] == [[4, 1.5]]
    assert report["patient"] == {"age_years": 61.0, "sex": "M"}
    assert report["hu"]["air_peak_hu"] == pytest.approx(-1000, abs=1.5)
    assert -10 <= report["hu"]["soft_tissue_peak_hu"] <= 60
    assert any("irregular slice spacing" in w for w in report["warnings"])
    assert "NaN" not in r.stdout


def test_info_series_option(study: Path) -> None:
    r = run("info", str(study), "--json", "--series", "1.2.3.2")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["geometry"]["shape"] == [4, 24, 20]
    assert "user" in report["choice_reason"]


def test_info_tables(study: Path) -> None:
    r = run("info", str(study / "thin"))
    assert r.returncode == 0, r.stderr
    for text in ("Geometry", "HU statistics", "chosen", "Warnings", "irregular slice spacing"):
        assert text in r.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["does/not/exist"], 2, "path does not exist"),
        (["--series", "9.9.9"], 1, "series 9.9.9 not found"),
    ],
)
def test_info_errors(study: Path, args: list[str], code: int, message: str) -> None:
    if args[0] == "--series":
        args = [str(study), *args]
    r = run("info", *args)
    assert r.returncode == code
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ")


def test_info_refuses_mr_and_single_slice(
    study: Path, tmp_path: Path, synth_scan: SynthScan
) -> None:
    r = run("info", str(study / "mr"))
    assert r.returncode == 2
    assert "error: not a CT: Modality is MR" in r.stderr
    write_dicom_series(synth_scan(shape=(1, 8, 8)), tmp_path)
    r = run("info", str(tmp_path), "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert "one slice is not a volume" in r.stderr
