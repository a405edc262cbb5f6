"""Globes and face frame: phantoms (thin/thick slices, tilt, yaw, roll), non-heads, real heads."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from calcscan.detect import DetectConfig
from calcscan.detect.landmarks import FaceFrame, find_face_frame
from calcscan.detect.tissue import compute_tissue
from calcscan.phantom import make_head_phantom
from calcscan.scan import CTScan

#: Globe centres of the phantom by construction (LPS mm; calcscan.phantom.head).
RIGHT = np.array([-32.0, -52.0, 0.0])
LEFT = np.array([32.0, -52.0, 0.0])


def frame_of(scan: CTScan) -> FaceFrame:
    return find_face_frame(scan, compute_tissue(scan.hu, scan.spacing_mm, DetectConfig()))


def globes(frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    lm = frame.landmarks
    return np.asarray(lm["globe_right"]), np.asarray(lm["globe_left"])


@pytest.mark.parametrize(
    ("spacing", "tilt", "tol_mm"),
    [((1.5, 0.8, 0.8), 0.0, 1.5), ((4.0, 0.8, 0.8), 0.0, 2.5), ((1.5, 0.8, 0.8), 15.0, 1.5)],
)
def test_globes_on_phantom(spacing: tuple[float, float, float], tilt: float, tol_mm: float) -> None:
    scan, _ = make_head_phantom(seed=7, nodules={}, spacing_mm=spacing, tilt_deg=tilt)
    frame = frame_of(scan)
    assert frame.method == "globes"
    right, left = globes(frame)
    assert np.linalg.norm(right - RIGHT) <= tol_mm
    assert np.linalg.norm(left - LEFT) <= tol_mm
    assert frame.landmarks["confidence"] >= 0.5
    assert np.degrees(np.arccos(frame.lateral @ [1.0, 0.0, 0.0])) <= 2.0


def rotated_phantom(rot: Rotation) -> CTScan:
    """The phantom turned by ``rot`` (LPS) about the midpoint of its globes, same grid."""
    scan, _ = make_head_phantom(seed=11, nodules={}, spacing_mm=(1.5, 0.8, 0.8))
    a = scan.affine_lps[:3, :3]
    t = scan.affine_lps[:3, 3]
    o = (RIGHT + LEFT) / 2
    r_inv = rot.inv().as_matrix()
    # output index i -> LPS p = A i + t -> source LPS q = R^-1 (p - o) + o -> source index
    a_inv = np.linalg.inv(a)
    matrix = a_inv @ r_inv @ a
    offset = a_inv @ (r_inv @ (t - o) + o - t)
    hu = ndimage.affine_transform(
        scan.hu.astype(np.float32), matrix, offset=offset, order=1, cval=-1000.0
    )
    return scan.replace(hu=hu)


@pytest.mark.parametrize(("yaw_deg", "roll_deg"), [(20.0, 0.0), (0.0, 8.0), (-12.0, -6.0)])
def test_frame_follows_yaw_and_roll(yaw_deg: float, roll_deg: float) -> None:
    # yaw about the vertical (z), roll about the antero-posterior axis (y)
    rot = Rotation.from_euler("zy", [yaw_deg, -roll_deg], degrees=True)
    frame = frame_of(rotated_phantom(rot))
    assert frame.method == "globes"
    o = (RIGHT + LEFT) / 2
    want_r, want_l = rot.apply(RIGHT - o) + o, rot.apply(LEFT - o) + o
    right, left = globes(frame)
    assert np.linalg.norm(right - want_r) <= 2.0
    assert np.linalg.norm(left - want_l) <= 2.0
    want_lat = rot.apply([1.0, 0.0, 0.0])
    assert np.degrees(np.arccos(np.clip(frame.lateral @ want_lat, -1, 1))) <= 2.5
    assert abs(frame.landmarks["roll_deg"] - np.degrees(np.arcsin(want_lat[2]))) <= 2.0


def test_no_face_falls_back_and_says_why() -> None:
    # a soft-tissue cylinder with a fat rim: a body, but no globes
    k, r, c = np.mgrid[0:40, 0:160, 0:160]
    hu = np.full(k.shape, -1000.0, np.float32)
    rr = np.hypot(r - 80, c - 80)
    hu[rr < 70] = -100.0
    hu[rr < 60] = 40.0
    # index (slice, row, col) -> LPS: x = col, y = row (1 mm), z = 2.5 mm per slice
    aff = np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [2.5, 0, 0, 0], [0, 0, 0, 1.0]])
    scan = CTScan.from_affine(hu, aff)
    frame = frame_of(scan)
    assert frame.method == "fallback_anterior_point"
    assert frame.landmarks["confidence"] == 0.0
    assert frame.landmarks["fallback_reason"]
    air = scan.replace(hu=np.full(k.shape, -1000.0, np.float32))
    assert frame_of(air).method == "none"


def test_detector_does_not_read_the_validators_landmarks() -> None:
    """The annotated globes are the validator's truth: landmarks/globes must not import it."""
    pkg = resources.files("calcscan.detect")
    for name in ("landmarks.py", "globes.py", "regions.py"):
        tree = ast.parse(pkg.joinpath(name).read_text("utf-8"))
        mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in mods if m.startswith(("calcscan.phantom", "calcscan.validate"))]
        assert "landmarks.yaml" not in pkg.joinpath(name).read_text("utf-8")


REAL = [
    ("invesalius_0051_head/dicom", 7.0),
    ("dcm_qa_ct_GE_head/dicom", 7.0),
    ("dicom2stl_ct_example/ct_example.nii.gz", 7.0),
]


@pytest.mark.parametrize(("rel", "tol_mm"), REAL)
def test_real_heads_globes_near_annotation(shared_ct: Path, rel: str, tol_mm: float) -> None:
    """Detected globes lie near the hand annotation (which is itself good to a few mm)."""
    from calcscan.io import read_ct
    from calcscan.phantom.realregions import landmarks_for

    scan = read_ct(shared_ct / rel)
    truth = landmarks_for(scan.study_key)
    assert truth is not None
    frame = frame_of(scan)
    assert frame.method == "globes"
    right, left = globes(frame)
    assert np.linalg.norm(right - truth.globe_right_lps_mm) <= tol_mm
    assert np.linalg.norm(left - truth.globe_left_lps_mm) <= tol_mm
    assert frame.landmarks["confidence"] >= 0.5
