"""``calcscan phantom`` and ``calcscan insert`` write CT + truth.json that agree in LPS."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calcscan.cli.main import main


def _run(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.mark.parametrize("fmt", ["dicom", "nifti"])
def test_phantom_cli_round_trip(tmp_path, fmt):
    from calcscan.io import read_ct

    out = tmp_path / "ph"
    code = _run(
        [
            "phantom",
            "-o",
            str(out),
            "--format",
            fmt,
            "--seed",
            "4",
            "--nodules",
            "frontal=2,maxillary=1",
            "--sizes-mm",
            "2:3",
            "--densities-hu",
            "900:1200",
        ]
    )
    assert code == 0
    truth = json.loads((out / "truth.json").read_text())
    assert len(truth["nodules"]) == 3
    assert truth["generator"]["seed"] == 4
    assert "frontal" in truth["regions_present"]
    scan = read_ct(out / ("dicom" if fmt == "dicom" else "ct.nii.gz"))
    for n in truth["nodules"]:
        k, r, c = np.round(scan.lps_to_index(n["centroid_lps_mm"])).astype(int)
        assert scan.hu[k, r, c] > 300, "truth LPS must land on the nodule after the round trip"
        assert n["region"] in ("frontal", "maxillary")


def test_phantom_cli_bad_region(tmp_path, capsys):
    assert _run(["phantom", "-o", str(tmp_path / "x"), "--nodules", "elbow=2"]) == 1
    err = capsys.readouterr().err
    assert "elbow" in err and "Traceback" not in err


def test_insert_cli_nifti(tmp_path, shared_ct):
    from calcscan.io import read_ct

    src = shared_ct / "dicom2stl_ct_example" / "ct_example.nii.gz"
    out = tmp_path / "ins"
    assert (
        _run(
            [
                "insert",
                str(src),
                "-o",
                str(out),
                "--n",
                "4",
                "--seed",
                "1",
                "--sizes-mm",
                "3:4",
                "--densities-hu",
                "1200:1400",
            ]
        )
        == 0
    )
    truth = json.loads((out / "truth.json").read_text())["nodules"]
    assert len(truth) == 4
    base = read_ct(src)
    new = read_ct(out / "ct.nii.gz")
    np.testing.assert_allclose(new.affine_lps, base.affine_lps, atol=1e-4)
    for n in truth:
        k, r, c = np.round(new.lps_to_index(n["centroid_lps_mm"])).astype(int)
        assert new.hu[k, r, c] > base.hu[k, r, c] + 50


def test_insert_cli_bad_range(tmp_path, shared_ct, capsys):
    src = shared_ct / "dicom2stl_ct_example" / "ct_example.nii.gz"
    assert _run(["insert", str(src), "-o", str(tmp_path / "x"), "--sizes-mm", "4:1"]) == 1
    assert "--sizes-mm" in capsys.readouterr().err
