"""Dilation and erosion by Euclidean balls on the coarse grid, and the distance transform.

A ball of a few voxels (anisotropic spacing) is a union of shifted copies of the mask. The
union is taken in two stages: every in-plane disc of the ball is built once from column
dilations of the mask (one per half-width), then the discs are ORed at their slice offsets.
A 4 mm ball on a 1.5 x 1.44 x 1.44 mm grid is 80 shifted copies one by one, or 21 array
operations in stages (about 4x faster, measured on the InVesalius head); the union, and so
the result, is the same. Very small balls keep the plain shifted copies, which are then fewer.
"""

from __future__ import annotations

import edt
import numpy as np
from numpy.typing import NDArray

from calcscan.threads import in_runs, kernel_threads

__all__ = ["ball_offsets", "dilate", "distance_mm", "erode"]

BoolArray = NDArray[np.bool_]
Spacing = tuple[float, float, float]

#: Above this many ball offsets one distance transform is cheaper than shifted ORs (measured:
#: a shifted OR costs 1/90-1/150 of a distance transform of the same grid).
_MAX_SHIFTS = 100


def distance_mm(mask: BoolArray, spacing: Spacing) -> NDArray[np.float32]:
    """Distance (mm) from each True voxel to the nearest False voxel (border not background).

    Parameters
    ----------
    mask : ndarray of bool, shape (n_slices, n_rows, n_cols)
    spacing : tuple of float
        Voxel spacing (slice, row, col) in mm.

    Returns
    -------
    ndarray of float32
    """
    return np.asarray(
        edt.edt(
            np.ascontiguousarray(mask, dtype=np.uint8),
            anisotropy=spacing,
            black_border=False,
            parallel=kernel_threads(),
        ),
        dtype=np.float32,
    )


def ball_offsets(spacing: Spacing, radius_mm: float) -> NDArray[np.intp]:
    """Grid offsets (slice, row, col) within ``radius_mm`` of the origin, origin excluded."""
    sp = np.asarray(spacing, dtype=np.float64)
    n = np.floor(radius_mm / sp).astype(int)
    grid = np.mgrid[-n[0] : n[0] + 1, -n[1] : n[1] + 1, -n[2] : n[2] + 1].reshape(3, -1).T
    d = np.sqrt(((grid * sp) ** 2).sum(axis=1))
    return np.asarray(grid[(d <= radius_mm) & grid.any(axis=1)], dtype=np.intp)


