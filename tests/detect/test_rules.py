"""Mimic rejection (every reason code), definite/possible split and morphology rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from calcscan.detect import REJECTION_REASONS, DetectConfig
from calcscan.detect.candidates import Candidate, is_cartilage
from calcscan.detect.mimics import MetalStreaks, classify, definite_peak_hu, rejection_reason
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
    assert rejection_reason(c, CFG, metal=None, abs_lateral_mm=70.0) is None


def test_deep_candidate_on_bone_is_periosteal_partial_volume() -> None:
    c = cand(depth_mm=8.0, bone_dist_mm=1.0)
    assert rejection_reason(c, CFG, metal=None, abs_lateral_mm=30.0) == "bone_partial_volume"
    shallow = cand(depth_mm=3.0, bone_dist_mm=1.0)
    assert rejection_reason(shallow, CFG, metal=None, abs_lateral_mm=30.0) is None


def test_cavity_air_next_to_bone_is_a_sinus_wall_only_when_deep() -> None:
    # deep: the wall of a sinus or of the nasal cavity; shallow: a nodule beside a nostril,
    # behind an auricle or at the lips, where the sealed air lies next to the skin
    wall = cand(depth_mm=8.0, bone_dist_mm=3.5, touches_cavity_air=True)
    assert rejection_reason(wall, CFG, metal=None, abs_lateral_mm=40.0) == "bone_partial_volume"
    skin = cand(depth_mm=2.0, bone_dist_mm=3.5, touches_cavity_air=True)
    assert rejection_reason(skin, CFG, metal=None, abs_lateral_mm=40.0) is None


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_rejection_reason(reason: str) -> None:
    changes, abs_lat = CASES[reason]
    assert rejection_reason(cand(**changes), CFG, metal=None, abs_lateral_mm=abs_lat) == (reason)


def test_metal_streaks_reach_only_the_metal_slices() -> None:
    """Streaks run in the plane of the slices that cross the metal: a candidate 20 mm away
    in-plane on the metal's slice is a streak, the same 10 mm above the metal's slices is not
    (on 1 mm slices; the old rule, a 25 mm ball, rejected both)."""
    spacing = (1.0, 0.5, 0.5)
    metal = MetalStreaks(np.array([[40.0, 50.0, 50.0], [41.0, 50.0, 50.0]]), spacing)
    on_slice = cand()
    on_slice.voxels = np.array([[40, 140, 100], [41, 141, 100]])  # 20 mm in-plane
    assert rejection_reason(on_slice, CFG, metal=metal, abs_lateral_mm=30.0) == "metal_streak"
    above = cand()
    above.voxels = np.array([[51, 100, 100], [52, 101, 100]])  # 10 mm up, 0.4 mm in-plane
    assert rejection_reason(above, CFG, metal=metal, abs_lateral_mm=30.0) is None
    # within the slab (5 mm) it is still a streak, and one slice step always counts
    near = cand()
    near.voxels = np.array([[45, 100, 100]])
    assert rejection_reason(near, CFG, metal=metal, abs_lateral_mm=30.0) == "metal_streak"
    thick = MetalStreaks(np.array([[40.0, 50.0, 50.0]]), (8.0, 0.5, 0.5))
    assert thick.reaches(np.array([[6, 100, 100]]), 25.0, 5.0)  # next 8 mm slice


def test_min_size_reason() -> None:
    cfg = DetectConfig(min_size_mm=2.5)
    assert rejection_reason(cand(), cfg, metal=None, abs_lateral_mm=30) == "below_min_size"


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
    assert rejection_reason(c, CFG, metal=None, abs_lateral_mm=30.0) is None
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


#: The measures a part in cartilage gets before :func:`_measure_part` stops measuring it.
CARTILAGE_PART_KEYS = (
    "n_voxels",
    "volume_mm3",
    "diameter_mm",
    "peak_hu",
    "depth_mm",
    "bone_dist_mm",
    "attached_to_bone",
    "on_bone",
    "protrusion_fraction",
    "touches_cavity_air",
    "background_hu",
)


@pytest.mark.parametrize("seed", range(5))
def test_cartilage_parts_are_rejected_from_their_few_measures(seed: int) -> None:
    # _measure_part skips the shape, conspicuity and rim measures of a part is_cartilage
    # accepts: the rules must reach a reason from what it keeps, and the same reason as
    # from all the measures
    rng = np.random.default_rng(seed)
    for _ in range(200):
        full = nodule_measures(
            protrusion_fraction=float(rng.uniform(0.0, 1.0)),
            peak_hu=float(rng.uniform(150.0, 500.0)),
            depth_mm=float(rng.uniform(0.0, 12.0)),
            bone_dist_mm=float(rng.uniform(0.0, 10.0)),
            touches_cavity_air=bool(rng.random() < 0.5),
            rim_fraction=float(rng.uniform(0.0, 1.0)),
            conspicuity=float(rng.uniform(0.0, 40.0)),
            touches_outside_air=bool(rng.random() < 0.5),
        )
        full.update(n_voxels=10, on_bone=False, background_hu=0.0)
        lateral = float(rng.uniform(0.0, 80.0))
        expected = rejection_reason(cand(**full), CFG, metal=None, abs_lateral_mm=lateral)
        if not is_cartilage(full, CFG):
            assert full["protrusion_fraction"] < 0.5 or full["peak_hu"] >= 350.0
            continue
        few = cand()
        few.measures = {k: full[k] for k in CARTILAGE_PART_KEYS}
        assert expected is not None
        assert rejection_reason(few, CFG, metal=None, abs_lateral_mm=lateral) == expected
