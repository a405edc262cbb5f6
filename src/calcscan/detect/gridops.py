"""Binary dilation and erosion by small boxes and crosses, as ORs/ANDs of shifted slices.

The candidates are measured in many small boxes (a few thousand voxels each), where a call of
``scipy.ndimage.binary_dilation`` costs a few hundred microseconds of set-up and generic
neighbourhood loops. The structuring elements met there (the 3x3x3 cube, the 6-neighbour
cross, an in-plane 3x3 square or 4-neighbour cross) are a handful of shifted slices; these
functions give exactly the results of the ``scipy.ndimage`` calls named in their docstrings
(the tests compare them on random masks), several times faster on such boxes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "dilate_cross",
    "dilate_cube",
    "dilate_plane_box",
    "erode_plane_box",
    "erode_plane_cross",
]

BoolArray = NDArray[np.bool_]


def _or_along(mask: BoolArray, axis: int) -> BoolArray:
    """``mask`` OR its shifts by one voxel both ways along ``axis`` (outside: False)."""
    out = np.array(mask, dtype=bool, copy=True)
    if mask.shape[axis] < 2:
        return out
    lo = [slice(None)] * mask.ndim
    hi = [slice(None)] * mask.ndim
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    out[tuple(lo)] |= mask[tuple(hi)]
    out[tuple(hi)] |= mask[tuple(lo)]
    return out


def _and_along(mask: BoolArray, axis: int, border: bool) -> BoolArray:
    """``mask`` AND its shifts by one voxel both ways along ``axis`` (outside: ``border``)."""
    out = np.array(mask, dtype=bool, copy=True)
    lo = [slice(None)] * mask.ndim
    hi = [slice(None)] * mask.ndim
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    if mask.shape[axis] >= 2:
        out[tuple(lo)] &= mask[tuple(hi)]
        out[tuple(hi)] &= mask[tuple(lo)]
    if not border:
        first = [slice(None)] * mask.ndim
        last = [slice(None)] * mask.ndim
        first[axis], last[axis] = slice(0, 1), slice(-1, None)
        out[tuple(first)] = False
        out[tuple(last)] = False
    return out


def dilate_cube(mask: BoolArray) -> BoolArray:
    """``ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), bool))`` (26 neighbours).

    The cube is separable: one OR of shifted slices along each axis in turn.
    """
    out = np.asarray(mask, dtype=bool)
    for axis in range(out.ndim):
        out = _or_along(out, axis)
    return out


def dilate_plane_box(mask: BoolArray, iterations: int = 1) -> BoolArray:
    """``ndimage.binary_dilation(mask, structure=plane, iterations=iterations)`` with ``plane``
    the in-plane 3x3 square (``plane[1] = True`` in a 3x3x3 array)."""
    out = np.asarray(mask, dtype=bool)
    for _ in range(iterations):
        out = _or_along(_or_along(out, 1), 2)
    return out


def dilate_cross(mask: BoolArray, iterations: int = 1) -> BoolArray:
    """``ndimage.binary_dilation(mask, iterations=iterations)`` (6-neighbour cross)."""
    out = np.asarray(mask, dtype=bool)
    for _ in range(iterations):
        out = _or_along(out, 0) | _or_along(out, 1) | _or_along(out, 2)
    return out


def erode_plane_box(mask: BoolArray) -> BoolArray:
    """``ndimage.binary_erosion(mask, structure=np.ones((1, 3, 3), bool))`` (in-plane 3x3
    square; the array's edge counts as background)."""
    return _and_along(_and_along(np.asarray(mask, dtype=bool), 1, False), 2, False)


def erode_plane_cross(mask: BoolArray) -> BoolArray:
    """``ndimage.binary_erosion(mask, structure=plane4, border_value=1)`` with ``plane4`` the
    in-plane 4-neighbour cross (the array's edge counts as foreground)."""
    m = np.asarray(mask, dtype=bool)
    return _and_along(m, 1, True) & _and_along(m, 2, True)
