"""Every file of ../shared/data/ct loads with the right geometry and HU, or is refused as intended.

Skipped when the shared data are absent (fixture ``shared_ct``). Expected values come from the
data README and from the source headers read here independently with pydicom.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from calcscan.errors import InputError
from calcscan.io import read_ct, read_dicom_frames
from calcscan.io.decode import AIR_HU, MIN_HU

pytestmark = pytest.mark.shared_data


CACHED = ("invesalius_0051_head/dicom", "dcm_qa_ct_GE_head/dicom")


@functools.lru_cache(maxsize=len(CACHED))
def _read_cached(path: Path) -> Any:
    """Read each big volume once per session (the tests only look at it)."""
    return read_ct(path)


def air_peak_hu(hu: np.ndarray) -> float:
    """Mode of the air voxels, leaving out values the reader sets itself (padding, clip floor)."""
    v = hu[(hu > -1100) & (hu < -900) & (hu != AIR_HU) & (hu != MIN_HU)]
    hist, edges = np.histogram(v, bins=100, range=(-1100, -900))
    return float(edges[hist.argmax()] + 1.0)


def soft_peak_hu(hu: np.ndarray, lo: float = -20.0, hi: float = 150.0) -> float:
    """Mode of the soft-tissue range in 2 HU bins."""
    hist, edges = np.histogram(hu, bins=int((hi - lo) / 2), range=(lo, hi))
    return float(edges[hist.argmax()] + 1.0)


VOLUMES: dict[str, dict[str, Any]] = {
    "invesalius_0051_head/dicom": {
        "shape": (108, 512, 512),
        "spacing": (1.5, 0.4785156, 0.4785156),
        "rows": (0, 1, 0),
        "cols": (1, 0, 0),
        "soft": (0, 60),
        "tilt": 0.0,
    },
    "dcm_qa_ct_GE_head/dicom": {
        "shape": (28, 512, 512),
        "spacing": (4.218, 0.4882812, 0.4882812),
        "rows": (0, 0.9483237, -0.3173047),
        "cols": (1, 0, 0),
        "soft": (0, 60),
        "tilt": 18.5,
    },
    "totalseg_example_ct_dicom/dicom": {
        "shape": (20, 512, 512),
        "spacing": (2.0, 0.9765625, 0.9765625),
        "rows": (0, 1, 0),
        "cols": (1, 0, 0),
        "soft": (60, 130),  # contrast-enhanced abdomen (ContrastBolusAgent APPLIED): parenchyma
        "tilt": 0.0,
    },
    "dicom2stl_ct_example/ct_example.nii.gz": {
        "shape": (26, 256, 256),
        "spacing": (4.0, 1.25, 1.25),
        "rows": (0, 1, 0),  # affine axis codes L, P, S
        "cols": (1, 0, 0),
        "soft": (0, 60),
        "tilt": 0.0,
    },
    "totalseg_example_ct/example_ct.nii.gz": {
        "shape": (112, 101, 122),
        "spacing": (3.0, 3.0, 3.0),
        "rows": (0, -1, 0),  # RAS on disk: j runs anterior = -P
        "cols": (-1, 0, 0),  # i runs right = -L
        "soft": (0, 60),
        "tilt": 0.0,
    },
    "totalseg_example_ct/example_ct_sm.nii.gz": {
        "shape": (30, 101, 122),
        "spacing": (3.0, 3.0, 3.0),
        "rows": (0, -1, 0),
        "cols": (-1, 0, 0),
        "soft": (0, 60),
        "tilt": 0.0,
    },
}


@pytest.mark.parametrize("rel", sorted(VOLUMES))
def test_volume_geometry_and_hu(shared_ct: Path, rel: str) -> None:
    exp = VOLUMES[rel]
    scan = _read_cached(shared_ct / rel) if rel in CACHED else read_ct(shared_ct / rel)
    assert scan.shape == exp["shape"]
    np.testing.assert_allclose(scan.spacing_mm, exp["spacing"], atol=2e-3)
    np.testing.assert_allclose(scan.row_vector_lps / scan.spacing_mm[1], exp["rows"], atol=1e-5)
    np.testing.assert_allclose(scan.col_vector_lps / scan.spacing_mm[2], exp["cols"], atol=1e-5)
    assert scan.gantry_tilt_deg == pytest.approx(exp["tilt"], abs=0.05)
    assert -1010.0 <= air_peak_hu(scan.hu) <= -960.0
    lo, hi = exp["soft"]
    assert lo <= soft_peak_hu(scan.hu) <= hi
    # slices are sorted along the plane normal
    depth = scan.slice_positions_lps_mm @ scan.slice_normal_lps
    assert np.all(np.diff(depth) > 0)
    assert len(scan.study_key) == 16


def _source_slices(folder: Path) -> list[pydicom.Dataset]:
    """Source files sorted along their plane normal, read independently of calcscan."""
    sets = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    iop = np.asarray(sets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(
        sets, key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal))
    )


def _check_world_coordinates(scan: Any, ds: pydicom.Dataset) -> None:
    """World coordinates of chosen pixels of ``ds`` equal IPP/IOP/PixelSpacing (0.1 mm)."""
    raw = ds.pixel_array.astype(np.float64)
    hu = raw * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    valid = hu >= MIN_HU
    if "PixelPaddingValue" in ds:
        valid &= raw != int(ds.PixelPaddingValue)
    # which slice of the scan holds this file's pixels (found by content, not geometry)
    matches = [k for k in range(scan.shape[0]) if np.array_equal(scan.hu[k][valid], hu[valid])]
    assert len(matches) == 1
    k = matches[0]
    ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    for r, c in [(0, 0), (100, 400), (511, 17), (256, 256)]:
        expected = ipp + c * col_mm * iop[:3] + r * row_mm * iop[3:]
        np.testing.assert_allclose(scan.index_to_lps([k, r, c]), expected, atol=0.1)
        np.testing.assert_allclose(scan.lps_to_index(expected), [k, r, c], atol=1e-3)


def test_invesalius_gap_world_coordinates(shared_ct: Path) -> None:
    folder = shared_ct / "invesalius_0051_head/dicom"
    scan = _read_cached(folder)
    src = _source_slices(folder)
    z = np.array([float(d.ImagePositionPatient[2]) for d in src])
    gap = int(np.argmin(np.diff(z)))
    assert np.diff(z)[gap] == pytest.approx(1.0)
    assert any("irregular slice spacing" in w and "1.00 mm" in w for w in scan.warnings)
    for i in sorted({0, gap, gap + 1, len(src) - 1}):
        _check_world_coordinates(scan, src[i])
    assert scan.patient_sex == "M"
    assert scan.patient_age_years == pytest.approx(31.7, abs=0.01)  # birth and study dates
    assert scan.provenance["convolution_kernel"] is not None


def test_ge_tilt_world_coordinates(shared_ct: Path) -> None:
    folder = shared_ct / "dcm_qa_ct_GE_head/dicom"
    scan = _read_cached(folder)
    src = _source_slices(folder)
    thick = [float(d.SliceThickness) for d in src]
    change = thick.index(7.0)
    for i in sorted({0, change - 1, change, len(src) - 1}):
        _check_world_coordinates(scan, src[i])
    assert any("gantry tilt 18.5" in w for w in scan.warnings)
    assert any("mixed slice thickness 4/7" in w for w in scan.warnings)
    assert scan.provenance["n_missing_slices"] == 0  # 7 mm steps are not missing 4 mm slices
    assert scan.provenance["n_padding_pixels"] > 0  # PixelPaddingValue -1500 -> air


SINGLE_SLICES = [
    "dicomparser_testimages/ctimage.dcm",
    "dicomparser_testimages/testImages/CT1_UNC.explicit_big_endian.dcm",
    "dicomparser_testimages/testImages/CT1_UNC.explicit_little_endian.dcm",
    "dicomparser_testimages/testImages/CT1_UNC.implicit_little_endian.dcm",
    "dicomparser_testimages/testImages/encapsulated/single-frame/CT1_UNC.explicit_little_endian.dcm",
    "dicomparser_testimages/testImages/encapsulated/single-frame/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm",
    "dicomparser_testimages/testImages/encapsulated/single-frame/CT1_UNC.fragmented_no_bot_jpeg_ls.80.dcm",
    "dicomparser_testimages/testImages/encapsulated/single-frame/CT1_UNC.not_fragmented_bot_jpeg_ls.80.dcm",
    "dicomparser_testimages/testImages/encapsulated/single-frame/CT1_UNC.not_fragmented_no_bot_jpeg_ls.80.dcm",
    "pydicom_data_ct/693_J2KR.dcm",
    "pydicom_data_ct/693_UNCI.dcm",
    "pydicom_data_ct/693_UNCR.dcm",
    "pydicom_testfiles_ct/CT_small.dcm",
]


@pytest.mark.parametrize("rel", SINGLE_SLICES)
def test_single_slices_are_refused_but_decode(shared_ct: Path, rel: str) -> None:
    with pytest.raises(InputError, match="one slice is not a volume"):
        read_ct(shared_ct / rel)
    frames = read_dicom_frames(shared_ct / rel)
    assert frames.hu.shape[0] == 1 and frames.hu.dtype == np.float32
    assert 0 <= soft_peak_hu(frames.hu) <= 60
    if "CT_small" not in rel:  # a cropped 128x128 smoke image without air
        assert -1010.0 <= air_peak_hu(frames.hu) <= -960.0


def test_transfer_syntax_variants_decode_identically(shared_ct: Path) -> None:
    base = shared_ct / "dicomparser_testimages/testImages"
    ref = read_dicom_frames(base / "CT1_UNC.explicit_little_endian.dcm").hu
    variants = [p for p in base.rglob("CT1_UNC.*.dcm")]
    assert len(variants) == 8
    for p in variants:
        np.testing.assert_array_equal(read_dicom_frames(p).hu, ref, err_msg=p.name)
    # pydicom-data: JPEG 2000 lossless equals the uncompressed original
    pd = shared_ct / "pydicom_data_ct"
    np.testing.assert_array_equal(
        read_dicom_frames(pd / "693_J2KR.dcm").hu, read_dicom_frames(pd / "693_UNCR.dcm").hu
    )


MULTIFRAME = sorted(
    [
        "pydicom_data_ct/eCT_Supplemental.dcm",
        *(
            f"dicomparser_testimages/testImages/encapsulated/multi-frame/CT0012.{name}.dcm"
            for name in (
                "explicit_little_endian",
                "fragmented_no_bot_jpeg_lossless.57",
                "fragmented_no_bot_jpeg_lossless.70",
                "fragmented_no_bot_jpeg_ls.80",
                "not_fragmented_bot_jpeg_ls.80",
                "not_fragmented_bot_rle",
                "not_fragmented_no_bot_jpeg_ls.80",
                "not_fragmented_no_bot_rle",
            )
        ),
    ]
)


def _enhanced_reference(shared_ct: Path) -> np.ndarray:
    ds = pydicom.dcmread(
        shared_ct / "dicomparser_testimages/testImages/encapsulated/multi-frame/"
        "CT0012.explicit_little_endian.dcm"
    )
    pvt = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    assert "RescaleIntercept" not in ds  # the rescale lives only in the functional groups
    return ds.pixel_array * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)


@pytest.mark.parametrize("rel", MULTIFRAME)
def test_enhanced_two_frames_decode_to_hu_and_read_as_two_slices(shared_ct: Path, rel: str) -> None:
    ref = _enhanced_reference(shared_ct)
    frames = read_dicom_frames(shared_ct / rel)
    assert frames.hu.shape == (2, 512, 512)
    np.testing.assert_array_equal(frames.hu, np.maximum(ref, MIN_HU).astype(np.float32))
    assert frames.hu.min() == -1024.0  # raw 0 + intercept -1024 from the functional group
    # decision: two frames at distinct positions are a (thin) volume of two slices
    scan = read_ct(shared_ct / rel)
    assert scan.shape == (2, 512, 512)
    # IOP rows (-1, 0, 0) x cols (0, 1, 0): the normal points to -z, so z = -149 comes first
    np.testing.assert_allclose(scan.slice_positions_lps_mm[:, 2], [-149.0, -159.0])
    np.testing.assert_array_equal(scan.hu, frames.hu[::-1])
    np.testing.assert_allclose(scan.spacing_mm, (10.0, 0.388672, 0.388672), atol=1e-6)
    assert any("not ORIGINAL" in w for w in scan.warnings)  # a DERIVED perfusion (rCBF) map


def test_near_lossless_jpeg_ls_within_its_error_bound(shared_ct: Path) -> None:
    ref = np.maximum(_enhanced_reference(shared_ct), MIN_HU)
    rel = "dicomparser_testimages/testImages/encapsulated/multi-frame/"
    hu = read_dicom_frames(shared_ct / rel / "CT0012.fragmented_no_bot_jpeg_ls.81.dcm").hu
    err = np.abs(hu - ref)
    assert 0 < err.max() <= 3  # JPEG-LS near-lossless (dcmcjpls +en: NEAR=2 by default)


def test_jpeg_extended_12bit_lossy_decodes(shared_ct: Path) -> None:
    """DCMTK shifted the stored values by +1023 to fit 12 bits without fixing the rescale.

    The decoder is right (the pixels equal the original plus 1023 within the lossy error), and
    the reader flags the resulting HU (no air) instead of guessing a correction.
    """
    rel = "dicomparser_testimages/testImages/encapsulated/multi-frame/"
    path = shared_ct / rel / "CT0012.fragmented_no_bot_jpeg_baseline.51.dcm"
    pytest.importorskip("libjpeg", reason="12-bit JPEG Extended needs pylibjpeg-libjpeg")
    ref = _enhanced_reference(shared_ct)
    hu = read_dicom_frames(path).hu
    assert np.abs((hu - 1023.0) - ref).mean() < 2.0
    assert np.abs((hu - 1023.0) - ref).max() < 60.0
    scan = read_ct(path)
    assert any("check the rescale intercept" in w for w in scan.warnings)


def test_describe_ge_head(shared_ct: Path) -> None:
    from calcscan.io.describe import describe_scan, hu_statistics

    folder = shared_ct / "dcm_qa_ct_GE_head/dicom"
    scan = _read_cached(folder)
    report = describe_scan(scan)
    geo = report["geometry"]
    assert geo["gantry_tilt_deg"] == pytest.approx(18.5, abs=0.05)
    assert geo["axis_codes"] == "SPL"
    assert geo["n_missing_slices"] == 0
    assert report["hu"]["air_peak_hu"] == pytest.approx(air_peak_hu(scan.hu), abs=2.0)
    assert 20 <= report["hu"]["soft_tissue_peak_hu"] <= 40  # README: +22 to +38 HU in heads
    assert hu_statistics(scan.hu)["percentiles"]["p50"] < 0


def test_ge_head_rewrites_exactly(shared_ct: Path, tmp_path: Path) -> None:
    """Writing a real tilted, mixed-thickness series and reading it back changes nothing."""
    from calcscan.io import write_dicom_series

    scan = _read_cached(shared_ct / "dcm_qa_ct_GE_head/dicom")
    write_dicom_series(scan, tmp_path)
    again = read_ct(tmp_path)
    np.testing.assert_array_equal(again.hu, scan.hu)
    np.testing.assert_allclose(again.slice_positions_lps_mm, scan.slice_positions_lps_mm, atol=1e-4)
    np.testing.assert_allclose(again.affine_lps, scan.affine_lps, atol=1e-6)
    assert again.provenance["n_missing_slices"] == 0