def dilate(mask: BoolArray, spacing: Spacing, radius_mm: float) -> BoolArray:
    """Voxels within ``radius_mm`` (Euclidean, anisotropic) of a True voxel of ``mask``.

    The same set as ``distance_mm(~mask) <= radius_mm`` with the array border not counted as
    background. Balls of up to ``_MAX_SHIFTS`` offsets are unions of shifted copies (several
    times faster than a distance transform or ``scipy.ndimage.binary_dilation``); larger balls
    (e.g. 4 mm on a 1 mm grid) use the distance transform.

    Parameters
    ----------
    mask : ndarray of bool, shape (n_slices, n_rows, n_cols)
    spacing : tuple of float
        Voxel spacing (slice, row, col) in mm.
    radius_mm : float

    Returns
    -------
    ndarray of bool
    """
    offsets = ball_offsets(spacing, radius_mm)
    if len(offsets) > _MAX_SHIFTS:
        return np.asarray(distance_mm(~mask, spacing) <= radius_mm)
    # each thread writes its own run of slices (numpy releases the GIL in these loops)
    n_threads = min(kernel_threads(), max(1, mask.shape[0] // 16))
    plan = _Discs(offsets)
    if plan.n_ors >= len(offsets):
        out = np.array(mask, dtype=bool, copy=True)
        in_runs(lambda a, b: _or_shifted(out, mask, offsets, a, b), mask.shape[0], n_threads)
        return out
    return plan.apply(mask, n_threads)


def erode(mask: BoolArray, spacing: Spacing, radius_mm: float) -> BoolArray:
    """Voxels of ``mask`` with no False voxel within ``radius_mm`` (``distance_mm(mask) >
    radius_mm``, border not background)."""
    return np.asarray(mask & ~dilate(~mask, spacing, radius_mm))


def _pair(offset: int, n: int) -> tuple[slice, slice]:
    """``(dst, src)`` along one axis of length ``n`` for ``out[dst] |= x[src]``: ``x`` moved
    by ``offset`` (what moves past the edge is dropped)."""
    return slice(max(offset, 0), n - max(-offset, 0)), slice(max(-offset, 0), n - max(offset, 0))


def _or_shifted(
    out: BoolArray, mask: BoolArray, offsets: NDArray[np.intp], first: int, last: int
) -> None:
    """``out[k] |= mask[k - offset]`` for every offset, on the slices ``first <= k < last``."""
    shape = mask.shape
    for off in offsets:
        dst = [slice(max(o, 0), n - max(-o, 0)) for o, n in zip(off, shape, strict=True)]
        a, b = max(dst[0].start, first), min(dst[0].stop, last)
        if a >= b:
            continue
        dst[0] = slice(a, b)
        src = tuple(slice(d.start - o, d.stop - o) for d, o in zip(dst, off, strict=True))
        out[tuple(dst)] |= mask[src]


class _Discs:
    """A ball (its offsets, origin added) as in-plane discs stacked at slice offsets.

    For each (slice, row) offset the ball covers a run of columns ``[-w, w]``; a disc is the
    list of ``(row offset, w)`` of one slice offset, and slice offsets with the same disc
    (``+ds`` and ``-ds``) share it.
    """

    def __init__(self, offsets: NDArray[np.intp]) -> None:
        width: dict[tuple[int, int], int] = {(0, 0): 0}
        for ds, dr, dc in offsets.tolist():
            width[(ds, dr)] = max(width.get((ds, dr), 0), abs(dc))
        rows: dict[int, list[tuple[int, int]]] = {}
        for (ds, dr), w in width.items():
            rows.setdefault(ds, []).append((dr, w))
        self.discs: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for ds, disc in sorted(rows.items()):
            self.discs.setdefault(tuple(sorted(disc)), []).append(ds)
        self.w_max = max(width.values())
        # column runs (2 ORs and a copy per half-width), rows of each disc, discs per slice
        self.n_ors = 3 * self.w_max + sum(len(d) + 1 for d in self.discs) + len(rows)

    def apply(self, mask: BoolArray, n_threads: int) -> BoolArray:
        n_r, n_c = mask.shape[1], mask.shape[2]
        # runs[w]: mask dilated along the columns by w voxels each way
        runs = [mask] + [np.empty_like(mask) for _ in range(self.w_max)]
        planes = {disc: np.zeros_like(mask) for disc in self.discs}

        def in_plane(first: int, last: int) -> None:
            for w in range(1, self.w_max + 1):
                cur = runs[w][first:last]
                np.copyto(cur, runs[w - 1][first:last])
                for off in (w, -w):
                    dst, src = _pair(off, n_c)
                    cur[:, :, dst] |= mask[first:last, :, src]
            for disc, plane in planes.items():
                part = plane[first:last]
                for dr, w in disc:
                    dst, src = _pair(dr, n_r)
                    part[:, dst] |= runs[w][first:last, src]

        out = np.zeros_like(mask)

        def across(first: int, last: int) -> None:
            for disc, slice_offsets in self.discs.items():
                for ds in slice_offsets:
                    dst, _ = _pair(ds, mask.shape[0])
                    a, b = max(dst.start, first), min(dst.stop, last)
                    if a < b:
                        out[a:b] |= planes[disc][a - ds : b - ds]

        in_runs(in_plane, mask.shape[0], n_threads)
        in_runs(across, mask.shape[0], n_threads)
        return out
