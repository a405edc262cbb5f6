"""Bad input: one-line InputError (exit 2) or a warning when the rest is usable."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from calcscan.errors import InputError
from calcscan.io import read_ct, write_dicom_series
from calcscan.scan import CTScan

SynthScan = Callable[..., CTScan]


def _one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="path does not exist") as exc:
        read_ct(tmp_path / "nope")
    _one_line(exc)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty folder"):
        read_ct(tmp_path)


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(InputError, match="no DICOM files among 2 file"):
        read_ct(tmp_path)


def test_non_ct_modality(tmp_path: Path, synth_scan: SynthScan) -> None:
    write_dicom_series(synth_scan(), tmp_path, modality="MR")
    with pytest.raises(InputError, match="not a CT: Modality is MR"):
        read_ct(tmp_path)


def test_single_slice_folder_and_file(tmp_path: Path, synth_scan: SynthScan) -> None:
    paths = write_dicom_series(synth_scan(shape=(1, 20, 20)), tmp_path)
    with pytest.raises(InputError, match="one slice is not a volume"):
        read_ct(tmp_path)
    with pytest.raises(InputError, match="one slice is not a volume"):
        read_ct(paths[0])


def test_truncated_file_is_skipped_with_warning(tmp_path: Path, synth_scan: SynthScan) -> None:
    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path)
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[: len(data) - 500])  # pixel data cut short
    got = read_ct(tmp_path)
    assert got.shape[0] == scan.shape[0] - 1
    assert any("skipped unreadable file" in w and paths[4].name in w for w in got.warnings)
    assert any("missing slice" in w for w in got.warnings)
    # the remaining slices keep their exact positions
    expected = np.delete(scan.slice_positions_lps_mm, 4, axis=0)
    np.testing.assert_allclose(got.slice_positions_lps_mm, expected, atol=1e-5)


def test_header_garbage_is_skipped(tmp_path: Path, synth_scan: SynthScan) -> None:
    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path)
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[:300])  # preamble + a piece of the header
    got = read_ct(tmp_path)
    assert got.shape[0] == scan.shape[0] - 1
    assert any(paths[0].name in w for w in got.warnings)


def test_all_files_corrupt_fails(tmp_path: Path, synth_scan: SynthScan) -> None:
    paths = write_dicom_series(synth_scan(shape=(3, 20, 20)), tmp_path)
    for p in paths:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) - 200])
    with pytest.raises(InputError, match="unreadable") as exc:
        read_ct(tmp_path)
    _one_line(exc)


def test_identical_duplicate_is_dropped(tmp_path: Path, synth_scan: SynthScan) -> None:
    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path)
    shutil.copy(paths[3], tmp_path / "copy_of_slice_3.dcm")
    ds = pydicom.dcmread(paths[5])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()  # a re-sent copy with a new UID
    ds.save_as(tmp_path / "resent_slice_5.dcm")
    got = read_ct(tmp_path)
    assert got.shape == scan.shape
    np.testing.assert_array_equal(got.hu, scan.hu)
    assert any("dropped 2 duplicate slice" in w for w in got.warnings)


def test_conflicting_duplicate_fails(tmp_path: Path, synth_scan: SynthScan) -> None:
    paths = write_dicom_series(synth_scan(), tmp_path)
    ds = pydicom.dcmread(paths[5])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    arr = ds.pixel_array.copy()
    arr[10, 10] += 100
    ds.PixelData = arr.tobytes()
    ds.save_as(tmp_path / "other_acquisition.dcm")
    with pytest.raises(InputError, match="two different slices at the same position"):
        read_ct(tmp_path)


def test_inconsistent_orientation_fails(tmp_path: Path, synth_scan: SynthScan) -> None:
    paths = write_dicom_series(synth_scan(), tmp_path)
    ds = pydicom.dcmread(paths[2])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.9, -0.43589]
    ds.save_as(paths[2])
    with pytest.raises(InputError, match="inconsistent orientation"):
        read_ct(tmp_path)


def test_inconsistent_pixel_spacing_fails(tmp_path: Path, synth_scan: SynthScan) -> None:
    paths = write_dicom_series(synth_scan(), tmp_path)
    ds = pydicom.dcmread(paths[7])
    ds.PixelSpacing = [0.9, 0.9]
    ds.save_as(paths[7])
    with pytest.raises(InputError, match="inconsistent pixel spacing"):
        read_ct(tmp_path)


def test_missing_slices_warn_with_count(tmp_path: Path, synth_scan: SynthScan) -> None:
    scan = synth_scan(shape=(12, 20, 20))
    write_dicom_series(scan, tmp_path, drop_slices=[5, 6, 9])
    got = read_ct(tmp_path)
    assert got.shape[0] == 9
    missing = [w for w in got.warnings if "missing slice" in w]
    assert len(missing) == 1 and missing[0].startswith("3 missing slice(s)")
    assert got.provenance["n_missing_slices"] == 3
    np.testing.assert_allclose(
        got.slice_positions_lps_mm, np.delete(scan.slice_positions_lps_mm, [5, 6, 9], axis=0)
    )


def test_no_rescale_warns_when_values_are_not_hu(tmp_path: Path, synth_scan: SynthScan) -> None:
    write_dicom_series(synth_scan(), tmp_path, rescale=(1.0, 0.0), signed=True)
    for p in tmp_path.iterdir():  # a broken export: raw values without the intercept
        ds = pydicom.dcmread(p)
        arr = ds.pixel_array.astype(np.int16) + 1024
        ds.PixelData = arr.tobytes()
        ds.save_as(p)
    got = read_ct(tmp_path)
    assert any("check the rescale intercept" in w for w in got.warnings)


def test_bad_zip_and_unknown_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read nifti file"):
        read_ct(bad)
    other = tmp_path / "scan.xyz"
    other.write_text("?")
    with pytest.raises(InputError, match="no DICOM files"):
        read_ct(other)


def test_folder_with_only_a_volume_file_names_it(tmp_path: Path, synth_scan: SynthScan) -> None:
    from calcscan.io import write_nifti

    write_nifti(synth_scan(), tmp_path / "head.nii.gz")
    with pytest.raises(InputError, match="give that file as the input") as exc:
        read_ct(tmp_path)
    assert "head.nii.gz" in _one_line(exc)


def test_missing_image_position_fails(tmp_path: Path, synth_scan: SynthScan) -> None:
    paths = write_dicom_series(synth_scan(), tmp_path)
    ds = pydicom.dcmread(paths[3])
    del ds.ImagePositionPatient
    ds.save_as(paths[3])
    with pytest.raises(InputError, match="without ImagePositionPatient"):
        read_ct(tmp_path)


def test_unused_high_bits_are_masked(tmp_path: Path, synth_scan: SynthScan) -> None:
    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path, bits_stored=12, signed=False)
    for p in paths:  # old scanners keep overlay bits above BitsStored
        ds = pydicom.dcmread(p)
        raw = np.frombuffer(ds.PixelData, np.uint16) | np.uint16(0xF000)
        ds.PixelData = raw.tobytes()
        ds.save_as(p)
    np.testing.assert_array_equal(read_ct(tmp_path).hu, scan.hu)


def test_raw_dicom_without_preamble_or_meta(tmp_path: Path, synth_scan: SynthScan) -> None:
    import io

    scan = synth_scan()
    paths = write_dicom_series(scan, tmp_path, extension="")
    for p in paths:
        ds = pydicom.dcmread(p)
        del ds.file_meta
        ds.preamble = None
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=False, implicit_vr=False, little_endian=True)
        p.write_bytes(buf.getvalue())
    assert paths[0].read_bytes()[:2] == b"\x08\x00"  # starts with a (0008,xxxx) element
    got = read_ct(tmp_path)
    np.testing.assert_array_equal(got.hu, scan.hu)
    np.testing.assert_allclose(got.slice_positions_lps_mm, scan.slice_positions_lps_mm, atol=1e-5)


def test_colour_images_are_refused(tmp_path: Path, synth_scan: SynthScan) -> None:
    from calcscan.io import read_dicom_frames

    paths = write_dicom_series(synth_scan(shape=(2, 8, 8)), tmp_path)
    for p in paths:  # a secondary-capture style RGB screenshot in a "CT" series
        ds = pydicom.dcmread(p)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = np.zeros((8, 8, 3), np.uint8).tobytes()
        ds.save_as(p)
    with pytest.raises(InputError, match="colour image"):
        read_dicom_frames(paths[0])
    with pytest.raises(InputError, match=r"unreadable.*colour image"):
        read_ct(tmp_path)
