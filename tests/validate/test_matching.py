"""Matching and metrics of the validation harness on hand-made truth/detection lists."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.phantom.truth import TruthNodule
from calcscan.validate.matching import match_detections, tolerance_mm
from calcscan.validate.metrics import in_plane_error_mm, score_scan, summarize


def _t(
    i: int,
    xyz: tuple[float, float, float],
    d: float = 2.0,
    peak: float = 500.0,
    region: str | None = "frontal",
) -> TruthNodule:
    return TruthNodule(
        id=i,
        centroid_lps_mm=xyz,
        diameter_mm=d,
        volume_mm3=1.0,
        density_hu=800.0,
        ring=False,
        shape="sphere",
        rendered_peak_hu=peak,
        region=region,
        side="left",
    )


def _d(xyz: tuple[float, float, float], region: str = "frontal") -> dict:
    return {"centroid_lps_mm": list(xyz), "region": region, "side": "left"}


def test_tolerance_grows_with_radius_and_voxel():
    assert tolerance_mm(_t(1, (0, 0, 0), d=1.0), 0.5) == 2.0
    assert tolerance_mm(_t(1, (0, 0, 0), d=4.0), 1.5) == pytest.approx(3.5)


def test_hungarian_prefers_global_optimum_over_greedy():
    # greedy nearest-first would give truth 0 the detection at 0.9 and leave truth 1 unmatched
    truth = [_t(1, (0, 0, 0)), _t(2, (1.8, 0, 0))]
    dets = [_d((0.9, 0, 0)), _d((-1.0, 0, 0))]
    m = match_detections(truth, dets, voxel_diagonal_mm=0.5)
    assert sorted(m.pairs) == [(0, 1), (1, 0)]
    assert m.unmatched_truth == [] and m.unmatched_detections == []


def test_one_to_one_and_tolerance():
    truth = [_t(1, (0, 0, 0))]
    dets = [_d((0.2, 0, 0)), _d((0.3, 0, 0)), _d((10, 0, 0))]
    m = match_detections(truth, dets, voxel_diagonal_mm=0.5)
    assert m.pairs == [(0, 0)]
    assert m.unmatched_detections == [1, 2]
    far = match_detections(truth, [_d((0, 2.6, 0))], voxel_diagonal_mm=0.5)  # tol 2.0
    assert far.pairs == [] and far.unmatched_truth == [0]


def test_empty_inputs():
    assert match_detections([], [_d((0, 0, 0))], voxel_diagonal_mm=1).unmatched_detections == [0]
    assert match_detections([_t(1, (0, 0, 0))], [], voxel_diagonal_mm=1).unmatched_truth == [0]


def test_in_plane_error_ignores_slice_direction():
    assert in_plane_error_mm((0, 0, 0), (3, 4, 7), (0, 0, 1)) == pytest.approx(5.0)


def test_score_and_summarize_strata():
    truth = [
        _t(1, (0, 0, 0), d=0.8, peak=250),  # hit, bin 0.6-1, not in >=1 mm stratum
        _t(2, (20, 0, 0), d=1.5, peak=400),  # missed
        _t(3, (40, 0, 0), d=3.0, peak=900),  # hit, wrong region
        _t(4, (60, 0, 0), d=1.2, peak=150),  # faint: matched -> neither hit nor FP
        _t(5, (80, 0, 0), d=2.0, peak=180),  # faint, missed -> not a miss
    ]
    record = {
        "nodules": [_d((0.5, 0.5, 0)), _d((40, 0, 1.0), region="maxillary"), _d((0, 50, 0))],
        "possible_nodules": [_d((60, 0, 0)), _d((0, -50, 0))],
    }
    o = score_scan("s", "insertion", truth, record, voxel_diagonal_mm=0.8, seconds=2.0)
    assert o.false_positives == 1  # (0,50,0) counted
    assert o.possible_unmatched == 1  # (0,-50,0)
    neg = score_scan("neg", "negative", [], {"nodules": [_d((1, 1, 1))]}, voxel_diagonal_mm=1)
    s = summarize([o, neg])
    assert s["sensitivity_by_size"]["0.6-1 mm"] == {"value": 1.0, "hits": 1, "total": 1}
    assert s["sensitivity_by_size"]["1-2 mm"] == {"value": 0.0, "hits": 0, "total": 1}
    assert s["sensitivity_by_size"]["2-4 mm"]["hits"] == 1
    assert s["sensitivity_ge1mm_peak200"] == {"value": 0.5, "hits": 1, "total": 2}
    assert s["sensitivity_peak200"]["value"] == pytest.approx(2 / 3)
    assert s["n_faint"] == 2
    assert s["region_agreement"] == {"value": 0.5, "hits": 1, "total": 2}
    assert s["false_positives_per_scan"] == pytest.approx(1.0)
    assert s["max_false_positives"] == 1
    assert s["possible_unmatched_per_scan"] == pytest.approx(0.5)
    assert s["false_positives_by_kind"]["negative"]["fp_per_scan"] == 1.0
    assert s["centroid_error_in_plane_mm"]["max"] == pytest.approx(0.5 * 2**0.5)
    assert s["seconds_per_scan"] == pytest.approx(1.0)


def test_counted_detections_are_matched_before_possible_ones():
    truth = [_t(1, (0, 0, 0), d=1.5)]
    record = {"nodules": [_d((1.5, 0, 0))], "possible_nodules": [_d((0.1, 0, 0))]}
    o = score_scan("s", "phantom", truth, record, voxel_diagonal_mm=0.8)
    assert o.rows[0]["hit_counted"] and o.false_positives == 0 and o.possible_unmatched == 1
    only_possible = score_scan(
        "p", "phantom", truth, {"possible_nodules": [_d((0.1, 0, 0))]}, voxel_diagonal_mm=0.8
    )
    s = summarize([only_possible])
    assert s["sensitivity_peak200"]["value"] == 1.0
    assert s["sensitivity_counted_peak200"]["value"] == 0.0


def test_miliary_count_error():
    truth = [_t(i, (10.0 * i, 0, 0)) for i in range(10)]
    record = {"nodules": [_d((10.0 * i, 0, 0)) for i in range(8)], "possible_nodules": []}
    o = score_scan("m", "miliary", truth, record, voxel_diagonal_mm=0.8)
    assert summarize([o])["count_error_miliary"] == pytest.approx(0.2)


def test_miliary_phantom_is_symmetric_and_has_60_nodules():
    import numpy as np

    from calcscan.validate.runner import miliary_phantom

    _, truth = miliary_phantom(1234)
    assert len(truth) == 60
    left = sorted((t for t in truth if t.side == "left"), key=lambda t: t.centroid_lps_mm)
    right = sorted((t for t in truth if t.side == "right"), key=lambda t: t.centroid_lps_mm[::-1])
    assert len(left) == len(right) == 30
    mirrored = {
        (
            round(-t.centroid_lps_mm[0], 3),
            round(t.centroid_lps_mm[1], 3),
            round(t.centroid_lps_mm[2], 3),
        )
        for t in right
    }
    for t in left:
        key = tuple(round(v, 3) for v in t.centroid_lps_mm)
        assert key in mirrored
    assert all(0.8 <= t.diameter_mm <= 1.6 for t in truth)
    assert np.mean([t.rendered_peak_hu >= 200 for t in truth]) > 0.8


def test_acceptance_checks_pass_fail_and_unmeasured():
    from calcscan.validate.acceptance import acceptance_checks

    truth = [_t(i, (20.0 * i, 0, 0), d=1.5) for i in range(10)]
    hits = {"nodules": [_d((20.0 * i, 0, 0)) for i in range(9)] + [_d((0, 90, 0))]}
    ins = score_scan("ge_tilt+1000", "insertion", truth, hits, voxel_diagonal_mm=0.8)
    neg = score_scan(
        "invesalius", "negative", [], {"nodules": [_d((0, 0, 0))] * 2}, voxel_diagonal_mm=0.8
    )
    rows = {r["check"]: r for r in acceptance_checks(summarize([ins, neg]), [ins, neg])}
    assert rows["FP on negative invesalius"]["pass"] is False  # 2 > 1
    assert rows["FP on negative dicom2stl"]["pass"] is None  # not run
    assert rows["sensitivity >= 1 mm, peak >= 200 HU"]["value"] == pytest.approx(0.9)
    assert rows["sensitivity >= 1 mm, peak >= 200 HU"]["pass"] is False
    assert rows["sensitivity, peak >= 200 HU"]["pass"] is True
    assert rows["max FP on any scan"]["value"] == 2.0
    assert rows["count error, miliary"]["pass"] is None


def test_missed_nodules_get_the_fate_of_the_nearest_candidate():
    truth = [
        _t(1, (0, 0, 0), d=2.0),  # hit
        _t(2, (20, 0, 0), d=2.0),  # missed: a bone-slope candidate 1.5 mm away
        _t(3, (40, 0, 0), d=2.0),  # missed: nothing measured near it
        _t(4, (60, 0, 0), d=0.8),  # missed but < 1 mm: fate kept, not in the >= 1 mm tally
    ]
    record = {
        "nodules": [_d((0.2, 0, 0))],
        "_candidates": [
            {"centroid_lps_mm": [0.2, 0, 0], "fate": "definite"},
            {"centroid_lps_mm": [21.5, 0, 0], "fate": "bone_partial_volume"},
            {"centroid_lps_mm": [48.0, 0, 0], "fate": "vessel"},  # too far from truth 3
            {"centroid_lps_mm": [60.5, 0, 0], "fate": "noise_spike"},
        ],
    }
    o = score_scan("s", "insertion", truth, record, voxel_diagonal_mm=0.8)
    assert [r["fate"] for r in o.rows] == [
        None,
        "bone_partial_volume",
        "not_measured",
        "noise_spike",
    ]
    s = summarize([o])
    assert s["misses_ge1mm_peak200_by_fate"] == {"bone_partial_volume": 1, "not_measured": 1}
    assert s["sensitivity_ge1mm_peak200_by_source"] == {
        "insertion": {"value": 1 / 3, "hits": 1, "total": 3}
    }
    named = score_scan("myhead+7", "insertion", truth, record, voxel_diagonal_mm=0.8)
    phantom = score_scan("phantom-7", "phantom", truth[:1], record, voxel_diagonal_mm=0.8)
    by_source = summarize([named, phantom])["sensitivity_ge1mm_peak200_by_source"]
    assert by_source["myhead"]["total"] == 3 and by_source["phantom"]["hits"] == 1
    # a detector that reports no candidates gives no fates
    plain = score_scan("p", "insertion", truth, {"nodules": []}, voxel_diagonal_mm=0.8)
    assert all(r["fate"] is None for r in plain.rows)
    assert summarize([plain])["misses_ge1mm_peak200_by_fate"] == {}


def test_sensitivity_interval_resamples_scans():
    from calcscan.validate.metrics import _scan_bootstrap_ci

    # every scan alike: no scan-to-scan spread, the interval is the point
    hits, totals = np.array([9, 9, 9, 9]), np.array([10, 10, 10, 10])
    assert _scan_bootstrap_ci(hits, totals) == pytest.approx([0.9, 0.9])
    # one scan holds all the misses: the interval is wide and contains the pooled value
    hits, totals = np.array([10, 10, 10, 4]), np.array([10, 10, 10, 10])
    lo, hi = _scan_bootstrap_ci(hits, totals)
    assert lo < 34 / 40 < hi and hi - lo > 0.1
    assert _scan_bootstrap_ci(np.array([1]), np.array([1])) is None  # one scan: no interval
