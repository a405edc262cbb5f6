"""Tissue layers on a coarse grid: body, sealed body, depth below the skin, bone, protrusions.

Heavy morphology runs on a ~1.2 mm grid (block means of the HU volume); all morphology is done
with exact Euclidean distance transforms (``edt``), which honour anisotropic spacing and cost
the same whatever the radius. Fine-resolution measures are taken later, only in small boxes
around candidates (:mod:`calcscan.detect.candidates`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import cc3d
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.balls import ball_offsets, dilate, distance_mm, erode
from calcscan.detect.config import DetectConfig
from calcscan.detect.gridops import erode_plane_box
from calcscan.threads import in_runs, kernel_threads

__all__ = [
    "TissueLayers",
    "block_stats",
    "coarse_factors",
    "compute_tissue",
    "estimate_noise",
    "fill_holes",
]

log = logging.getLogger(__name__)

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float32]


def coarse_factors(spacing_mm: tuple[float, float, float], grid_mm: float) -> tuple[int, int, int]:
    """Integer block sizes per axis that bring ``spacing_mm`` close to ``grid_mm``."""
    f = [max(1, int(np.floor(grid_mm / s + 0.5))) if s > 0 else 1 for s in spacing_mm]
    return (f[0], f[1], f[2])


def block_stats(
    volume: NDArray[Any], factors: tuple[int, int, int], *, slab: int = 1, threads: int = 0
) -> tuple[FloatArray, FloatArray]:
    """Mean and maximum over non-overlapping blocks, in one pass over the volume.

    The volume is read a few slices at a time (``slab`` blocks along the slice axis), so the
    views of one slab stay in the CPU cache while both reductions read them. Within a slab the
    rows are reduced first (whole contiguous rows added and compared), then the columns and
    the slices on the already reduced data. Slabs are shared among ``threads`` threads (numpy
    releases the GIL in these loops). Sums of integer HU values are exact in float32 whatever
    their order; other values can differ from a reshaped ``mean`` in the last bit.

    Parameters
    ----------
    volume : ndarray, shape (n_slices, n_rows, n_cols)
    factors : tuple of int
        Block size per axis.
    slab : int
        Blocks along the slice axis per chunk.
    threads : int
        Threads to use (0: :func:`calcscan.threads.kernel_threads`).

    Returns
    -------
    (ndarray, ndarray) of float32, shape ``shape // factors``
        Block means and block maxima (a partial block at the far edge is dropped).
    """
    fs, fr, fc = factors
    s, r, c = (n // f for n, f in zip(volume.shape, factors, strict=True))
    mean = np.empty((s, r, c), dtype=np.float32)
    top = np.empty((s, r, c), dtype=np.float32)
    scale = np.float32(1.0 / (fs * fr * fc))

    def reduce(v: FloatArray, rsum: FloatArray, rmax: FloatArray, k0: int, k1: int) -> None:
        # rows: the first two rows of each block written straight into the buffers
        if fr > 1:
            np.add(v[:, 0::fr], v[:, 1::fr], out=rsum)
            np.maximum(v[:, 0::fr], v[:, 1::fr], out=rmax)
        else:
            rsum, rmax = v, v
        for b in range(2, fr):
            rsum += v[:, b::fr]
            np.maximum(rmax, v[:, b::fr], out=rmax)
        # columns
        if fc > 1:
            csum = rsum[:, :, 0::fc] + rsum[:, :, 1::fc]
            cmax = np.maximum(rmax[:, :, 0::fc], rmax[:, :, 1::fc])
        else:
            csum, cmax = rsum, rmax
        for d in range(2, fc):
            csum += rsum[:, :, d::fc]
            np.maximum(cmax, rmax[:, :, d::fc], out=cmax)
        # slices
        msum = csum[::fs].copy()
        mmax = cmax[::fs].copy()
        for a in range(1, fs):
            msum += csum[a::fs]
            np.maximum(mmax, cmax[a::fs], out=mmax)
        np.multiply(msum, scale, out=mean[k0:k1])
        top[k0:k1] = mmax

    def run(first: int, last: int) -> None:
        # row-reduced buffers reused from slab to slab
        rsum = np.empty((slab * fs, r, c * fc), dtype=np.float32)
        rmax = np.empty_like(rsum)
        for k0 in range(first, last, slab):
            k1 = min(k0 + slab, last)
            n = (k1 - k0) * fs
            v = np.asarray(volume[k0 * fs : k1 * fs, : r * fr, : c * fc], dtype=np.float32)
            reduce(v, rsum[:n], rmax[:n], k0, k1)

    # contiguous runs of whole slabs, one per thread
    n_threads = min(threads or kernel_threads(), max(1, s // (4 * slab)))
    in_runs(run, s, n_threads, align=slab)
    return mean, top


def inplane_summit_points(values: NDArray[Any], idx: NDArray[np.intp]) -> BoolArray:
    """For each index (n, 3): is the voxel at least as bright as its 8 in-plane neighbours?"""
    hi = np.asarray(values.shape) - 1
    v = values[idx[:, 0], idx[:, 1], idx[:, 2]]
    ok = np.ones(len(idx), dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            nb = np.clip(idx + np.array([0, dr, dc]), 0, hi)
            ok &= values[nb[:, 0], nb[:, 1], nb[:, 2]] <= v
    return ok


def _inplane_summits(values: FloatArray, mask: BoolArray) -> BoolArray:
    """Voxels of ``mask`` at least as bright as their 8 in-plane neighbours."""
    idx = np.argwhere(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if len(idx) == 0:
        return out
    out[tuple(idx[inplane_summit_points(values, idx)].T)] = True
    return out


def _occupied(mask: BoolArray) -> list[NDArray[np.intp]]:
    """Per axis, the indices of the planes that hold a True voxel (sorted)."""
    return [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]


def fill_holes(mask: BoolArray, *, planar: bool = False) -> BoolArray:
    """``mask`` plus every background region that does not reach the edge of the array.

    The same as ``scipy.ndimage.binary_fill_holes`` (background 6-connected in 3-D; with
    ``planar``, slice by slice with 4-connected background), by labelling the background once
    instead of growing it from the border, and only inside the bounding box of ``mask``: a
    background voxel outside the box reaches the edge of the array in a straight line, and a
    background voxel on the box's faces touches one of those.

    Parameters
    ----------
    mask : ndarray of bool, shape (n_slices, n_rows, n_cols)
    planar : bool
        Fill each slice on its own (holes open to another slice are still filled).

    Returns
    -------
    ndarray of bool
    """
    hits = _occupied(mask)
    out = np.zeros(mask.shape, dtype=bool)
    if hits[0].size == 0:
        return out
    box = tuple(slice(int(h[0]), int(h[-1]) + 1) for h in hits)
    out[box] = _fill_box(np.asarray(mask[box], dtype=bool), planar=planar)
    return out


def _fill_box(mask: BoolArray, *, planar: bool) -> BoolArray:
    if planar:
        # the slices stacked into one tall image, labelled 4-connected in 2-D: regions join
        # across slices only through a slice's first and last rows, which are edge rows
        # (outside) either way, so a hole stays a hole of its own slice
        s, r, c = mask.shape
        labels = cc3d.connected_components(
            (~mask).view(np.uint8).reshape(s * r, c), connectivity=4, binary_image=True
        ).reshape(s, r, c)
        edge = [labels[:, [0, -1], :], labels[:, :, [0, -1]]]
    else:
        labels = cc3d.connected_components(
            (~mask).view(np.uint8), connectivity=6, binary_image=True
        )
        edge = [labels[[0, -1]], labels[:, [0, -1]], labels[:, :, [0, -1]]]
    outside = np.zeros(int(labels.max()) + 1, dtype=bool)
    for e in edge:
        outside[np.unique(e)] = True
    outside[0] = False
    return np.asarray(~outside[labels])


def _large_components(
    mask: BoolArray, connectivity: Literal[6, 26], voxel_mm3: float, min_volume_mm3: float
) -> BoolArray:
    """The components of ``mask`` of at least ``min_volume_mm3`` (labels read on ``mask`` only)."""
    out = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return out
    labels = cc3d.connected_components(
        mask.view(np.uint8), connectivity=connectivity, binary_image=True
    )
    fg = labels[mask]
    keep = np.bincount(fg) * voxel_mm3 >= min_volume_mm3
    keep[0] = False
    out[mask] = keep[fg]
    return out


def _largest_component(mask: BoolArray) -> BoolArray:
    """The largest 6-connected component of ``mask`` (sizes counted on ``mask`` only: with
    hundreds of specks in the air, ``cc3d.largest_k`` takes twice as long)."""
    if not mask.any():
        return mask
    labels, n = cc3d.connected_components(
        mask.view(np.uint8), connectivity=6, binary_image=True, return_N=True
    )
    if n == 1:
        return np.array(mask, dtype=bool, copy=True)
    fg = labels[mask]
    size = np.bincount(fg)
    size[0] = 0
    out = np.zeros(mask.shape, dtype=bool)
    out[mask] = fg == int(np.argmax(size))
    return out


@dataclass
class TissueLayers:
    """Coarse-grid tissue maps of one scan.

    Attributes
    ----------
    factors : tuple of int
        Block size (slice, row, col) of the coarse grid in fine voxels.
    spacing_mm : tuple of float
        Coarse voxel spacing.
    hu : ndarray
        Coarse (block-mean) HU.
    hu_max : ndarray
        Block maxima of the fine HU (same grid).
    body : ndarray of bool
        Body without table/head holder (largest component).
    sealed : ndarray of bool
        Body with nostrils, ear canals and mouth sealed and internal air filled.
    depth_mm : ndarray of float32
        Distance below the sealed skin surface (0 outside).
    bone : ndarray of bool
        Bone components (coarse HU >= bone threshold, large enough).
    bone_dist_mm : ndarray of float32
        Distance to the nearest bone voxel.
    cavity_air : ndarray of bool
        Air inside the sealed body (sinuses, airway, nostrils, ear canals).
    protrusion_radius_mm : float
        Radius of the opening that tells thin protrusions (:meth:`protrusion_at`).
    """

    factors: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    hu: FloatArray
    hu_max: FloatArray
    body: BoolArray
    sealed: BoolArray
    depth_mm: FloatArray
    bone: BoolArray
    bone_dist_mm: FloatArray
    cavity_air: BoolArray
    protrusion_radius_mm: float

    def coarse_index(self, fine_index: NDArray[Any]) -> NDArray[np.intp]:
        """Coarse voxel index of fine (slice, row, col) indices (clipped to the grid)."""
        f = np.asarray(self.factors)
        idx = (np.asarray(fine_index) // f).astype(np.intp)
        return np.asarray(np.clip(idx, 0, np.asarray(self.hu.shape) - 1), dtype=np.intp)

    def voxels_at_least(self, hu: NDArray[Any], threshold_hu: float) -> NDArray[np.intp]:
        """Fine indices (C order, as ``np.argwhere``) of the voxels of ``hu`` >= threshold.

        Only the blocks whose maximum reaches the threshold are read, plus the partial blocks
        at the far edges that the coarse grid drops.
        """
        f = self.factors
        s, r, c = self.hu_max.shape
        found = []
        cells = np.argwhere(self.hu_max >= threshold_hu)
        if len(cells):
            fine = hu[: s * f[0], : r * f[1], : c * f[2]].reshape(s, f[0], r, f[1], c, f[2])
            blocks = fine[cells[:, 0], :, cells[:, 1], :, cells[:, 2], :] >= threshold_hu
            cell, a, b, d = np.nonzero(blocks)
            found.append(cells[cell] * np.asarray(f) + np.stack([a, b, d], axis=1))
        # the edges the coarse grid drops: slices beyond s*f0, then rows, then columns
        edges = [
            ((slice(s * f[0], None), slice(None), slice(None)), (s * f[0], 0, 0)),
            ((slice(0, s * f[0]), slice(r * f[1], None), slice(None)), (0, r * f[1], 0)),
            ((slice(0, s * f[0]), slice(0, r * f[1]), slice(c * f[2], None)), (0, 0, c * f[2])),
        ]
        for box, origin in edges:
            part = hu[box]
            if part.size:
                found.append(np.argwhere(part >= threshold_hu) + np.asarray(origin))
        idx = np.concatenate(found) if found else np.zeros((0, 3), dtype=np.intp)
        order = np.lexsort((idx[:, 2], idx[:, 1], idx[:, 0]))
        return np.asarray(idx[order], dtype=np.intp)

    def sample(self, name: str, fine_index: NDArray[Any]) -> NDArray[Any]:
        """Values of the coarse map ``name`` at fine indices (nearest coarse voxel)."""
        c = self.coarse_index(fine_index)
        arr = getattr(self, name)
        return np.asarray(arr[c[..., 0], c[..., 1], c[..., 2]])

    def box_min(self, name: str, box: tuple[slice, slice, slice]) -> float:
        """Least value of the coarse map ``name`` over the fine voxels of ``box`` (``start``
        and ``stop`` given): ``sample_box(name, box).min()`` read from the coarse cells."""
        arr = getattr(self, name)
        cells = tuple(
            slice(min(b.start // f, n - 1), min((b.stop - 1) // f, n - 1) + 1)
            for b, f, n in zip(box, self.factors, arr.shape, strict=True)
        )
        return float(arr[cells].min())

    def protrusion_at(self, fine_index: NDArray[Any]) -> NDArray[np.bool_]:
        """Is each fine index in a thin protrusion of the body (auricle, nasal ala)?

        A protrusion is the body minus its opening by a ball of ``protrusion_radius_mm``: body
        voxels with no voxel deeper than that radius below the skin within that radius. Only
        the coarse voxels asked for are tested (an opening of the whole grid costs more than
        the few candidates that need it).
        """
        shape = self.depth_mm.shape
        cells = self.coarse_index(np.asarray(fine_index).reshape(-1, 3))
        flat, inverse = np.unique(np.ravel_multi_index(tuple(cells.T), shape), return_inverse=True)
        uniq = np.stack(np.unravel_index(flat, shape), axis=1)
        r = self.protrusion_radius_mm
        offsets = np.concatenate([np.zeros((1, 3), np.intp), ball_offsets(self.spacing_mm, r)])
        q = uniq[:, None, :] + offsets[None, :, :]
        q = np.clip(q, 0, np.asarray(shape) - 1)  # a clipped offset lands inside the ball too
        near_core = (self.depth_mm[q[..., 0], q[..., 1], q[..., 2]] > r).any(axis=1)
        inner = self.body[uniq[:, 0], uniq[:, 1], uniq[:, 2]] & ~near_core
        return np.asarray(inner[inverse.reshape(-1)]).reshape(np.shape(fine_index)[:-1])

    def sample_box(self, name: str, box: tuple[slice, slice, slice]) -> NDArray[Any]:
        """The coarse map ``name`` on every fine voxel of ``box`` (nearest coarse voxel)."""
        arr = getattr(self, name)
        axes = [
            np.clip(np.arange(b.start, b.stop) // f, 0, n - 1)
            for b, f, n in zip(box, self.factors, arr.shape, strict=True)
        ]
        return np.asarray(arr[np.ix_(*axes)])


def compute_tissue(
    hu: NDArray[Any], spacing_mm: tuple[float, float, float], config: DetectConfig
) -> TissueLayers:
    """Body, sealed body, depth and bone maps on the coarse grid (protrusions on demand).

    Parameters
    ----------
    hu : ndarray, shape (n_slices, n_rows, n_cols)
        HU volume.
    spacing_mm : tuple of float
        Fine voxel spacing (slice step, row, col).
    config : DetectConfig

    Returns
    -------
    TissueLayers
    """
    factors = coarse_factors(spacing_mm, config.coarse_grid_mm)
    sp = tuple(float(s * f) for s, f in zip(spacing_mm, factors, strict=True))
    spacing = (sp[0], sp[1], sp[2])
    chu, chu_max = block_stats(hu, factors)
    # work inside the bounding box of the largest tissue component (plus room for sealing):
    # the air around the head is most of a head CT's field of view
    crop = _body_box(chu > config.body_threshold_hu, spacing, config.seal_radius_mm + 3.0)
    maps = _tissue_maps(chu[crop], spacing, config)
    full: dict[str, Any] = {}
    for name, arr in maps.items():
        if name == "bone_dist_mm":
            out = np.full(chu.shape, 1e3, dtype=arr.dtype)
        else:
            # zeroed pages come from the OS lazily: only the crop is written
            out = np.zeros(chu.shape, dtype=arr.dtype)
        out[crop] = arr
        full[name] = out
    return TissueLayers(
        factors=factors,
        spacing_mm=spacing,
        hu=chu,
        hu_max=chu_max,
        protrusion_radius_mm=config.protrusion_radius_mm,
        **full,
    )


def _body_box(
    tissue: BoolArray, spacing: tuple[float, float, float], margin_mm: float
) -> tuple[slice, slice, slice]:
    """Bounding box of the largest tissue component, grown by ``margin_mm`` (whole volume when
    there is no tissue).

    The component is found on a grid pooled 2x2x2 (a pooled voxel holds tissue when any of its
    voxels does; the one with the most tissue voxels wins), eight times fewer voxels to label.
    Pooling keeps connected voxels connected, so the box holds the whole component; it can only
    be larger (by a pooled voxel, or a structure within a voxel of the head), which costs a
    little more work downstream but changes no map.
    """
    if not tissue.any():
        return (slice(None), slice(None), slice(None))
    shape = tissue.shape
    padded = np.zeros(tuple(n + n % 2 for n in shape), dtype=np.uint8)
    padded[: shape[0], : shape[1], : shape[2]] = tissue
    counts = padded[0::2] + padded[1::2]  # pairs along each axis in turn: 0..8 per voxel
    counts = counts[:, 0::2] + counts[:, 1::2]
    counts = counts[:, :, 0::2] + counts[:, :, 1::2]
    labels = cc3d.connected_components(counts > 0, connectivity=6, binary_image=True)
    weight = np.bincount(labels.ravel(), weights=counts.ravel())
    weight[0] = 0.0
    hits = _occupied(labels == int(np.argmax(weight)))
    out = []
    for ax, hit in enumerate(hits):
        pad = int(np.ceil(margin_mm / spacing[ax]))
        lo = max(2 * int(hit[0]) - pad, 0)
        hi = min(2 * (int(hit[-1]) + 1) + pad, shape[ax])
        out.append(slice(lo, hi))
    return (out[0], out[1], out[2])


def _close(mask: BoolArray, spacing: tuple[float, float, float], radius_mm: float) -> BoolArray:
    """``mask`` plus its closing by a ball of ``radius_mm``, outside the array taken as air.

    The array is padded with False by the radius (on the sides the dilation reaches) before
    the dilation and the erosion. Without that, the erosion cannot reach in from beyond the
    field of view, and a body that narrows
    towards the first or last slice (the chin's underside, the vertex) gains a skirt of false
    tissue along that slice: the depth below the skin there comes out up to the radius too
    deep. A body cut flat by the field of view (the neck) closes to itself either way.
    """
    hits = _occupied(mask)
    if hits[0].size == 0:
        return np.array(mask, dtype=bool, copy=True)
    # only a side the dilation can reach needs padding (elsewhere the result is the same)
    widths = []
    for s, hit, n in zip(spacing, hits, mask.shape, strict=True):
        reach = int(np.ceil(radius_mm / s)) + 1
        lo = reach if int(hit[0]) < reach else 0
        hi = reach if n - 1 - int(hit[-1]) < reach else 0
        widths.append((lo, hi))
    padded = np.pad(mask, widths)
    closed = erode(dilate(padded, spacing, radius_mm), spacing, radius_mm)
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, mask.shape, strict=True))
    return np.asarray(closed[inner] | mask)


def _tissue_maps(
    chu: FloatArray, spacing: tuple[float, float, float], config: DetectConfig
) -> dict[str, NDArray[Any]]:
    """Body, sealed body, depth, bone, bone distance and cavity air of ``chu``."""
    tissue = chu > config.body_threshold_hu
    # cut thin bridges to the table/head holder before keeping the largest component
    core = erode(tissue, spacing, 1.6)
    body = _largest_component(core)
    if body.any():
        body = dilate(body, spacing, 2.0) & tissue
        body = _largest_component(body)
    # seal openings (closing) and fill internal air
    closed = _close(body, spacing, config.seal_radius_mm)
    # slice by slice: a hole closed in 3-D is closed in each of its slices too (its in-plane
    # background lies within its 3-D background), so a 3-D fill first would add nothing
    sealed = fill_holes(closed, planar=True)
    cavity_air = sealed & (chu <= config.body_threshold_hu)
    # bone: large dense components
    dense = (chu >= config.bone_threshold_hu) & sealed
    voxel_mm3 = float(np.prod(spacing))
    bone = np.zeros_like(dense)
    if dense.any():
        bone = _large_components(dense, 26, voxel_mm3, config.bone_min_volume_mm3)
    if bone.any():
        # open the bone (radius bone_opening_mm): a dense nodule lying on or near the bone
        # merges with it on the coarse grid, but a ball of that radius does not fit in it;
        # thin plates near the skin (nasal bones, sinus walls) drop out too and are put back
        # below when they are large pieces
        r_open = max(config.bone_opening_mm, 1.5 * max(spacing[1:]))
        core = erode(bone, spacing, r_open)
        opened = dilate(core, spacing, r_open) & bone if core.any() else core
        if opened.any():
            opened = _large_components(opened, 26, voxel_mm3, config.bone_min_volume_mm3)
        # what the opening removed stays bone when it is a large piece (zygomatic arch, nasal
        # bones, mandibular edges) rather than a nodule-sized blob, and when it is deep. The
        # removed shell right on the opened bone (surface roughness) is judged apart from what
        # stands off it, so a nodule sitting on the bone is not glued to the bone's rind.
        removed = bone & ~opened
        if removed.any():
            rind = np.zeros_like(removed)
            if opened.any():
                rind = removed & dilate(opened, spacing, 1.01 * max(spacing[1:]))
            standing = removed & ~rind
            big_pieces = _large_components(standing, 6, voxel_mm3, config.bone_piece_min_volume_mm3)
            opened |= big_pieces
            # the rind stays bone except where it carries a small standing piece (the base of
            # a nodule): there it is left to the candidates' distinct-peak test
            small = standing & ~big_pieces
            if small.any():
                rind &= ~dilate(small, spacing, 1.01 * max(spacing[1:]))
            # a rind voxel brighter than its in-plane neighbours is the summit of a blob on
            # the bone (a nodule one or two coarse voxels wide), not the bone's surface
            opened |= rind & ~_inplane_summits(chu, rind)
    depth = distance_mm(sealed, spacing)
    depth[~sealed] = 0.0
    if bone.any():
        bone = opened | (bone & (depth > config.max_depth_mm + 2.0 * max(spacing)))
    bone_dist = distance_mm(~bone, spacing) if bone.any() else np.full(chu.shape, 1e3, np.float32)
    return {
        "body": body,
        "sealed": sealed,
        "depth_mm": depth,
        "bone": bone,
        "bone_dist_mm": bone_dist,
        "cavity_air": cavity_air,
    }


def estimate_noise(
    hu: NDArray[Any],
    layers: TissueLayers,
    *,
    smooth_sigma_px: tuple[float, float],
    n_slices: int = 12,
) -> tuple[float, float]:
    """Noise SD of uniform fat, raw and after the in-plane matched filter.

    Fat is taken where the coarse mean lies in [-140, -60] HU and all 26 coarse neighbours are
    fat too, on up to ``n_slices`` evenly spaced slices.

    Parameters
    ----------
    hu : ndarray
        Fine HU volume.
    layers : TissueLayers
    smooth_sigma_px : tuple of float
        In-plane Gaussian sigma (rows, cols) of the matched filter, in pixels.
    n_slices : int

    Returns
    -------
    tuple of float
        ``(sigma_hu, sigma_smoothed_hu)``; fallbacks of 20/8 HU when no fat is found.
    """
    fat = (layers.hu > -140) & (layers.hu < -60) & layers.sealed
    fat = erode_plane_box(fat)
    ks = np.flatnonzero(fat.any(axis=(1, 2)))
    if ks.size == 0:
        return 20.0, 8.0
    ks = ks[np.linspace(0, ks.size - 1, min(n_slices, ks.size)).astype(int)]
    f = layers.factors
    raw: list[NDArray[Any]] = []
    smooth: list[NDArray[Any]] = []
    for kc in ks:
        k = int(kc * f[0] + f[0] // 2)
        k = min(k, hu.shape[0] - 1)
        sl = hu[k].astype(np.float32)
        up = np.repeat(np.repeat(fat[kc], f[1], axis=0), f[2], axis=1)
        m = np.zeros(sl.shape, dtype=bool)
        m[: up.shape[0], : up.shape[1]] = up
        if m.sum() < 50:
            continue
        # filter only the fat's bounding box plus the filters' reach (same values on the fat)
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        reach = 3 + int(np.ceil(4.0 * max(smooth_sigma_px))) + 1
        box = (
            slice(max(int(rows[0]) - reach, 0), int(rows[-1]) + 1 + reach),
            slice(max(int(cols[0]) - reach, 0), int(cols[-1]) + 1 + reach),
        )
        sl, m = sl[box], m[box]
        local = ndimage.uniform_filter(sl, size=7)
        raw.append((sl - local)[m])
        sm = ndimage.gaussian_filter(sl, smooth_sigma_px)
        smooth.append((sm - ndimage.uniform_filter(sm, size=7))[m])
    if not raw:
        return 20.0, 8.0

    def robust_sd(x: NDArray[Any]) -> float:
        return float(1.4826 * np.median(np.abs(x - np.median(x))))

    # the 7x7 local mean removes a little of the noise variance: correct by sqrt(49/48)
    corr = float(np.sqrt(49 / 48))
    s_raw = max(robust_sd(np.concatenate(raw)) * corr, 1.0)
    s_sm = max(robust_sd(np.concatenate(smooth)) * corr, 0.5)
    return s_raw, s_sm
