"""End-to-end detection on the synthetic head phantom (regions, contract, hand-made mimics)."""

from __future__ import annotations

from typing import Any

import numpy as np

from calcscan.contracts import (
    DISTRIBUTION_PATTERNS,
    MORPHOLOGIES,
    REGION_KEYS,
    SCHEMA_VERSION,
    SIDES,
)
from calcscan.detect import DetectConfig, detect_scan, run_detection
from calcscan.scan import CTScan


def _match(truth: list[Any], found: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    out = {}
    for i, t in enumerate(truth):
        if not found:
            break
        d = [np.linalg.norm(np.asarray(n["centroid_lps_mm"]) - t.centroid_lps_mm) for n in found]
        j = int(np.argmin(d))
        if d[j] <= max(2.0, t.diameter_mm):
            out[i] = found[j]
    return out


def test_phantom_nodules_found_with_regions(phantom_case: tuple[Any, list[Any], Any]) -> None:
    _, truth, result = phantom_case
    rec = result.record.to_dict()
    visible = [t for t in truth if t.rendered_peak_hu >= 250 and t.diameter_mm >= 1.0]
    hits = _match(visible, rec["nodules"])
    assert len(visible) >= 8
    assert len(hits) / len(visible) >= 0.8
    agree = [hits[i]["region"] == visible[i].region for i in hits]
    assert np.mean(agree) >= 0.75
    # sides of clearly lateral nodules (the midline band is a convention of a few mm)
    sides = [
        hits[i]["side"] == visible[i].side for i in hits if abs(visible[i].centroid_lps_mm[0]) > 8
    ]
    assert sides and np.mean(sides) >= 0.9
    # false positives: counted nodules far from every true nodule
    matched_any = _match(list(truth), rec["nodules"])
    assert rec["nodule_count"] - len(matched_any) <= 1
    # centroids within 1 mm in-plane for the hits
    for i, n in hits.items():
        assert np.linalg.norm(np.asarray(n["centroid_lps_mm"]) - visible[i].centroid_lps_mm) < 1.5


def test_record_contract(phantom_case: tuple[Any, list[Any], Any]) -> None:
    _, _, result = phantom_case
    r = result.record.to_dict()
    for key, typ in {
        "schema_version": str,
        "software_version": str,
        "config_digest": str,
        "study_key": str,
        "input": str,
        "qc": dict,
        "nodule_count": int,
        "counts_by_region": dict,
        "distribution_pattern": str,
        "nodules": list,
        "possible_nodules": list,
        "rejected": dict,
        "timings_s": dict,
    }.items():
        assert isinstance(r[key], typ), key
    for key in ("series_instance_uid", "patient_age_years", "patient_sex"):
        assert key in r
    assert r["schema_version"] == SCHEMA_VERSION
    assert r["config_digest"] == DetectConfig().digest()
    assert r["nodule_count"] == len(r["nodules"])
    assert set(r["counts_by_region"]) == set(REGION_KEYS)
    assert sum(r["counts_by_region"].values()) == r["nodule_count"]
    assert r["distribution_pattern"] in DISTRIBUTION_PATTERNS
    assert set(r["qc"]) >= {"face_coverage_ok", "excluded", "reasons", "flags"}
    assert r["qc"]["face_coverage_ok"] is True and r["qc"]["excluded"] is False
    for n in r["nodules"] + r["possible_nodules"]:
        assert len(n["centroid_lps_mm"]) == 3
        assert n["region"] in REGION_KEYS and n["side"] in SIDES
        assert n["morphology"] in MORPHOLOGIES
        for k in ("diameter_mm", "volume_mm3", "peak_hu", "mean_hu", "depth_mm", "conspicuity"):
            assert isinstance(n[k], float)
        assert n["peak_hu"] >= 150.0
    assert all(isinstance(v, int) and v > 0 for v in r["rejected"].values())
    assert result.record.landmarks["method"] == "globes"


def _toy_head(extra: list[tuple[tuple[slice, slice, slice], float]]) -> CTScan:
    """A 'head' of skin, fat and a skull shell with hand-placed bright objects."""
    shape = (40, 120, 120)
    _k, r, c = np.indices(shape, dtype=np.float32)
    centre = np.array([20, 60, 60], dtype=np.float32)
    sp = np.array([1.0, 1.0, 1.0], dtype=np.float32)
    dist = np.sqrt(((r - centre[1]) * sp[1]) ** 2 + ((c - centre[2]) * sp[2]) ** 2)
    hu = np.full(shape, -1000.0, np.float32)
    hu[dist <= 50] = -100.0  # fat
    hu[(dist <= 50) & (dist > 47.5)] = 40.0  # skin
    hu[(dist <= 40) & (dist > 35)] = 1200.0  # skull
    hu[dist <= 35] = 35.0  # brain
    rng = np.random.default_rng(0)
    hu += rng.normal(0, 8, shape).astype(np.float32)
    for box, value in extra:
        hu[box] = value
    aff = np.array([[0, 0, 1, -60], [0, 1, 0, -60], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    return CTScan.from_affine(hu, aff, study_key="toy")


def test_toy_head_rejects_outside_objects_and_keeps_a_nodule() -> None:
    blob = (slice(18, 21), slice(14, 17), slice(59, 62))  # 3 mm cube, 1.5 mm under the skin
    earring = (slice(18, 21), slice(4, 6), slice(59, 61))  # outside the skin
    scan = _toy_head([(blob, 700.0), (earring, 2000.0)])
    res = run_detection(scan)
    rec = res.record.to_dict()
    assert rec["rejected"].get("outside_skin", 0) >= 1
    found = rec["nodules"] + rec["possible_nodules"]
    assert any(n["peak_hu"] >= 650 for n in found)
    # a toy head has no face: not covered, excluded with the contract's reason
    assert rec["qc"]["face_coverage_ok"] is False
    assert rec["qc"]["reasons"] == ["face not covered"]


def test_threshold_is_inclusive() -> None:
    base = _toy_head([])
    hu = base.hu.copy()
    hu[18:21, 14:17, 59:62] = 150.0
    hu[19, 15, 60] = 150.0
    scan = base.replace(hu=hu)

    def components(cfg: DetectConfig) -> int:
        rec = run_detection(scan, cfg).record
        return sum(rec.rejected.values()) + len(rec.nodules) + len(rec.possible_nodules)

    # the 150 HU cube is a component at threshold 150 (a faint one: a noise spike) ...
    at = components(DetectConfig(threshold_hu=150.0))
    # ... and gone at 150.5
    above = components(DetectConfig(threshold_hu=150.5))
    assert at == above + 1


def test_detect_scan_returns_record(phantom_case: tuple[Any, list[Any], Any]) -> None:
    scan, _, result = phantom_case
    rec = detect_scan(scan)
    assert rec.nodule_count == result.record.nodule_count


def test_metal_streaks_are_rejected_on_their_slices_only() -> None:
    """A phantom with two metal fillings: the streaks crossing the cheeks are rejected as
    ``metal_streak`` and never counted, while a nodule 18 mm from the metal's slices (19 mm
    from the metal, so inside the old 25 mm ball) is counted."""
    from calcscan.phantom import make_head_phantom

    scan, truth = make_head_phantom(
        seed=1, nodules={"maxillary": 3, "mandibular_buccal": 3}, metal=True
    )
    rec = run_detection(scan).record.to_dict()
    assert rec["rejected"].get("metal_streak", 0) > 0
    found = [np.asarray(n["centroid_lps_mm"]) for n in rec["nodules"]]
    truths = [np.asarray(t.centroid_lps_mm) for t in truth]
    assert all(min(np.linalg.norm(f - t) for t in truths) <= 2.5 for f in found)  # no FP
    metal = np.argwhere(scan.hu >= 3000)
    k_lo, k_hi = int(metal[:, 0].min()), int(metal[:, 0].max())
    metal_lps = scan.index_to_lps(metal.astype(float))
    elsewhere = [
        t
        for t in truths
        if not k_lo - 10 <= scan.lps_to_index(t[None])[0][0] <= k_hi + 10
        and np.linalg.norm(metal_lps - t, axis=1).min() < 25.0
    ]
    assert elsewhere, "the phantom no longer puts a nodule near the metal on other slices"
    assert all(min(np.linalg.norm(f - t) for f in found) <= 2.5 for t in elsewhere)
