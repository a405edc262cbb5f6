"""Virtual insertion into the real heads of ../shared/data/ct (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.phantom import NoduleSpec, SkinSiteSampler, insert_nodules
from calcscan.phantom.insertion import random_insertion

HEADS = {
    "invesalius": "invesalius_0051_head/dicom",
    "ge_tilt": "dcm_qa_ct_GE_head/dicom",
    "dicom2stl": "dicom2stl_ct_example/ct_example.nii.gz",
}


@pytest.fixture(scope="module", params=sorted(HEADS))
def head(request, shared_ct):
    from calcscan.io import read_ct

    return request.param, read_ct(shared_ct / HEADS[request.param])


def test_sites_lie_in_the_facial_skin(head):
    name, scan = head
    sampler = SkinSiteSampler(scan)
    rng = np.random.default_rng(0)
    sites = sampler.sample(12, rng, depth_mm=(1.0, 3.0), clearance_mm=1.5, min_separation_mm=8.0)
    assert len(sites) == 12
    pts = np.array([s.center_lps_mm for s in sites])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(len(pts)) * 99
    assert d.min() >= 8.0
    body = scan.hu > -400
    body_y = scan.index_to_lps(np.argwhere(body[:, ::8, ::8]) * np.array([1, 8, 8]))[:, 1]
    for s in sites:
        assert 1.0 <= s.depth_mm <= 3.0 and s.clearance_mm >= 1.5
        assert s.side in ("left", "right", "midline")
        k, r, c = np.round(scan.lps_to_index(s.center_lps_mm)).astype(int)
        assert -250 <= scan.hu[k, r, c] <= 160, f"{name}: site not in soft tissue"
        # the face: anterior third of the head (LPS -y)
        assert s.center_lps_mm[1] <= body_y.min() + 0.4 * np.ptp(body_y)


def test_insertion_preserves_scan_and_places_truth_in_lps(head):
    name, scan = head
    out, truth = random_insertion(
        scan, 6, seed=11, sizes_mm=(1.5, 3.0), densities_hu=(800.0, 1200.0), ring_fraction=0.0
    )
    assert len(truth) == 6
    assert out.hu.shape == scan.hu.shape
    np.testing.assert_array_equal(out.affine_lps, scan.affine_lps)
    np.testing.assert_array_equal(out.slice_positions_lps_mm, scan.slice_positions_lps_mm)
    changed = np.abs(out.hu.astype(np.float64) - scan.hu) > 0.5
    lab_near = np.zeros_like(changed)
    for t in truth:
        idx = scan.lps_to_index(t.centroid_lps_mm)
        k, r, c = np.round(idx).astype(int)
        # the brightest change is at the truth centre (partial volume: within one voxel)
        h = np.ceil((t.diameter_mm / 2 + 2.5) / np.asarray(scan.spacing_mm)).astype(int)
        win = (
            slice(max(k - h[0], 0), k + h[0] + 1),
            slice(r - h[1], r + h[1] + 1),
            slice(c - h[2], c + h[2] + 1),
        )
        delta = (out.hu.astype(np.float64) - scan.hu)[win]
        peak = np.unravel_index(np.argmax(delta), delta.shape)
        peak_idx = np.array(peak) + np.array([w.start for w in win])
        peak_lps = scan.index_to_lps(peak_idx)
        assert np.linalg.norm(peak_lps - np.asarray(t.centroid_lps_mm)) <= float(
            np.linalg.norm(scan.spacing_mm)
        ), f"{name}: truth LPS does not sit on the inserted nodule"
        assert t.rendered_peak_hu > float(scan.hu[k, r, c]) + 100
        lab_near[win] = True
    assert not changed[~lab_near].any(), "voxels far from every nodule were modified"


def test_insertion_has_region_truth_from_the_annotated_globes(head):
    from calcscan.contracts import REGION_KEYS

    name, scan = head
    _, truth = random_insertion(scan, 12, seed=5)
    regions = [t.region for t in truth]
    assert all(r is None or r in REGION_KEYS for r in regions)
    assert sum(r is not None for r in regions) >= 4, f"{name}: landmarks not applied"


def test_insert_nodules_is_deterministic_and_round_trips_dicom(head, tmp_path):
    name, scan = head
    from calcscan.io import read_ct
    from calcscan.phantom.output import write_case

    sampler = SkinSiteSampler(scan)
    site = sampler.sample(1, np.random.default_rng(3), depth_mm=(2.0, 3.0), clearance_mm=2.0)[0]
    spec = NoduleSpec(site.center_lps_mm, 2.5, 1000.0, shape="ellipsoid")
    a, ta = insert_nodules(scan, [spec], seed=4)
    b, tb = insert_nodules(scan, [spec], seed=4)
    np.testing.assert_array_equal(a.hu, b.hu)
    assert ta[0].to_dict() == tb[0].to_dict()
    if name != "ge_tilt":
        return  # the DICOM round trip of the tilted, irregular series is the strict case
    paths = write_case(a, ta, tmp_path / "case", fmt="dicom")
    back = read_ct(paths["ct"])
    k, r, c = np.round(back.lps_to_index(ta[0].centroid_lps_mm)).astype(int)
    k0, r0, c0 = np.round(a.lps_to_index(ta[0].centroid_lps_mm)).astype(int)
    assert (k, r, c) == (k0, r0, c0)
    assert float(back.hu[k, r, c]) == pytest.approx(float(a.hu[k0, r0, c0]), abs=1.0)
