"""Series discovery from headers and the choice of the series to read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from calcscan.errors import InputError, UsageError
from calcscan.io import (
    choose_series,
    discover_series,
    parse_patient_age,
    parse_patient_sex,
    read_ct,
    write_dicom_series,
)
from calcscan.scan import CTScan

SynthScan = Callable[..., CTScan]
STUDY = "1.2.826.0.1.3680043.8.498.1"


def _coronal(scan: CTScan) -> CTScan:
    aff = np.eye(4)
    aff[:3, 0] = [0.0, 1.0, 0.0]  # slices step posterior
    aff[:3, 1] = [0.0, 0.0, -0.7]  # rows go down (inferior)
    aff[:3, 2] = [0.8, 0.0, 0.0]
    return CTScan.from_affine(scan.hu, aff)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("io_discover")


@pytest.fixture(scope="module")
def study(study_dir: Path, synth_scan: SynthScan) -> dict[str, str]:
    """A study folder with a localizer, thick, thin, partial thin, coronal and MR series."""
    uids = {}
    specs = [
        (
            "localizer",
            synth_scan(shape=(1, 16, 16)),
            {"image_type": ("ORIGINAL", "PRIMARY", "LOCALIZER")},
        ),
        ("thick", synth_scan(shape=(20, 16, 16), spacing=(5.0, 0.7, 0.7)), {}),
        ("thin", synth_scan(shape=(100, 16, 16), spacing=(1.0, 0.7, 0.7)), {}),
        ("partial", synth_scan(shape=(50, 16, 16), spacing=(0.6, 0.7, 0.7)), {}),
        (
            "coronal",
            _coronal(synth_scan(shape=(120, 16, 16))),
            {"image_type": ("DERIVED", "SECONDARY", "MPR")},
        ),
        ("mr", synth_scan(shape=(30, 16, 16), spacing=(0.5, 0.7, 0.7)), {"modality": "MR"}),
    ]
    for number, (name, scan, kw) in enumerate(specs, start=1):
        uid = f"{STUDY}.{number}"
        uids[name] = uid
        write_dicom_series(
            scan,
            study_dir / "study" / name,
            study_uid=STUDY,
            series_uid=uid,
            series_number=number,
            series_description=name,
            shuffle=True,
            extension="",
            **kw,
        )
    (study_dir / "study" / "DICOMDIR.txt").write_text("index")
    return uids


def test_discovery_groups_series_from_headers(study_dir: Path, study: dict[str, str]) -> None:
    found = discover_series(study_dir / "study")
    by_uid = {s.series_uid: s for s in found.series}
    assert set(by_uid) == set(study.values())
    assert found.non_dicom == [study_dir / "study" / "DICOMDIR.txt"]
    thin = by_uid[study["thin"]]
    assert thin.n_slices == 100 and thin.n_files == 100
    assert thin.slice_thickness_mm == pytest.approx(1.0)
    assert thin.is_axial and thin.is_original and not thin.is_localizer
    assert thin.coverage_mm == pytest.approx(99.0)
    assert thin.description == "thin" and thin.series_number == 3
    assert not by_uid[study["coronal"]].is_axial
    assert by_uid[study["localizer"]].is_localizer
    assert by_uid[study["mr"]].modality == "MR"
    summary = thin.summary()
    assert summary["n_slices"] == 100 and summary["axial"] is True


def test_choice_prefers_thin_axial_original_that_covers(
    study_dir: Path, study: dict[str, str]
) -> None:
    found = discover_series(study_dir / "study")
    chosen, reason = choose_series(found.series)
    assert chosen.series_uid == study["thin"]  # the 0.6 mm series covers only 30 mm
    assert "thinnest" in reason and "skipped" in reason and "MR" in reason
    scan = read_ct(study_dir / "study")
    assert scan.shape == (100, 16, 16)
    assert scan.provenance["series_instance_uid"] == study["thin"]
    assert scan.provenance["series_choice_reason"] == reason
    assert scan.provenance["n_series_found"] == 6


def test_user_choice_and_unknown_series(study_dir: Path, study: dict[str, str]) -> None:
    scan = read_ct(study_dir / "study", series_uid=study["thick"])
    assert scan.shape == (20, 16, 16)
    assert scan.spacing_mm[0] == pytest.approx(5.0)
    with pytest.raises(UsageError, match="not found; available"):
        read_ct(study_dir / "study", series_uid="1.2.3.4")
    with pytest.raises(InputError, match="not a CT: Modality is MR"):
        read_ct(study_dir / "study", series_uid=study["mr"])


def test_discovery_over_several_paths(study_dir: Path, study: dict[str, str]) -> None:
    found = discover_series([study_dir / "study" / "thin", study_dir / "study" / "thick"])
    assert sorted(s.series_uid for s in found.series) == sorted([study["thin"], study["thick"]])
    assert found.n_files == 120


def test_only_single_images_is_refused(tmp_path: Path, synth_scan: SynthScan) -> None:
    write_dicom_series(synth_scan(shape=(1, 16, 16)), tmp_path / "a", series_uid="1.2.3.1")
    write_dicom_series(synth_scan(shape=(1, 16, 16)), tmp_path / "b", series_uid="1.2.3.2")
    with pytest.raises(InputError, match="one slice is not a volume"):
        read_ct(tmp_path)


@pytest.mark.parametrize(
    ("age", "birth", "study_date", "expected"),
    [
        ("052Y", None, None, 52.0),
        ("006M", None, None, 0.5),
        ("010W", None, None, round(70 / 365.25, 3)),
        ("003D", None, None, round(3 / 365.25, 3)),
        ("", "19700923", "20020604", 31.696),
        (None, "19700923", None, None),
        ("garbage", None, None, None),
    ],
)
def test_patient_age(
    age: str | None, birth: str | None, study_date: str | None, expected: float | None
) -> None:
    assert parse_patient_age(age, birth, study_date) == expected


def test_patient_sex() -> None:
    assert [parse_patient_sex(v) for v in ("M", "f ", "O", "", None, "X")] == [
        "M",
        "F",
        "O",
        None,
        None,
        None,
    ]


def test_several_studies_in_one_input_warn(tmp_path: Path, synth_scan: SynthScan) -> None:
    write_dicom_series(synth_scan(), tmp_path / "p1", study_uid="1.2.3.100")
    write_dicom_series(synth_scan(), tmp_path / "p2", study_uid="1.2.3.200")
    scan = read_ct(tmp_path)
    assert scan.provenance["n_studies_found"] == 2
    assert any("holds 2 studies" in w for w in scan.warnings)
