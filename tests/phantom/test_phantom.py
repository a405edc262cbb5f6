"""Synthetic head phantom: geometry, tissue HU, nodule truth against the rendered image."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.phantom import (
    PHANTOM_REGIONS,
    NoduleSpec,
    insert_nodules,
    make_head_phantom,
    phantom_axes,
)
from calcscan.phantom.head import phantom_anatomy


@pytest.fixture(scope="module")
def clean_phantom():
    """Noise-free phantom with one nodule of each kind in a known place."""
    return make_head_phantom(
        seed=5, nodules={r: 1 for r in PHANTOM_REGIONS}, noise_hu=0.0, head_holder=True
    )


def _hu_at(scan, lps):
    k, r, c = np.round(scan.lps_to_index(lps)).astype(int)
    return float(scan.hu[k, r, c])


def _skin_y(scan, x, z):
    """LPS y of the anterior skin surface at (x, z) (first voxel above -500 HU from the front)."""
    ys = np.arange(-113.0, 0.0, 0.25)
    prof = np.array([_hu_at(scan, (x, y, z)) for y in ys])
    return float(ys[np.argmax(prof > -500)])


def test_tissue_hu_and_layers(clean_phantom):
    scan, _ = clean_phantom
    tis = phantom_anatomy()["tissues_hu"]
    # walk from the air in front of the forehead backwards along y at x=0, z=40
    ys = np.arange(-110.0, -60.0, 0.25)
    prof = np.array([_hu_at(scan, (0.0, y, 40.0)) for y in ys])
    skin = ys[np.argmax(prof > -500)]
    bone_y = ys[np.argmax(prof > 600)]
    assert 4.5 <= bone_y - skin <= 7.0, "frontal bone 5-6 mm below the forehead skin"
    deep = prof[(ys > bone_y + 8) & (ys < bone_y + 12)]
    assert np.all(np.abs(deep - tis["brain"]) < 40), "brain inside the skull"
    # fat in the cheek, globe, air in the maxillary sinus, enamel
    y0 = _skin_y(scan, 40.0, -30.0)
    assert _hu_at(scan, (40.0, y0 + 0.6, -30.0)) == pytest.approx(tis["dermis"], abs=30)
    fat = [_hu_at(scan, (40.0, y, -30.0)) for y in np.arange(y0 + 3.0, y0 + 9.0, 0.5)]
    assert np.allclose(fat, tis["fat"], atol=25)
    assert _hu_at(scan, (32.0, -52.0, 0.0)) == pytest.approx(tis["globe"], abs=15)
    assert _hu_at(scan, (-32.0, -52.0, 0.0)) == pytest.approx(tis["globe"], abs=15)
    assert _hu_at(scan, (27.0, -52.0, -24.0)) < -900
    assert _hu_at(scan, (-27.0, -52.0, -24.0)) < -900
    assert scan.hu.max() > 2000  # teeth
    assert _hu_at(scan, (0.0, -112.0, 0.0)) < -900  # air in front of the face


def test_auricle_and_nasal_cartilage_are_mimic_density(clean_phantom):
    scan, _ = clean_phantom
    ear = max(_hu_at(scan, (74.5, y, 0.0)) for y in np.arange(5, 25, 0.5))
    assert 130 <= ear <= 200
    sept = max(_hu_at(scan, (0.0, y, -26.0)) for y in np.arange(-95, -80, 0.5))
    assert 100 <= sept <= 160


def test_every_region_gets_its_nodule(clean_phantom):
    _, truth = clean_phantom
    assert sorted(t.region for t in truth) == sorted(PHANTOM_REGIONS)
    ax = phantom_axes()
    for t in truth:
        x = t.centroid_lps_mm[0]
        assert t.side == ("midline" if abs(x) <= 4 else ("left" if x > 0 else "right"))
        lat, ant, sup = (np.asarray(t.centroid_lps_mm) - ax.origin) @ ax.basis()
        # coarse sanity of the region definitions in the phantom frame
        if t.region == "frontal":
            assert sup > 5
        if t.region == "nasal":
            assert abs(lat) <= 14 and ant > 5
        if t.region == "mandibular_buccal":
            assert sup < -15
        if t.region == "temporal":
            assert abs(lat) >= 38


def test_nodule_truth_matches_rendered_image():
    base, _ = make_head_phantom(seed=1, nodules=None, noise_hu=0.0, head_holder=False)
    fat_hu = phantom_anatomy()["tissues_hu"]["fat"]

    def fat_site(x, z):  # 6 mm below the cheek skin, in the fat
        p = (x, _skin_y(base, x, z) + 6.0, z)
        assert _hu_at(base, p) == pytest.approx(fat_hu, abs=5)
        return p

    # explicit nodules in the cheek fat, large enough for a 10 % volume check
    specs = [
        NoduleSpec(fat_site(40.0, -30.0), 2.5, 900.0),
        NoduleSpec(fat_site(-40.0, -30.0), 3.0, 600.0, ring=True),
        NoduleSpec(fat_site(40.0, -20.0), 2.2, 800.0, shape="ellipsoid"),
        NoduleSpec(fat_site(-40.0, -20.0), 3.0, 800.0, shape="flocculent"),
    ]
    scan, truth = make_head_phantom(seed=1, nodules=specs, noise_hu=0.0, head_holder=False)
    diff = scan.hu.astype(np.float64) - base.hu.astype(np.float64)
    vox = float(abs(np.linalg.det(scan.affine_lps[:3, :3])))
    for spec, t in zip(specs, truth, strict=True):
        k, r, c = np.round(scan.lps_to_index(t.centroid_lps_mm)).astype(int)
        box = (slice(k - 5, k + 6), slice(r - 12, r + 13), slice(c - 12, c + 13))
        d = diff[box]
        # centroid of the blurred, added signal (material minus fat)
        w = np.clip(d, 0, None) if not spec.ring else np.abs(d)
        idx = np.argwhere(np.ones_like(d, bool)) + np.array([k - 5, r - 12, c - 12])
        cen = (scan.index_to_lps(idx) * w.reshape(-1, 1)).sum(0) / w.sum()
        assert np.linalg.norm(cen - np.asarray(t.centroid_lps_mm)) < 0.2 * (2 if spec.ring else 1)
        assert np.linalg.norm(np.asarray(t.centroid_lps_mm) - spec.center_lps_mm) < (
            0.05 if spec.shape == "sphere" else spec.diameter_mm / 2
        )
        # volume: the blur conserves the added HU, so sum(diff) = volume * (material - fat)
        if not spec.ring:
            vol = d.sum() * vox / (spec.density_hu - fat_hu)
            assert vol == pytest.approx(t.volume_mm3, rel=0.10)
        if spec.shape == "sphere" and not spec.ring:
            assert t.volume_mm3 == pytest.approx(np.pi / 6 * spec.diameter_mm**3, rel=0.10)
        # rendered peak: the image maximum in the nodule's footprint
        dist = np.linalg.norm(scan.index_to_lps(idx) - np.asarray(t.centroid_lps_mm), axis=1)
        hu_box = scan.hu[box].reshape(-1)
        inner = float(hu_box[dist <= spec.diameter_mm / 2].max())
        outer = float(hu_box[dist <= spec.diameter_mm / 2 + 1.0].max())
        assert inner - 1.0 <= t.rendered_peak_hu <= outer + 1.0
        assert t.rendered_peak_hu < spec.density_hu


def test_ring_has_central_lucency():
    base, _ = make_head_phantom(seed=2, nodules=None, noise_hu=0.0)
    specs = [NoduleSpec((40.0, _skin_y(base, 40.0, -30.0) + 6.0, -30.0), 4.0, 1200.0, ring=True)]
    scan, truth = make_head_phantom(
        seed=2, nodules=specs, noise_hu=0.0, blur_fwhm_mm=0.4, spacing_mm=(0.5, 0.3, 0.3)
    )
    c = _hu_at(scan, truth[0].centroid_lps_mm)
    x, y, z = truth[0].centroid_lps_mm
    shell = _hu_at(scan, (x + 1.5, y, z))
    assert shell > c + 200


def test_insert_nodules_small_sizes_and_outside():
    base, _ = make_head_phantom(seed=1, nodules=None, noise_hu=0.0)
    site = (40.0, _skin_y(base, 40.0, -30.0) + 5.0, -30.0)
    specs = [NoduleSpec(site, 0.6, 1000.0), NoduleSpec((500.0, 0.0, 0.0), 2.0, 800.0)]
    out, truth = insert_nodules(base, specs, seed=0)
    assert len(truth) == 1  # the second one is outside the volume
    assert truth[0].rendered_peak_hu < 1000.0  # partial volume of a 0.6 mm nodule
    assert truth[0].rendered_peak_hu > _hu_at(base, site) + 50
    assert base.hu is not out.hu


def test_tilt_metal_and_demographics():
    scan, truth = make_head_phantom(
        seed=3, nodules={"frontal": 2}, tilt_deg=12.0, metal=True, age_years=61, sex="F"
    )
    assert scan.gantry_tilt_deg == pytest.approx(12.0, abs=0.1)
    assert scan.patient_sex == "F" and scan.patient_age_years == 61
    assert scan.hu.max() > 2800
    assert len(truth) == 2 and all(t.region == "frontal" for t in truth)
    for t in truth:  # the truth centroid is a bright spot of the image
        assert _hu_at(scan, t.centroid_lps_mm) > 150 or t.rendered_peak_hu < 300


def test_bad_region_is_a_usage_error():
    from calcscan.errors import UsageError

    with pytest.raises(UsageError, match="unknown phantom region"):
        make_head_phantom(nodules={"elbow": 1})


def _principal_extents(scan, base, t):
    """Square roots of the principal second moments (mm) of the added signal around t."""
    k, r, c = np.round(scan.lps_to_index(t.centroid_lps_mm)).astype(int)
    box = (slice(k - 6, k + 7), slice(r - 16, r + 17), slice(c - 16, c + 17))
    d = np.clip(scan.hu[box].astype(np.float64) - base.hu[box], 0, None)
    idx = np.argwhere(np.ones_like(d, bool)) + np.array([k - 6, r - 16, c - 16])
    p = scan.index_to_lps(idx) - np.asarray(t.centroid_lps_mm)
    w = d.reshape(-1) / d.sum()
    cov = (p * w[:, None]).T @ p
    return np.sqrt(np.sort(np.linalg.eigvalsh(cov))[::-1])


def test_linear_and_flocculent_shapes_are_representable():
    base, _ = make_head_phantom(
        seed=8, nodules=None, noise_hu=0.0, spacing_mm=(0.5, 0.4, 0.4), blur_fwhm_mm=0.4
    )
    site = (40.0, _skin_y(base, 40.0, -30.0) + 6.0, -30.0)
    site2 = (-40.0, _skin_y(base, -40.0, -30.0) + 6.0, -30.0)
    specs = [NoduleSpec(site, 2.5, 1000.0, shape="linear"), NoduleSpec(site2, 2.5, 1000.0)]
    scan, truth = make_head_phantom(
        seed=8, nodules=specs, noise_hu=0.0, spacing_mm=(0.5, 0.4, 0.4), blur_fwhm_mm=0.4
    )
    rod = _principal_extents(scan, base, truth[0])
    ball = _principal_extents(scan, base, truth[1])
    assert rod[0] / rod[2] > 2.5, "a linear nodule is elongated"
    assert ball[0] / ball[2] < 1.3, "a sphere is not"
    assert truth[0].volume_mm3 == pytest.approx(np.pi / 6 * 2.5**3, rel=0.1)


def test_shape_mix_of_random_nodules():
    _, truth = make_head_phantom(
        seed=9,
        nodules={"frontal": 4, "maxillary": 4},
        shapes=("flocculent", "linear"),
        noise_hu=0.0,
    )
    assert {t.shape for t in truth} <= {"flocculent", "linear"}
    assert len({t.shape for t in truth}) == 2
    assert not any(t.ring for t in truth)
    from calcscan.errors import UsageError

    with pytest.raises(UsageError, match="shape"):
        make_head_phantom(nodules={"frontal": 1}, shapes=("cube",))


@pytest.mark.parametrize("tilt_deg", [0.0, 10.0])
def test_no_loose_bone_fleck_without_nodules(tilt_deg):
    # every dense object of a nodule-free phantom is anatomy of hundreds of mm3 (bones,
    # teeth): clipping a bony shell to the skin's depth must not leave a fleck of a few
    # voxels, which detection rightly counts as a nodule that the truth does not list
    cc3d = pytest.importorskip("cc3d")
    scan, truth = make_head_phantom(seed=3, nodules={}, tilt_deg=tilt_deg)
    assert truth == []
    labels = cc3d.connected_components((scan.hu >= 300).astype(np.uint8), connectivity=26)
    sizes_mm3 = np.bincount(labels.ravel())[1:] * float(np.prod(scan.spacing_mm))
    assert sizes_mm3.min() > 100.0, sorted(sizes_mm3)[:3]
