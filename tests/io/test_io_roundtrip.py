"""write_dicom_series / write_nifti -> read_ct round trips on generated volumes."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from calcscan.io import (
    COMPRESSIONS,
    apply_gap,
    apply_tilt,
    available_compressions,
    read_ct,
    write_dicom_series,
    write_nifti,
)
from calcscan.scan import CTScan

SynthScan = Callable[..., CTScan]

LOSSY_MAX_ERROR_HU = {"jpeg2000-lossy": 60.0, "jpegls-near": 2.0}


def _outside_fov(shape: tuple[int, int]) -> np.ndarray:
    """Pixels outside the inscribed circle, where the writer puts the padding value."""
    rows, cols = shape
    r = np.arange(rows)[:, None] - (rows - 1) / 2
    c = np.arange(cols)[None, :] - (cols - 1) / 2
    return np.asarray((r / (rows / 2)) ** 2 + (c / (cols / 2)) ** 2 > 1.0)


def assert_same_geometry(read: CTScan, expected: CTScan, atol: float = 1e-5) -> None:
    assert read.shape == expected.shape
    np.testing.assert_allclose(
        read.slice_positions_lps_mm, expected.slice_positions_lps_mm, atol=atol
    )
    np.testing.assert_allclose(read.affine_lps, expected.affine_lps, atol=atol)
    idx = np.array([[0, 0, 0], [3, 7, 11], [read.shape[0] - 1, read.shape[1] - 1, 2]])
    np.testing.assert_allclose(read.index_to_lps(idx), expected.index_to_lps(idx), atol=atol)


@pytest.mark.parametrize("rotate_deg", [0.0, 23.0])
def test_plain_series_round_trip_is_exact(
    synth_scan: SynthScan, tmp_path: Path, rotate_deg: float
) -> None:
    scan = synth_scan(rotate_deg=rotate_deg)
    paths = write_dicom_series(scan, tmp_path, patient_age="052Y", patient_sex="F")
    assert len(paths) == scan.shape[0]
    got = read_ct(tmp_path)
    assert_same_geometry(got, scan)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.hu.dtype == np.float32
    assert got.patient_age_years == 52.0
    assert got.patient_sex == "F"
    assert got.warnings == []
    assert got.provenance["modality"] == "CT"
    assert got.provenance["source_format"] == "dicom"
    assert len(got.study_key) == 16
    assert "PatientName" not in str(got.provenance) and "Phantom" not in str(got.provenance)


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_transfer_syntaxes_decode_to_the_same_hu(
    synth_scan: SynthScan, tmp_path: Path, compression: str
) -> None:
    if compression not in available_compressions():
        pytest.skip(f"no encoder installed for {compression}")
    scan = synth_scan()
    write_dicom_series(scan, tmp_path, compression=compression)
    got = read_ct(tmp_path)
    assert_same_geometry(got, scan)
    err = float(np.abs(got.hu - scan.hu).max())
    assert err <= LOSSY_MAX_ERROR_HU.get(compression, 0.0)
    assert got.provenance["transfer_syntax_uid"] == COMPRESSIONS[compression]


def test_shuffled_names_without_extension_and_junk(synth_scan: SynthScan, tmp_path: Path) -> None:
    scan = synth_scan()
    write_dicom_series(scan, tmp_path, shuffle=True, extension="", junk_files=4)
    assert not any(p.suffix == ".dcm" for p in tmp_path.iterdir())
    got = read_ct(tmp_path)
    assert_same_geometry(got, scan)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.provenance["n_non_dicom_files"] == 4


def test_tilt_keeps_sheared_geometry_without_resampling(
    synth_scan: SynthScan, tmp_path: Path
) -> None:
    scan = synth_scan()
    write_dicom_series(scan, tmp_path, tilt_deg=18.5)
    got = read_ct(tmp_path)
    expected = apply_tilt(scan, 18.5)
    assert_same_geometry(got, expected)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert abs(got.gantry_tilt_deg - 18.5) < 1e-3
    assert any("gantry tilt 18.5" in w for w in got.warnings)


def test_irregular_gap_carries_positions_and_warns(synth_scan: SynthScan, tmp_path: Path) -> None:
    scan = synth_scan(spacing=(1.5, 0.5, 0.5))
    write_dicom_series(scan, tmp_path, gap_after=6, gap_mm=-0.5)
    got = read_ct(tmp_path)
    expected = apply_gap(scan, 6, -0.5)
    np.testing.assert_allclose(
        got.slice_positions_lps_mm, expected.slice_positions_lps_mm, atol=1e-5
    )
    steps = np.diff(got.slice_positions_lps_mm[:, 2])
    np.testing.assert_allclose(steps[6], 1.0, atol=1e-5)
    assert got.spacing_mm[0] == pytest.approx(1.5)
    assert any("irregular slice spacing" in w and "1.00 mm" in w for w in got.warnings)
    # world coordinates of a voxel after the gap are exact
    np.testing.assert_allclose(
        got.index_to_lps([8, 2, 3]), expected.slice_positions_lps_mm[8] + [1.5, 1.0, 0], atol=1e-5
    )


def test_nifti_round_trip_ras_on_disk(synth_scan: SynthScan, tmp_path: Path) -> None:
    import nibabel as nib

    scan = synth_scan(rotate_deg=12.0)
    path = write_nifti(scan, tmp_path / "scan.nii.gz")
    img = nib.load(str(path))
    # on disk RAS: voxel (i=col, j=row, k=slice) = (0,0,0) at LPS origin with x, y negated
    np.testing.assert_allclose(img.affine[:3, 3], scan.affine_lps[:3, 3] * [-1, -1, 1], atol=1e-4)
    got = read_ct(path)
    assert_same_geometry(got, scan, atol=1e-4)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.provenance["source_format"] == "nifti"


def test_zip_of_dicom(synth_scan: SynthScan, tmp_path: Path) -> None:
    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path / "series", shuffle=True, junk_files=1)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in (tmp_path / "series").iterdir():
            zf.write(p, f"export/DICOM/{p.name}")
    got = read_ct(archive)
    assert_same_geometry(got, scan)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.source_path == str(archive)
    assert got.provenance["source_format"] == "dicom-zip"
    assert len(paths) == scan.shape[0]


def test_padding_value_becomes_air(tmp_path: Path, synth_scan: SynthScan) -> None:
    scan = synth_scan()
    write_dicom_series(scan, tmp_path, pixel_padding_value=-2000, rescale=(1.0, -1024.0))
    got = read_ct(tmp_path)
    outside = _outside_fov(scan.shape[1:])
    assert np.all(got.hu[:, outside] == -1000.0)
    np.testing.assert_array_equal(got.hu[:, ~outside], scan.hu[:, ~outside])
    assert got.provenance["pixel_padding_value"] == -2000
    assert got.provenance["n_padding_pixels"] == int(outside.sum()) * scan.shape[0]


@pytest.mark.parametrize(
    ("bits", "signed", "rescale"),
    [
        (12, False, (1.0, -1024.0)),
        (14, True, (1.0, 0.0)),
        (16, True, (0.5, -1000.0)),
        (16, False, (2.0, -2048.0)),
    ],
)
def test_bit_depths_signedness_and_rescale(
    synth_scan: SynthScan, tmp_path: Path, bits: int, signed: bool, rescale: tuple[float, float]
) -> None:
    scan = synth_scan()
    write_dicom_series(scan, tmp_path, bits_stored=bits, signed=signed, rescale=rescale)
    got = read_ct(tmp_path)
    assert got.provenance["bits_stored"] == bits
    assert got.provenance["pixel_representation"] == int(signed)
    # values are exact up to the quantisation step of the slope
    np.testing.assert_allclose(got.hu, scan.hu, atol=rescale[0] / 2 + 1e-4)


def test_enhanced_multiframe_with_functional_groups(synth_scan: SynthScan, tmp_path: Path) -> None:
    scan = synth_scan(rotate_deg=5.0)
    paths = write_dicom_series(
        scan, tmp_path, enhanced=True, gap_after=3, gap_mm=0.4, rescale=(1.0, -1000.0)
    )
    assert len(paths) == 1
    got = read_ct(tmp_path)
    expected = apply_gap(scan, 3, 0.4)
    np.testing.assert_allclose(
        got.slice_positions_lps_mm, expected.slice_positions_lps_mm, atol=1e-5
    )
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.provenance["enhanced_multiframe"] is True
    assert got.provenance["n_files"] == 1


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".mhd"])
def test_itk_formats_are_lps(synth_scan: SynthScan, tmp_path: Path, suffix: str) -> None:
    import SimpleITK as sitk

    scan = synth_scan(rotate_deg=30.0)
    img = sitk.GetImageFromArray(scan.hu.astype(np.int16))  # (z, y, x) = (slice, row, col)
    spacing = scan.spacing_mm
    img.SetSpacing((spacing[2], spacing[1], spacing[0]))
    direction = np.stack(
        [
            scan.col_vector_lps / spacing[2],
            scan.row_vector_lps / spacing[1],
            scan.affine_lps[:3, 0] / spacing[0],
        ],
        axis=1,
    )
    img.SetDirection(direction.ravel().tolist())
    img.SetOrigin(scan.affine_lps[:3, 3].tolist())
    path = tmp_path / f"scan{suffix}"
    sitk.WriteImage(img, str(path))
    got = read_ct(path)
    assert_same_geometry(got, scan, atol=1e-4)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.provenance["source_format"] == suffix[1:]
    if suffix == ".mhd":
        assert got.provenance["n_files"] == 2  # header + raw data hashed into the key


def test_nifti_written_by_others_ras_flip(tmp_path: Path) -> None:
    import nibabel as nib

    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (i, j, k)
    aff = np.diag([2.0, 3.0, 4.0, 1.0])
    aff[:3, 3] = [10.0, 20.0, 30.0]
    nib.save(nib.Nifti1Image(data, aff), str(tmp_path / "ras.nii"))
    got = read_ct(tmp_path / "ras.nii")
    assert got.shape == (6, 5, 4)  # (slice=k, row=j, col=i)
    # voxel (i=1, j=2, k=3) is at RAS (12, 26, 42) = LPS (-12, -26, 42)
    np.testing.assert_allclose(got.index_to_lps([3, 2, 1]), [-12.0, -26.0, 42.0])
    assert got.hu[3, 2, 1] == data[1, 2, 3]


def test_study_key_is_stable_and_distinct(synth_scan: SynthScan, tmp_path: Path) -> None:
    scan = synth_scan()
    write_dicom_series(scan, tmp_path / "a", study_uid="1.2.3", series_uid="1.2.3.4")
    write_dicom_series(scan, tmp_path / "b", study_uid="1.2.3", series_uid="1.2.3.4", shuffle=True)
    write_dicom_series(scan, tmp_path / "c", study_uid="1.2.3", series_uid="1.2.3.5")
    keys = [read_ct(tmp_path / x).study_key for x in "abc"]
    assert keys[0] == keys[1] != keys[2]


def test_zip_holding_one_nifti(synth_scan: SynthScan, tmp_path: Path) -> None:
    scan = synth_scan()
    write_nifti(scan, tmp_path / "head.nii.gz")
    archive = tmp_path / "head.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "head.nii.gz", "export/head.nii.gz")
        zf.writestr("export/README.txt", "one volume")
    got = read_ct(archive)
    assert_same_geometry(got, scan, atol=1e-4)
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert got.provenance["source_format"] == "nifti-zip"


def test_padding_range_limit_in_implicit_vr(synth_scan: SynthScan, tmp_path: Path) -> None:
    import pydicom

    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path, pixel_padding_value=-2000, compression="implicit")
    for p in paths:  # padding given as a range -2000..-1500 (stored values)
        ds = pydicom.dcmread(p)
        arr = ds.pixel_array.copy()
        arr[arr == -2000] = -1700
        ds.PixelData = arr.tobytes()
        ds.add_new(0x00280121, "SS", -1500)  # PixelPaddingRangeLimit (US or SS)
        ds.save_as(p)
    got = read_ct(tmp_path)
    assert got.provenance["pixel_padding_range_limit"] == -1500
    outside = _outside_fov(scan.shape[1:])
    assert np.all(got.hu[:, outside] == -1000.0)
    np.testing.assert_array_equal(got.hu[:, ~outside], scan.hu[:, ~outside])
    assert got.provenance["n_padding_pixels"] == int(outside.sum()) * scan.shape[0]


def test_enhanced_per_frame_rescale_overrides_shared(synth_scan: SynthScan, tmp_path: Path) -> None:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    scan = synth_scan()
    (path,) = write_dicom_series(scan, tmp_path, enhanced=True, rescale=(1.0, -1024.0))
    ds = pydicom.dcmread(path)
    item = Dataset()
    item.RescaleSlope, item.RescaleIntercept, item.RescaleType = 1, -1000, "HU"
    ds.PerFrameFunctionalGroupsSequence[2].PixelValueTransformationSequence = DicomSequence([item])
    ds.save_as(path)
    got = read_ct(tmp_path)
    expected = scan.hu.copy()
    expected[2] = np.maximum(expected[2] + 24.0, -1024.0)
    np.testing.assert_array_equal(got.hu, expected)


def test_mixed_thickness_is_not_missing_slices_and_survives_rewrite(
    synth_scan: SynthScan, tmp_path: Path
) -> None:
    base = synth_scan(shape=(10, 16, 16), spacing=(4.0, 0.7, 0.7))
    z = np.concatenate([np.arange(5) * 4.0, 16.0 + 1.0 + np.arange(1, 6) * 7.0 - 7.0])
    pos = base.slice_positions_lps_mm.copy()
    pos[:, 2] = pos[0, 2] + z  # five 4 mm slices, then five 7 mm slices
    scan = base.replace(slice_positions_lps_mm=pos)
    thickness = [4.0] * 5 + [7.0] * 5
    write_dicom_series(scan, tmp_path / "a", slice_thickness_mm=thickness)
    got = read_ct(tmp_path / "a")
    assert got.provenance["n_missing_slices"] == 0
    assert any("mixed slice thickness 4/7" in w for w in got.warnings)
    assert got.provenance["slice_thickness_per_slice_mm"] == thickness
    write_dicom_series(got, tmp_path / "b")  # the per-slice thickness is reused
    again = read_ct(tmp_path / "b")
    assert again.provenance["slice_thickness_per_slice_mm"] == thickness
    assert again.provenance["n_missing_slices"] == 0
    np.testing.assert_allclose(again.slice_positions_lps_mm, pos, atol=1e-5)
