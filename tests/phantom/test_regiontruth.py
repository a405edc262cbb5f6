"""Region truth: the project's definitions evaluated in the validator's own face frame."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.phantom.realregions import known_landmarks, landmarks_for
from calcscan.phantom.regiontruth import FaceAxes, region_truth

AX = FaceAxes.from_globes((-32.0, -52.0, 0.0), (32.0, -52.0, 0.0))


def test_frame_axes_of_an_upright_head():
    np.testing.assert_allclose(AX.lateral, [1, 0, 0])
    np.testing.assert_allclose(AX.anterior, [0, -1, 0])
    np.testing.assert_allclose(AX.superior, [0, 0, 1])
    np.testing.assert_allclose(AX.origin, [0, -52, 0])


@pytest.mark.parametrize(
    ("point", "normal", "region"),
    [
        ((0.0, -110.0, 40.0), (0, -1, 0.3), "frontal"),  # mid forehead, facing forward
        ((0.0, -100.0, -25.0), (0, -1, 0), "nasal"),  # nose, 48 mm in front of the globes
        ((40.0, -85.0, -35.0), (0.2, -1, 0), "maxillary"),  # cheek
        ((70.0, -40.0, 25.0), (1, -0.2, 0), "temporal"),  # temple, facing sideways
        ((40.0, -80.0, -80.0), (0.3, -1, -0.3), "mandibular_buccal"),
        ((0.0, 60.0, 60.0), (0, 1, 0.5), "scalp"),  # back of the head
    ],
)
def test_clear_cases(point, normal, region):
    assert region_truth(AX, [point], [normal]) == [region]


def test_border_points_have_no_truth():
    # 14 mm from the midline, 20 mm below the globes: the nasal/maxillary border
    assert region_truth(AX, [(14.0, -110.0, -20.0)], [(0, -1, 0)]) == [None]
    assert region_truth(
        AX, [(14.0, -110.0, -20.0)], [(0, -1, 0)], margin_mm=0.0, margin_deg=0.0
    ) == ["nasal"]


def test_real_heads_are_annotated_with_plausible_globes():
    heads = known_landmarks()
    assert len(heads) == 3
    for key, lm in heads.items():
        assert landmarks_for(key) == lm
        d = np.linalg.norm(np.subtract(lm.globe_left_lps_mm, lm.globe_right_lps_mm))
        assert 45.0 <= d <= 80.0, lm.name  # interpupillary distances of adults
        assert lm.axes().lateral[0] > 0.7  # left globe at larger LPS x
    assert landmarks_for("not-a-key") is None


def test_real_globes_match_the_images(shared_ct):
    """The annotated centres sit in the vitreous (soft tissue) of the real scans."""
    from calcscan.io import read_ct

    paths = {
        "invesalius_0051_head": "invesalius_0051_head/dicom",
        "dcm_qa_ct_GE_head": "dcm_qa_ct_GE_head/dicom",
        "dicom2stl_ct_example": "dicom2stl_ct_example/ct_example.nii.gz",
    }
    for key, lm in known_landmarks().items():
        scan = read_ct(shared_ct / paths[lm.name])
        assert scan.study_key == key
        for g in (lm.globe_right_lps_mm, lm.globe_left_lps_mm):
            k, r, c = np.round(scan.lps_to_index(g)).astype(int)
            patch = scan.hu[k, r - 3 : r + 4, c - 3 : c + 4]
            assert -20 <= float(np.median(patch)) <= 60, lm.name
