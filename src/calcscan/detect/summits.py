"""Summits and valleys: how a nodule next to bone is told from the bone's own slope.

Shared by :mod:`calcscan.detect.candidates`: steepest-ascent climbs to a summit (in-plane on
thick slices, 3-D on thin ones), the valley test between a summit and brighter bone, the
h-maxima watershed that splits components next to bone, and the labelling of sparse voxel
sets. All work on small boxes around candidates, never on the whole volume.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.config import DetectConfig
from calcscan.detect.tissue import TissueLayers
from calcscan.threads import kernel_threads

log = logging.getLogger(__name__)


_NEIGHBOURS = np.array(
    [
        (a, b, c)
        for a in (-1, 0, 1)
        for b in (-1, 0, 1)
        for c in (-1, 0, 1)
        if (a, b, c) != (0, 0, 0)
    ]
)


def _near_bone_mm(layers: TissueLayers, config: DetectConfig) -> float:
    """Distance to the coarse bone mask within which bright voxels may be its slope."""
    return config.bone_margin_mm + max(layers.spacing_mm[1:])


def _steps(planar: bool) -> NDArray[np.intp]:
    """Neighbour offsets: the 8 in-plane ones, or all 26."""
    return _NEIGHBOURS[_NEIGHBOURS[:, 0] == 0] if planar else _NEIGHBOURS


def _planar(spacing_mm: tuple[float, float, float], config: DetectConfig) -> bool:
    """Thick slices: summits and valleys are judged in-plane (an oblique bone surface on the
    next slice lies under any nodule near it); thin slices: in 3-D (bone surfaces parallel to
    the slices lie above or below the candidate)."""
    return spacing_mm[0] > config.thick_slice_mm


def _has_summit(
    hu: NDArray[Any], idx: NDArray[np.intp], values: NDArray[Any], *, planar: bool
) -> NDArray[Any]:
    """True for voxels at least as bright as their neighbours (see :func:`_steps`).

    A neighbour beyond the array's edge is the voxel itself (clipped index). Voxels clear of
    the edge read their neighbours at flat offsets of a C-contiguous array, one gather per
    offset without building index triples.
    """
    hi = np.asarray(hu.shape) - 1
    ok = np.ones(len(idx), dtype=bool)
    steps = _steps(planar)
    inner = np.all((idx > 0) & (idx < hi), axis=1) if hu.flags.c_contiguous else ~ok
    if inner.any():
        flat = hu.reshape(-1)  # a view: the array is contiguous
        strides = np.array([hu.shape[1] * hu.shape[2], hu.shape[2], 1], dtype=np.intp)
        lin, v = idx[inner] @ strides, values[inner]
        fits = np.ones(len(lin), dtype=bool)
        for off in steps @ strides:
            fits &= flat[lin + off] <= v
        ok[inner] = fits
    edge = ~inner
    if edge.any():
        at, v = idx[edge], values[edge]
        fits = np.ones(len(at), dtype=bool)
        for off in steps:
            nb = np.clip(at + off, 0, hi)
            fits &= hu[nb[:, 0], nb[:, 1], nb[:, 2]] <= v
        ok[edge] = fits
    return ok


def _label_voxels(idx: NDArray[np.intp], connectivity: int) -> tuple[NDArray[np.intp], int]:
    """Connected components of a sparse voxel set: per-voxel labels 1..n and n.

    Labels are numbered by each component's first voxel in C order, as a dense labelling
    (``cc3d``) numbers them; the neighbour graph is built from the sorted linear indices and
    split by ``scipy.sparse.csgraph``, so no array the size of the head is allocated for the
    few voxels above threshold.

    Parameters
    ----------
    idx : ndarray, shape (n, 3)
        Distinct voxel indices, in any order.
    connectivity : {6, 18, 26}
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(idx)
    if n == 0:
        return np.zeros(0, dtype=np.intp), 0
    reach = {6: 1, 18: 2}.get(connectivity, 3)
    # each pair once (forward offsets), within the connectivity
    forward = [o for o in _NEIGHBOURS if tuple(o) > (0, 0, 0) and int(np.abs(o).sum()) <= reach]
    order, found = _neighbour_positions(idx, np.array(forward))
    rows = [np.flatnonzero(pos >= 0) for pos in found]
    r, c = (
        np.concatenate(rows),
        np.concatenate([pos[i] for pos, i in zip(found, rows, strict=True)]),
    )
    graph = csr_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    n_lab, labels_sorted = connected_components(graph, directed=False)
    lab = np.empty(n, dtype=np.intp)
    lab[order] = labels_sorted + 1
    return lab, int(n_lab)


