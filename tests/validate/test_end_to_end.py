"""End to end: detect_scan on a small phantom, scored by the validation harness."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.phantom import TruthNodule, make_head_phantom
from calcscan.validate.metrics import score_scan, summarize
from calcscan.validate.runner import ACCEPTANCE_SEED, run_validation

detect = pytest.importorskip("calcscan.detect", reason="the detector package is not installed")


def _record(scan):
    return detect.detect_scan(scan).to_dict()


def test_detect_finds_large_dense_phantom_nodules():
    # large, dense nodules in the forehead and cheeks: any working detector finds most of them
    scan, truth = make_head_phantom(
        seed=21,
        nodules={"frontal": 3, "maxillary": 3},
        sizes_mm=(2.0, 3.0),
        densities_hu=(900.0, 1200.0),
        ring_fraction=0.0,
    )
    rec = _record(scan)
    assert {"nodules", "possible_nodules", "nodule_count", "counts_by_region"} <= set(rec)
    o = score_scan(
        "p", "phantom", truth, rec, voxel_diagonal_mm=float(np.linalg.norm(scan.spacing_mm))
    )
    s = summarize([o])
    assert s["sensitivity_peak200"]["total"] == len(truth)
    assert s["sensitivity_peak200"]["value"] >= 0.8
    assert s["centroid_error_in_plane_mm"]["max"] < 1.0
    assert s["region_agreement"]["value"] >= 0.8


def test_no_nodule_phantom_gives_no_counted_false_positive():
    scan, _ = make_head_phantom(seed=22, nodules=None)
    o = score_scan("n", "negative", [], _record(scan), voxel_diagonal_mm=1.2)
    assert o.false_positives <= 1


def test_truth_far_from_every_detection_is_a_miss():
    scan, truth = make_head_phantom(
        seed=23,
        nodules={"frontal": 1},
        sizes_mm=(2.5, 2.5),
        densities_hu=(1000.0, 1000.0),
        ring_fraction=0.0,
    )
    rec = _record(scan)
    far = TruthNodule(
        id=9,
        centroid_lps_mm=(0.0, 0.0, 0.0),
        diameter_mm=2.5,
        volume_mm3=8.0,
        density_hu=1000.0,
        ring=False,
        shape="sphere",
        rendered_peak_hu=900.0,
    )
    o = score_scan("m", "phantom", [*truth, far], rec, voxel_diagonal_mm=1.2)
    assert o.rows[0]["hit"] and not o.rows[1]["hit"]


def test_run_validation_phantoms_only():
    run = run_validation(trials=1, seed=ACCEPTANCE_SEED, real=False, miliary=False)
    s = run.summary
    assert s["n_scans"] == 1 and s["n_truth"] >= 10
    assert set(run.to_dict()) == {"settings", "summary", "scans"}
    assert run.settings["seed"] == ACCEPTANCE_SEED


def test_validate_cli_json(capsys):
    import json

    from calcscan.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["validate", "--trials", "1", "--no-real", "--no-miliary", "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["seed"] == ACCEPTANCE_SEED  # the acceptance seeds by default
    assert out["summary"]["n_scans"] == 1
    assert out["scans"][0]["kind"] == "phantom"


def test_validate_cli_rejects_negative_trials(capsys):
    from calcscan.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["validate", "--trials", "-1", "--no-real"])
    assert exc.value.code == 1
    assert "--trials" in capsys.readouterr().err


def test_validate_on_your_own_head(tmp_path, capsys):
    import json

    from calcscan.cli.main import main
    from calcscan.io import write_nifti

    head, _ = make_head_phantom(seed=7, nodules={})  # a nodule-free head of "your scanner"
    path = tmp_path / "my_head.nii.gz"
    write_nifti(head, path)
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--trials", "1", "--no-miliary", "--head", str(path), "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    kinds = {s["name"]: s["kind"] for s in out["scans"]}
    assert kinds["my_head"] == "negative"
    assert kinds[f"my_head+{ACCEPTANCE_SEED}"] == "insertion"
    insertion = next(s for s in out["scans"] if s["kind"] == "insertion")
    assert insertion["n_truth"] == 10
    # every miss says what became of it
    assert all(m["fate"] for m in insertion["missed"])


def test_validate_missing_head_is_a_one_line_error(tmp_path, capsys):
    from calcscan.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["validate", "--no-miliary", "--trials", "0", "--head", str(tmp_path / "nope")])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "head CT not found" in err and len(err.splitlines()) == 1
