"""The fast morphology kernels of detection give exactly what the slower library calls give."""

from __future__ import annotations

import cc3d
import edt
import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import h_maxima

from calcscan.detect.balls import dilate, erode
from calcscan.detect.candidates import distance_to_background
from calcscan.detect.config import DetectConfig
from calcscan.detect.summits import _h_maxima, _h_maxima_connected, _merge_shoulders, _split
from calcscan.detect.tissue import (
    TissueLayers,
    _body_box,
    _largest_component,
    block_stats,
    coarse_factors,
    compute_tissue,
    fill_holes,
)

SPACINGS = [(1.5, 1.435, 1.435), (1.0, 0.98, 0.98), (4.0, 0.9, 0.9), (2.0, 1.2, 1.0)]


def _blobs(shape: tuple[int, int, int], seed: int, level: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(ndimage.gaussian_filter(rng.random(shape), 1.5) > level)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("radius_mm", [1.449, 1.6, 2.0, 2.5, 4.0])
def test_dilate_and_erode_match_distance_transform(spacing, radius_mm):
    mask = _blobs((14, 40, 36), seed=int(radius_mm * 10))
    dist_out = edt.edt((~mask).astype(np.uint8), anisotropy=spacing, black_border=False)
    dist_in = edt.edt(mask.astype(np.uint8), anisotropy=spacing, black_border=False)
    np.testing.assert_array_equal(dilate(mask, spacing, radius_mm), dist_out <= radius_mm)
    np.testing.assert_array_equal(erode(mask, spacing, radius_mm), dist_in > radius_mm)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_dilate_split_over_threads_matches_distance_transform(monkeypatch, threads):
    # enough slices that two threads each take a run of them (offsets cross the cut)
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    spacing, radius_mm = (1.5, 1.435, 1.435), 3.0
    mask = _blobs((41, 30, 28), seed=7, level=0.55)
    dist_out = edt.edt((~mask).astype(np.uint8), anisotropy=spacing, black_border=False)
    np.testing.assert_array_equal(dilate(mask, spacing, radius_mm), dist_out <= radius_mm)


def test_dilate_of_empty_and_erode_of_full():
    sp = (1.5, 1.4, 1.4)
    empty = np.zeros((5, 8, 8), dtype=bool)
    assert not dilate(empty, sp, 3.0).any()
    assert erode(~empty, sp, 3.0).all()  # the array border is not background


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_largest_component_matches_cc3d_largest_k(seed):
    # one large blob among many specks (as the body among the air's specks)
    rng = np.random.default_rng(seed)
    mask = _blobs((20, 40, 36), seed=seed, level=0.52) | (rng.random((20, 40, 36)) > 0.97)
    expected = cc3d.largest_k(mask.astype(np.uint8), k=1, connectivity=6, binary_image=True) > 0
    np.testing.assert_array_equal(_largest_component(mask), expected)
    single = np.zeros((4, 5, 6), dtype=bool)
    single[1:3, 1:4, 2:5] = True
    np.testing.assert_array_equal(_largest_component(single), single)
    assert not _largest_component(np.zeros((3, 3, 3), dtype=bool)).any()


@pytest.mark.parametrize("where", ["whole", "inside", "at_edge"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fill_holes_matches_scipy(seed, where):
    mask = ~_blobs((12, 50, 45), seed=seed, level=0.52)
    if where != "whole":
        # the same pattern inside a larger empty array: in its middle, or against two edges
        big = np.zeros((20, 70, 60), dtype=bool)
        at = (4, 9, 7) if where == "inside" else (0, 9, 15)
        big[at[0] : at[0] + 12, at[1] : at[1] + 50, at[2] : at[2] + 45] = mask
        mask = big
    filled = ndimage.binary_fill_holes(mask)
    np.testing.assert_array_equal(fill_holes(mask), filled)
    per_slice = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    np.testing.assert_array_equal(fill_holes(mask, planar=True), per_slice)
    assert filled.sum() > mask.sum()  # the case has holes to fill
    # the tissue maps fill slice by slice only: a 3-D fill first would add nothing
    np.testing.assert_array_equal(fill_holes(filled, planar=True), per_slice)
    assert per_slice.sum() > filled.sum()  # and the planar fill closes more than the 3-D one


@pytest.mark.parametrize("h", [3.0, 10.0, 20.0])
def test_h_maxima_matches_skimage(h):
    rng = np.random.default_rng(int(h))
    img = ndimage.gaussian_filter(rng.normal(size=(10, 40, 40)) * 100.0, 1.2)
    expected = h_maxima(img, h).astype(bool)
    np.testing.assert_array_equal(_h_maxima(img, h), expected)
    assert expected.sum() >= 2


def _components_on_a_floor(seed: int):
    """Every 26-connected bright component of a random smooth image, as (image, set): the
    image is the component's bounding box plus one voxel, everything off the set one below
    its minimum (the image :func:`_split` builds)."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.normal(size=(16, 80, 80)) * 100.0, (0.8, 1.5, 1.5))
    labels, _ = ndimage.label(smooth > 8.0, structure=np.ones((3, 3, 3), bool))
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        cm = labels[box] == k
        if cm.sum() < 4:
            continue
        floor = float(smooth[box][cm].min()) - 1.0
        yield np.where(cm, smooth[box], floor), cm


@pytest.mark.parametrize("h", [2.0, 6.0, 15.0, 1e4])
@pytest.mark.parametrize("seed", [1, 2])
def test_h_maxima_on_the_set_alone_matches_the_box(seed, h):
    n_sets = n_split = 0
    for img, cm in _components_on_a_floor(seed):
        inside = np.argwhere(cm)
        on_set = _h_maxima_connected(img[cm], inside, h, float(img.min()))
        np.testing.assert_array_equal(on_set, _h_maxima(img, h)[cm])
        n_sets += 1
        tops = np.zeros(cm.shape, dtype=bool)
        tops[tuple(inside[on_set].T)] = True
        n_split += int(ndimage.label(tops, structure=np.ones((3, 3, 3), bool))[1] >= 2)
    assert n_sets >= 20
    if h < 100.0:
        assert n_split >= 2  # sets with several summits were among them


def test_h_maxima_on_the_set_alone_edge_cases():
    # a line with a dip: one set, two summits that rise 55-60 HU above the dip
    img = np.zeros((3, 3, 9))
    img[1, 1] = [50.0, 60.0, 70.0, 60.0, 10.0, 60.0, 65.0, 60.0, 50.0]
    cm = img > 0
    inside = np.argwhere(cm)
    both = _h_maxima_connected(img[cm], inside, 20.0, 0.0)
    np.testing.assert_array_equal(both, _h_maxima(img, 20.0)[cm])
    assert both.sum() == 2
    # two pieces that meet only through the floor (0 HU), the fainter rising 15 HU above
    # it: in the box the bright piece floods it up to the floor (no summit of 20 HU), on its
    # own it is a summit; so the set-alone transform is for connected sets only (_split's
    # ``connected``)
    img[1, 1] = [50.0, 60.0, 70.0, 60.0, 0.0, 5.0, 15.0, 5.0, 3.0]
    cm = img > 0
    inside = np.argwhere(cm)
    assert _h_maxima(img, 20.0)[cm].sum() == 1
    assert _h_maxima_connected(img[cm], inside, 20.0, 0.0).sum() == 2
    # a summit exactly h above its saddle, which floating-point rounding would lose without
    # the guard of skimage's h_maxima (2.4 - 0.9 rounds below 1.5)
    img[1, 1] = [0.0, 0.3, 0.1, 0.6, 2.4, 1.9, 0.0, 0.0, 0.0]
    cm = img > 0
    guarded = _h_maxima_connected(img[cm], np.argwhere(cm), 0.9, 0.0)
    np.testing.assert_array_equal(guarded, _h_maxima(img, 0.9)[cm])
    assert guarded.sum() == 1
    # a set that fills its whole box (no floor voxel): the test against the range uses the
    # set's own minimum, as the dense transform does
    full = np.full((2, 2, 2), 5.0)
    full[0, 0, 0] = 9.0
    every = np.argwhere(np.ones(full.shape, bool))
    for h in (3.0, 4.0, 4.5):
        np.testing.assert_array_equal(
            _h_maxima_connected(full.ravel(), every, h, float(full.min())),
            _h_maxima(full, h).ravel(),
        )


def test_split_on_the_set_alone_matches_the_box():
    n_split = 0
    for img, cm in _components_on_a_floor(2):
        dense, sparse = _split(img, cm, 6.0), _split(img, cm, 6.0, connected=True)
        assert (dense is None) == (sparse is None)
        if dense is not None and sparse is not None:
            np.testing.assert_array_equal(dense[0], sparse[0])
            assert dense[1] == sparse[1]
            n_split += 1
    assert n_split >= 2


def test_split_two_blobs_and_merge_shoulders():
    img = np.zeros((9, 30, 30))
    zz, yy, xx = np.mgrid[:9, :30, :30]
    for cy, cx, amp in ((12, 10, 400.0), (15, 20, 300.0)):
        img += amp * np.exp(-((zz - 4) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2) / 6.0)
    cmask = img > 60.0
    labels, n = _split(img, cmask, 10.0)
    assert n == 2
    assert labels[4, 12, 10] != labels[4, 15, 20]
    merged, m = _merge_shoulders(img, labels, n, planar=False)
    assert m == 2  # both parts have a summit of their own: nothing merged
    np.testing.assert_array_equal(merged > 0, labels > 0)
    # the same parts on an image where the second one is only the tail of the first blob
    # (no summit of its own): it climbs into the first and is merged into it
    one = 400.0 * np.exp(-((zz - 4) ** 2 + (yy - 12) ** 2 + (xx - 10) ** 2) / 60.0)
    _, m2 = _merge_shoulders(one, labels, n, planar=False)
    assert m2 == 1


@pytest.mark.parametrize("slab", [1, 2])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("factors", [(1, 3, 3), (2, 2, 2), (1, 1, 1), (3, 2, 1)])
def test_block_stats_match_reshape(factors, threads, slab):
    rng = np.random.default_rng(7)
    # 83 slices: enough slabs to share among 3 threads, with a partial slab and block at the end
    vol = rng.integers(-1000, 2000, size=(83, 31, 29)).astype(np.float32)
    mean, top = block_stats(vol, factors, slab=slab, threads=threads)
    s, r, c = (n // f for n, f in zip(vol.shape, factors, strict=True))
    blocks = vol[: s * factors[0], : r * factors[1], : c * factors[2]].reshape(
        s, factors[0], r, factors[1], c, factors[2]
    )
    np.testing.assert_allclose(mean, blocks.mean(axis=(1, 3, 5)), rtol=1e-6)
    np.testing.assert_array_equal(top, blocks.max(axis=(1, 3, 5)))


def test_voxels_at_least_matches_argwhere_including_the_edges():
    rng = np.random.default_rng(3)
    spacing = (1.5, 0.5, 0.5)
    hu = rng.normal(0.0, 30.0, size=(11, 64, 61)).astype(np.float32)
    hu[3:8, 10:50, 10:50] = 60.0  # a body, so the tissue maps have something to work on
    hot = rng.random(hu.shape) < 0.002
    hot[-1, -1, -1] = hot[5, -1, 7] = hot[2, 9, -1] = True  # in the dropped partial blocks
    hu[hot] = 3500.0
    layers = compute_tissue(hu, spacing, DetectConfig())
    assert coarse_factors(spacing, 1.2) == layers.factors
    np.testing.assert_array_equal(layers.voxels_at_least(hu, 3000.0), np.argwhere(hu >= 3000.0))


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_sparse_labels_match_cc3d(connectivity):
    import cc3d

    from calcscan.detect.summits import _label_voxels

    mask = _blobs((12, 60, 50), seed=connectivity, level=0.58)
    idx = np.argwhere(mask)
    idx = idx[np.random.default_rng(0).permutation(len(idx))]  # any order
    dense = cc3d.connected_components(mask.astype(np.uint8), connectivity=connectivity)
    lab, n = _label_voxels(idx, connectivity)
    np.testing.assert_array_equal(lab, dense[tuple(idx.T)])
    assert n == int(dense.max()) > 5


@pytest.mark.parametrize("density", [0.1, 0.5, 0.9])
def test_neighbour_positions_match_a_lookup(density):
    from calcscan.detect.summits import _NEIGHBOURS, _neighbour_positions

    rng = np.random.default_rng(int(density * 10))
    idx = np.argwhere(rng.random((6, 9, 11)) < density) + np.array([3, -2, 5])
    idx = idx[rng.permutation(len(idx))]
    order, found = _neighbour_positions(idx, _NEIGHBOURS)
    where = {tuple(v): i for i, v in enumerate(idx[order].tolist())}
    for off, pos in zip(_NEIGHBOURS.tolist(), found, strict=True):
        expected = [where.get(tuple(np.add(v, off)), -1) for v in idx[order].tolist()]
        np.testing.assert_array_equal(pos, expected)


@pytest.mark.parametrize("spacing", [(1.5, 0.48, 0.48), (4.0, 0.9, 0.9), (1.0, 0.3, 0.3)])
def test_protrusion_at_matches_the_opening_of_the_whole_grid(spacing):
    # a head-like slab with thin lateral plates (auricles) and a nose-like ridge
    hu = np.full((24, 120, 120), -1000.0, dtype=np.float32)
    rows, cols = np.ogrid[:120, :120]
    disc = (rows - 60) ** 2 + (cols - 60) ** 2 <= 40**2
    hu[2:22, disc] = 40.0
    hu[6:18, 55:65, 5:20] = 40.0  # thin in the slice direction on thin slices only
    hu[4:20, 58:61, 95:118] = 40.0  # a plate one or two coarse voxels thick
    layers = compute_tissue(hu, spacing, DetectConfig())
    rp = DetectConfig().protrusion_radius_mm
    opened = dilate(layers.depth_mm > rp, layers.spacing_mm, rp)
    expected_map = layers.body & ~opened
    fine = np.argwhere(hu > -500.0)
    expected = expected_map[tuple(layers.coarse_index(fine).T)]
    got = layers.protrusion_at(fine)
    np.testing.assert_array_equal(got, expected)
    assert got.any() and not got.all()


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.45, 0.45), (0.6, 0.7, 0.8)])
def test_distance_to_background_matches_the_distance_transform(spacing):
    mask = _blobs((14, 30, 26), seed=3, level=0.49)
    full = edt.edt(mask.astype(np.uint8), anisotropy=spacing, black_border=False)
    rng = np.random.default_rng(0)
    for index in np.argwhere(mask)[rng.choice(int(mask.sum()), 40, replace=False)]:
        got = distance_to_background(mask, index, spacing)
        assert got == pytest.approx(float(full[tuple(index)]), rel=1e-5)
    assert distance_to_background(np.ones((3, 4, 5), bool), np.array([1, 1, 1]), spacing) == (
        float("inf")
    )


@pytest.mark.parametrize("shape", [(30, 41, 37), (31, 40, 36)])
def test_body_box_holds_the_largest_component_and_leaves_a_far_object_out(shape):
    import cc3d

    rng = np.random.default_rng(11)
    tissue = np.zeros(shape, dtype=bool)
    # an irregular "head" (the largest component) and a small object far from it
    zz, yy, xx = np.indices(shape)
    tissue |= ((zz - 14) / 11.0) ** 2 + ((yy - 18) / 13.0) ** 2 + ((xx - 15) / 10.0) ** 2 < 1
    tissue &= rng.random(shape) > 0.05
    tissue[2:4, 36:39, 32:35] = True
    sp = (1.5, 1.2, 1.2)
    box = _body_box(tissue, sp, margin_mm=0.0)
    largest = cc3d.largest_k(tissue.view(np.uint8), k=1, connectivity=6) > 0
    idx = np.argwhere(largest)
    for ax in range(3):
        lo, hi = int(idx[:, ax].min()), int(idx[:, ax].max()) + 1
        # the whole component, at most one pooled voxel (2 voxels) more on each side
        assert box[ax].start <= lo and box[ax].stop >= hi
        assert lo - box[ax].start <= 1 and box[ax].stop - hi <= 1 + shape[ax] % 2
    # the far object lies outside the box
    assert box[1].stop <= 36 or box[2].stop <= 32
    grown = _body_box(tissue, sp, margin_mm=3.0)
    assert grown[1].start == max(box[1].start - 3, 0)


def test_box_min_reads_the_coarse_cells_sample_box_reads() -> None:
    rng = np.random.default_rng(7)
    coarse = (9, 11, 10)
    maps = {name: rng.random(coarse) < 0.5 for name in ("body", "sealed", "bone", "cavity_air")}
    layers = TissueLayers(
        factors=(1, 3, 2),
        spacing_mm=(1.5, 1.4, 1.0),
        hu=rng.normal(0.0, 50.0, coarse).astype(np.float32),
        hu_max=rng.normal(0.0, 50.0, coarse).astype(np.float32),
        depth_mm=rng.random(coarse).astype(np.float32),
        bone_dist_mm=rng.random(coarse).astype(np.float32),
        protrusion_radius_mm=4.0,
        **maps,
    )
    fine = (9, 35, 21)  # partial blocks at the far edges, as in a real volume
    for _ in range(300):
        lo = [int(rng.integers(0, n)) for n in fine]
        box = tuple(
            slice(a, int(rng.integers(a + 1, n + 1))) for a, n in zip(lo, fine, strict=True)
        )
        for name in ("bone_dist_mm", "depth_mm"):
            assert layers.box_min(name, box) == float(layers.sample_box(name, box).min())
