"""Mimic rejection (every reason code), definite/possible split and morphology rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.spatial import cKDTree

from calcscan.detect import REJECTION_REASONS, DetectConfig
from calcscan.detect.candidates import Candidate
from calcscan.detect.mimics import classify, definite_peak_hu, rejection_reason
from calcscan.detect.morphology import classify_morphology

CFG = DetectConfig()


def nodule_measures(**changes: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "diameter_mm": 1.8,
        "volume_mm3": 3.0,
        "peak_hu": 600.0,
        "mean_hu": 300.0,
        "depth_mm": 1.5,
        "extent_mm": 1.8,
        "elongation": 1.3,
        "bone_dist_mm": 8.0,
        "attached_to_bone": False,
        "rim_fraction": 0.0,
        "protrusion_fraction": 0.0,
        "touches_outside_air": False,
        "touches_cavity_air": False,
        "conspicuity": 40.0,
        "center_lucency": 0.0,
        "center_ratio": 1.0,
        "solidity": 0.9,
    }
    m.update(changes)
    return m


def cand(**changes: Any) -> Candidate:
    return Candidate(
        label=1,
        voxels=np.zeros((1, 3), dtype=np.intp),
        centroid_index=np.zeros(3),
        centroid_lps_mm=np.array([30.0, -80.0, 40.0]),
        measures=nodule_measures(**changes),
    )


CASES: dict[str, tuple[dict[str, Any], float]] = {
    "bone_partial_volume": ({"attached_to_bone": True}, 30.0),
    "auricular_cartilage": ({"protrusion_fraction": 0.9, "peak_hu": 210.0}, 70.0),
    "nasal_cartilage": ({"protrusion_fraction": 0.8, "peak_hu": 220.0}, 8.0),
    "skin_edge_rim": ({"rim_fraction": 0.9, "peak_hu": 200.0}, 30.0),
    "skin_air_partial_volume": ({"touches_outside_air": True, "conspicuity": 4.0}, 30.0),
    "vessel": ({"elongation": 5.0, "extent_mm": 8.0, "peak_hu": 250.0}, 30.0),
    "too_large": ({"diameter_mm": 20.0}, 30.0),
    "too_deep": ({"depth_mm": 11.0}, 30.0),
    "noise_spike": ({"conspicuity": 1.0, "peak_hu": 160.0}, 30.0),
}


def test_dense_blob_in_a_protrusion_is_not_cartilage() -> None:
    # cartilage is 100-200 HU: a 600 HU compact blob in an auricle is an ossified nodule
    c = cand(protrusion_fraction=0.9, peak_hu=600.0)
    assert rejection_reason(c, CFG, metal_tree=None, abs_lateral_mm=70.0) is None


def test_deep_candidate_on_bone_is_periosteal_partial_volume() -> None:
    c = cand(depth_mm=8.0, bone_dist_mm=1.0)
    assert rejection_reason(c, CFG, metal_tree=None, abs_lateral_mm=30.0) == "bone_partial_volume"
    shallow = cand(depth_mm=3.0, bone_dist_mm=1.0)
    assert rejection_reason(shallow, CFG, metal_tree=None, abs_lateral_mm=30.0) is None


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_rejection_reason(reason: str) -> None:
    changes, abs_lat = CASES[reason]
    assert rejection_reason(cand(**changes), CFG, metal_tree=None, abs_lateral_mm=abs_lat) == (
        reason
    )


def test_metal_streak_and_min_size_reasons() -> None:
    tree = cKDTree(np.array([[30.0, -70.0, 40.0]]))
    assert rejection_reason(cand(), CFG, metal_tree=tree, abs_lateral_mm=30.0) == "metal_streak"
    cfg = DetectConfig(min_size_mm=2.5)
    assert rejection_reason(cand(), cfg, metal_tree=None, abs_lateral_mm=30) == "below_min_size"


def test_reason_codes_cover_the_issue_list() -> None:
    for code in (
        "auricular_cartilage",
        "nasal_cartilage",
        "skin_edge_rim",
        "skin_air_partial_volume",
        "vessel",
        "bone_partial_volume",
        "metal_streak",
        "outside_skin",
        "noise_spike",
    ):
        assert code in REJECTION_REASONS


def test_clean_nodule_passes_and_is_definite() -> None:
    c = cand()
    assert rejection_reason(c, CFG, metal_tree=None, abs_lateral_mm=30.0) is None
    assert classify(c, CFG, sigma_raw_hu=10.0) == "definite"


def test_faint_peak_is_only_possible() -> None:
    # a clean blob whose peak is within the skin's noise tail is listed, not counted
    c = cand(peak_hu=185.0, conspicuity=20.0)
    assert definite_peak_hu(CFG, 10.0) == 200.0
    assert definite_peak_hu(CFG, 30.0) == 240.0
    assert classify(c, CFG, sigma_raw_hu=10.0) == "possible"


@pytest.mark.parametrize(
    ("changes", "morph"),
    [
        ({"diameter_mm": 0.9}, "punctate"),
        ({"diameter_mm": 2.0}, "nodular"),
        ({"diameter_mm": 3.0, "center_lucency": 0.2}, "ring"),
        ({"diameter_mm": 3.0, "center_ratio": 0.4}, "ring"),
        ({"diameter_mm": 4.0, "solidity": 0.4}, "flocculent"),
        ({"diameter_mm": 2.0, "elongation": 4.0, "extent_mm": 6.0}, "linear"),
    ],
)
def test_morphology_rules(changes: dict[str, Any], morph: str) -> None:
    assert classify_morphology(nodule_measures(**changes)) == morph