def _h_maxima(image: NDArray[np.float64], h: float) -> NDArray[np.bool_]:
    """Tops of the regional maxima of prominence >= ``h`` (26-connected).

    The same transform as ``skimage.morphology.h_maxima`` (including its guard against
    floating-point rounding), with the grey reconstruction done by SimpleITK, which is several
    times faster on the boxes met here.
    """
    import SimpleITK as sitk

    if h > float(np.ptp(image)):
        return np.zeros(image.shape, dtype=bool)
    resolution = 2 * np.finfo(image.dtype).resolution * np.abs(image)
    rec_filter = sitk.ReconstructionByDilationImageFilter()
    rec_filter.SetFullyConnected(True)  # 26 neighbours
    rec_filter.SetNumberOfThreads(kernel_threads())  # one per cohort worker
    rec = sitk.GetArrayFromImage(
        rec_filter.Execute(
            sitk.GetImageFromArray(image - h - resolution), sitk.GetImageFromArray(image)
        )
    )
    return np.asarray((image - rec) >= h)


def _neighbour_positions(
    idx: NDArray[np.intp], offsets: NDArray[np.intp]
) -> tuple[NDArray[np.intp], list[NDArray[np.intp]]]:
    """A sparse voxel set sorted in C order, and where its voxels' neighbours lie in it.

    Returns ``order`` (``idx[order]`` is in C order) and, per offset, the position in that
    order of each sorted voxel's neighbour at that offset (-1 when it is not in the set).
    """
    n = len(idx)
    loc = idx - idx.min(axis=0) + 1  # a one-voxel margin: neighbour offsets never wrap
    shape = loc.max(axis=0) + 2
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    lin = loc.astype(np.int64) @ strides
    order = np.argsort(lin, kind="stable")
    ordered = lin[order]
    # offsets that differ only in the column lie within a few places of each other in the
    # sorted set: one search per (slice, row) offset, for the run's first column; a target
    # ``j`` columns further on, if present, is at most ``j`` places after that
    first_col: dict[tuple[int, int], int] = {}
    for ds, dr, dc in offsets.tolist():
        first_col[(ds, dr)] = min(first_col.get((ds, dr), dc), dc)
    base = {
        key: np.searchsorted(ordered, ordered + int(np.array([*key, dc]) @ strides))
        for key, dc in first_col.items()
    }
    found = []
    for ds, dr, dc in offsets.tolist():
        target = ordered + int(np.array([ds, dr, dc]) @ strides)
        start = base[(ds, dr)]
        pos = np.full(n, -1, dtype=np.intp)
        for q in range(dc - first_col[(ds, dr)] + 1):
            at = np.minimum(start + q, n - 1)
            pos = np.where(ordered[at] == target, at, pos)
        found.append(pos)
    return order, found


def _neighbour_table(idx: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The 26-neighbour table of a sparse voxel set.

    Returns ``order`` (the voxels sorted in C order) and ``table`` (n, 27): for the ``i``-th
    voxel in that order, the positions (in that order) of itself and of its 26 neighbours,
    a neighbour outside the set given as the voxel itself.
    """
    order, found = _neighbour_positions(idx, _NEIGHBOURS)
    table = np.empty((len(idx), 27), dtype=np.intp)
    table[:, 0] = np.arange(len(idx))
    for j, pos in enumerate(found, start=1):
        table[:, j] = np.where(pos >= 0, pos, table[:, 0])
    return order, table


def _h_maxima_connected(
    values: NDArray[Any], idx: NDArray[np.intp], h: float, lowest: float
) -> NDArray[np.bool_]:
    """:func:`_h_maxima` of an image that is a 26-connected voxel set on a floor, read on the
    set alone.

    ``values`` at ``idx`` (distinct voxels, one 26-connected set); every other voxel of the
    image lies at one floor value below all of them; ``lowest`` is the image's minimum (the
    floor, or the set's minimum when the set fills the image). A path through the floor
    never reaches higher than the floor, and a path inside the set from its brightest voxel
    always does (the test against the image's range below guarantees it), so the grey
    reconstruction on the set's own 26-neighbour graph gives the same values on the set. It
    is iterated there (``rec = min(image, max over the neighbours of rec)`` until nothing
    changes) instead of over the whole box around a thin or oblique component.

    Returns
    -------
    ndarray of bool, shape (n,)
        Whether each voxel is a top.
    """
    image = np.asarray(values, dtype=np.float64)
    if h > float(image.max()) - lowest:  # as _h_maxima: h above the range of the image
        return np.zeros(len(image), dtype=bool)
    order, table = _neighbour_table(idx)
    image = image[order]
    rec = image - h - 2 * np.finfo(image.dtype).resolution * np.abs(image)
    while True:
        grown = np.minimum(rec[table].max(axis=1), image)
        if np.array_equal(grown, rec):
            break
        rec = grown
    tops = np.empty(len(image), dtype=bool)
    tops[order] = (image - rec) >= h
    return tops


def _split(
    smooth: NDArray[Any], cmask: NDArray[np.bool_], h: float, *, connected: bool = False
) -> tuple[NDArray[np.intp], int] | None:
    """Watershed labels of ``cmask`` around its summits of prominence >= ``h`` (None if one).

    With ``connected`` (``cmask`` is one 26-connected set) the summits are found on the
    set's voxels alone (:func:`_h_maxima_connected`), else on its bounding box.
    """
    from skimage.segmentation import watershed

    # work in the component's bounding box plus one voxel of floor: the component is
    # connected, so paths through the floor outside it never decide a prominence
    idx = np.argwhere(cmask)
    lo = np.maximum(idx.min(axis=0) - 1, 0)
    hi = np.minimum(idx.max(axis=0) + 2, cmask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    cm = cmask[box]
    floor = float(smooth[cmask].min()) - 1.0
    img = np.where(cm, smooth[box], floor).astype(np.float64)
    if connected:
        inside = idx - lo  # the set's voxels in the box, in C order as img[cm] reads them
        tops = np.zeros(cm.shape, dtype=bool)
        on_set = _h_maxima_connected(img[cm], inside, h, float(img.min()))
        tops[tuple(inside[on_set].T)] = True
    else:
        tops = _h_maxima(img, h) & cm
    markers, n = ndimage.label(tops, structure=np.ones((3, 3, 3), bool))
    if n < 2:
        return None
    labels = np.zeros(cmask.shape, dtype=np.intp)
    # flood through all 26 neighbours: a component grouped with diagonal neighbours (thick
    # slices) is not 6-connected, and the default (faces only) leaves such voxels unlabelled
    labels[box] = watershed(-img, markers, mask=cm, connectivity=3)
    return labels, int(n)


def _brightest(
    image: NDArray[Any], labels: NDArray[np.intp], wanted: NDArray[Any]
) -> NDArray[np.intp]:
    """Index (slice, row, col) of the brightest voxel of each label in ``wanted`` (all present
    in ``labels``); on ties the first in C order, as ``ndimage.maximum_position``."""
    flat = np.flatnonzero(labels)
    lab, val = labels.ravel()[flat], image.ravel()[flat]
    order = np.lexsort((flat, -val, lab))
    first = order[np.searchsorted(lab[order], wanted)]
    return np.stack(np.unravel_index(flat[first], labels.shape), axis=1).astype(np.intp)


def _merge_shoulders(
    image: NDArray[Any], labels: NDArray[np.intp], n: int, *, planar: bool
) -> tuple[NDArray[np.intp], int]:
    """Merge each part whose brightest voxel climbs to a summit inside another part.

    A watershed part without a summit of its own is the shoulder of its neighbour (smoothing
    across the edge of a component can lend a slope a marker of its own). Returns the
    relabelled parts (1..m) and their number.
    """
    parent = list(range(n + 1))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    tops = _climb_many(image, _brightest(image, labels, np.arange(1, n + 1)), planar=planar)
    for i, top in enumerate(tops, start=1):
        j = int(labels[tuple(top)])
        if j and root(j) != root(i):
            parent[root(i)] = root(j)
    roots = np.array([0] + [root(i) for i in range(1, n + 1)])
    _, new = np.unique(roots, return_inverse=True)  # root 0 (background) stays 0
    return np.asarray(new[labels], dtype=np.intp), int(new.max())


def _climb(image: NDArray[Any], start: NDArray[np.intp], *, planar: bool) -> NDArray[np.intp]:
    """Steepest ascent from ``start`` to a local maximum (neighbours of :func:`_steps`)."""
    p = np.asarray(start, dtype=np.intp)
    hi = np.asarray(image.shape) - 1
    steps = _steps(planar)
    for _ in range(image.size):
        nb = np.clip(p + steps, 0, hi)
        vals = image[nb[:, 0], nb[:, 1], nb[:, 2]]
        k = int(np.argmax(vals))
        if vals[k] <= image[tuple(p)]:
            break
        p = nb[k]
    return p


def _climb_many(
    image: NDArray[Any],
    starts: NDArray[np.intp],
    *,
    planar: bool,
    lo: NDArray[np.intp] | None = None,
    hi: NDArray[np.intp] | None = None,
) -> NDArray[np.intp]:
    """:func:`_climb` from many starts at once (vectorised steepest ascent).

    ``lo``/``hi`` (n, 3), when given, are inclusive per-start bounds: each climb then behaves
    as :func:`_climb` on the sub-array ``image[lo:hi + 1]`` would.
    """
    p = np.array(starts, dtype=np.intp, copy=True)
    if len(p) == 0:
        return p
    low = np.zeros((1, 1, 3), dtype=np.intp) if lo is None else lo[:, None, :]
    high = (np.asarray(image.shape) - 1)[None, None, :] if hi is None else hi[:, None, :]
    steps = _steps(planar)
    # a climb that stopped stays stopped (the same voxel has the same neighbours): only the
    # climbs still going are stepped
    active = np.arange(len(p))
    for _ in range(image.size):
        q = p[active]
        lo_a = low if lo is None else low[active]
        hi_a = high if hi is None else high[active]
        nb = np.clip(q[:, None, :] + steps[None, :, :], lo_a, hi_a)
        vals = image[nb[..., 0], nb[..., 1], nb[..., 2]]
        k = np.argmax(vals, axis=1)
        rows = np.arange(len(q))
        up = vals[rows, k] > image[q[:, 0], q[:, 1], q[:, 2]]
        if not up.any():
            break
        active = active[up]
        p[active] = nb[rows, k][up]
    return p


def _attached_to_bone(
    smooth: NDArray[Any],
    cmask: NDArray[np.bool_],
    layers: TissueLayers,
    offset: NDArray[np.intp],
    config: DetectConfig,
    *,
    sigma_smooth_hu: float,
    background_hu: float,
    planar: bool,
    dip_fraction: float | None = None,
) -> bool:
    """Is the candidate bone partial volume rather than a blob with a summit of its own?

    From the candidate's brightest voxel, climb the matched-filtered image to its summit. The
    candidate is bone partial volume when the summit lies in bone, or when the region still
    connected to the summit ``dip`` below it (``dip = max(bone_dip_sd x noise, bone_dip_fraction
    x contrast)``) reaches brighter ground near bone or runs out of the box next to bone: the
    bright voxels are then the slope of the bone, not a nodule separated from it by a valley.
    """
    start = np.argwhere(cmask)[int(np.argmax(smooth[cmask]))]
    summit = _climb(smooth, start, planar=planar)
    near_bone_mm = _near_bone_mm(layers, config)
    if float(layers.sample("bone_dist_mm", (summit + offset)[None, :])[0]) <= 0.0:
        log.debug("bone slope at %s: summit in bone", start + offset)
        return True
    top = float(smooth[tuple(summit)])
    dip = max(
        config.bone_dip_sd * sigma_smooth_hu,
        (config.bone_dip_fraction if dip_fraction is None else dip_fraction)
        * (top - background_hu),
    )
    level = max(top - dip, config.threshold_hu * 0.5 + 0.5 * min(background_hu, 60.0))
    # thick slices: the valley is looked for on the summit's slice only
    if planar:
        k = int(summit[0])
        view = np.zeros(smooth.shape, dtype=bool)
        view[k] = smooth[k] >= level
        structure = np.zeros((3, 3, 3), bool)
        structure[1] = True
    else:
        view = smooth >= level
        structure = np.ones((3, 3, 3), bool)
    labels = ndimage.label(view, structure=structure)[0]
    region = labels == labels[tuple(summit)]
    pts = np.argwhere(region)
    near = layers.sample("bone_dist_mm", pts + offset) <= near_bone_mm
    if not near.any():
        return False
    higher = smooth[region] > top
    if bool((higher & near).any()):
        log.debug("bone slope at %s: no valley to brighter bone", start + offset)
        return True
    leaves = bool(region[:, [0, -1], :].any() or region[:, :, [0, -1]].any())
    if leaves:
        log.debug("bone slope at %s: runs out of the box along bone", start + offset)
    return leaves
