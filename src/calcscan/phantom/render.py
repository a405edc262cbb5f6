"""Partial-volume rendering of nodules and their insertion into a CT volume.

A nodule is rendered by supersampling every voxel of a small box around it (``supersample``
points per axis), which gives the fraction of each voxel the nodule occupies and the mean
material density there. The nodule replaces the tissue by that fraction; the change is then
blurred with the scanner's in-plane point-spread function and slice profile (Gaussians) and
added to the image, so the real tissue, its noise and the scanner's blur stay as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.phantom.truth import NoduleSpec, TruthNodule
from calcscan.scan import CTScan

__all__ = ["MARROW_HU", "RenderedNodule", "default_blur_fwhm_mm", "insert_nodules", "render_nodule"]

log = logging.getLogger(__name__)

#: Density of the fatty marrow inside a ring (ossified) nodule.
MARROW_HU = -40.0
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass
class RenderedNodule:
    """Occupancy of one nodule on a box of the scan grid.

    Attributes
    ----------
    box : tuple of slice
        (slice, row, col) slices of the box in the volume.
    fraction : ndarray
        Fraction of each voxel occupied by the nodule (0..1).
    material_hu : ndarray
        Mean density of the nodule's material in each voxel (valid where fraction > 0).
    centroid_lps_mm : ndarray, shape (3,)
    volume_mm3 : float
    """

    box: tuple[slice, slice, slice]
    fraction: NDArray[np.float64]
    material_hu: NDArray[np.float64]
    centroid_lps_mm: NDArray[np.float64]
    volume_mm3: float


def default_blur_fwhm_mm(scan: CTScan) -> tuple[float, float]:
    """Default (in-plane, slice) FWHM of the scanner's blur estimated from the geometry.

    In-plane: 1.5 pixels but at least 0.6 mm (typical head kernels). Slice profile: the slice
    thickness when known, else the slice step.
    """
    _, dr, dc = scan.spacing_mm
    inplane = max(0.6, 1.5 * 0.5 * (dr + dc))
    thick = scan.slice_thickness_mm or scan.spacing_mm[0]
    return float(inplane), float(thick)


def _residual_sigma_vox(fwhm_mm: float, spacing_mm: float) -> float:
    """Gaussian sigma (voxels) that, after the voxel's own box average, gives ``fwhm_mm``."""
    var = (fwhm_mm * _FWHM_TO_SIGMA) ** 2 - spacing_mm**2 / 12.0
    return float(np.sqrt(max(var, 0.0)) / spacing_mm)


def _shape_points(
    spec: NoduleSpec, rng: np.random.Generator
) -> tuple[list[tuple[NDArray[np.float64], NDArray[np.float64]]], float]:
    """Blobs making up the nodule: (center offset mm, 3x3 inverse-axes matrix); outer radius."""
    r = spec.diameter_mm / 2.0
    if spec.shape == "sphere":
        return [(np.zeros(3), np.eye(3) / r)], r
    if spec.shape in ("ellipsoid", "linear"):
        if spec.shape == "linear":
            aspect = rng.uniform(4.0, 6.0)
            axes = np.array([aspect, 1.0, 1.0])
        else:
            ratio = rng.uniform(1.4, 2.0)
            axes = np.array([ratio, 1.0, 1.0 / np.sqrt(ratio)])
        axes = r * axes / np.cbrt(np.prod(axes))  # same volume as the sphere
        m = rng.normal(size=(3, 3))
        if spec.shape == "linear":  # long axis close to the axial plane (seen as a line)
            th = rng.uniform(0.0, 2.0 * np.pi)
            m[:, 0] = (np.cos(th), np.sin(th), rng.uniform(-0.3, 0.3))
        q, _ = np.linalg.qr(m)
        inv = (q / axes[None, :]).T  # rows: unit axes / semi-axis
        return [(np.zeros(3), inv)], float(axes.max())
    # flocculent: a cluster of small lobules inside the nominal sphere
    n = int(rng.integers(4, 8))
    blobs = []
    for _ in range(n):
        rb = r * rng.uniform(0.3, 0.45)
        d = rng.normal(size=3)
        off = d / np.linalg.norm(d) * rng.uniform(0.0, r - rb)
        blobs.append((off, np.eye(3) / rb))
    return blobs, r


def render_nodule(
    scan: CTScan, spec: NoduleSpec, rng: np.random.Generator, *, supersample: int = 5
) -> RenderedNodule | None:
    """Voxel occupancy and material density of one nodule on the scan's grid.

    Parameters
    ----------
    scan : CTScan
        Only its geometry is used (tilt and irregular slices included).
    spec : NoduleSpec
    rng : numpy.random.Generator
        Draws the random shape of ellipsoids/flocculent nodules.
    supersample : int
        Sub-samples per voxel and axis.

    Returns
    -------
    RenderedNodule or None
        None when the nodule lies outside the volume.
    """
    blobs, r_out = _shape_points(spec, rng)
    center = np.asarray(spec.center_lps_mm, dtype=np.float64)
    c_idx = scan.lps_to_index(center)
    spacing = np.asarray(scan.spacing_mm)
    half = np.ceil((r_out + 0.5 * spacing.max()) / spacing) + 1
    lo = np.floor(c_idx - half).astype(int)
    hi = np.ceil(c_idx + half).astype(int) + 1
    shape = np.asarray(scan.shape)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, shape)
    if np.any(hi <= lo):
        return None
    n = int(supersample)
    sub = (np.arange(n) + 0.5) / n - 0.5
    axes = [np.arange(lo[a], hi[a])[:, None] + sub[None, :] for a in range(3)]
    ks, rs, cs = (a.reshape(-1) for a in axes)
    grid = np.stack(np.meshgrid(ks, rs, cs, indexing="ij"), axis=-1)
    pts = scan.index_to_lps(grid) - center  # (K*n, R*n, C*n, 3)
    inside = np.zeros(pts.shape[:3], dtype=bool)
    for off, inv in blobs:
        u = (pts - off) @ inv.T
        inside |= np.einsum("...i,...i->...", u, u) <= 1.0
    material = np.where(inside, spec.density_hu, 0.0)
    if spec.ring:
        u = pts / (0.5 * spec.diameter_mm / 2.0)
        core = inside & (np.einsum("...i,...i->...", u, u) <= 1.0)
        material = np.where(core, MARROW_HU, material)
    dims = tuple(int(hi[a] - lo[a]) for a in range(3))
    blocks = (dims[0], n, dims[1], n, dims[2], n)
    frac = inside.reshape(blocks).mean(axis=(1, 3, 5))
    msum = material.reshape(blocks).sum(axis=(1, 3, 5)) / n**3
    mat = np.divide(msum, frac, out=np.zeros_like(msum), where=frac > 0)
    vox_mm3 = float(abs(np.linalg.det(scan.affine_lps[:3, :3])))
    total = float(inside.sum())
    if total == 0:
        return None
    cen = (pts[inside].sum(axis=0) / total) + center
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    return RenderedNodule(
        box=box,
        fraction=frac,
        material_hu=mat,
        centroid_lps_mm=cen,
        volume_mm3=float(frac.sum() * vox_mm3),
    )


def _blur(delta: NDArray[np.float64], sigma_vox: tuple[float, float, float]) -> NDArray[np.float64]:
    if max(sigma_vox) <= 0:
        return delta
    return np.asarray(
        ndimage.gaussian_filter(delta, sigma=sigma_vox, mode="constant", truncate=3.0)
    )


def _padded_box(
    box: tuple[slice, slice, slice], pad: Sequence[int], shape: tuple[int, int, int]
) -> tuple[slice, slice, slice]:
    out = [
        slice(max(b.start - p, 0), min(b.stop + p, s))
        for b, p, s in zip(box, pad, shape, strict=True)
    ]
    return (out[0], out[1], out[2])


def apply_rendered(
    hu: NDArray[np.float32],
    rendered: RenderedNodule,
    sigma_vox: tuple[float, float, float],
) -> tuple[NDArray[np.float64], tuple[slice, slice, slice]]:
    """Blend one rendered nodule into ``hu`` in place; return its blurred occupancy and box.

    The nodule replaces the tissue by its volume fraction (``delta = f * (material - tissue)``),
    the change is blurred with ``sigma_vox`` (slice, row, col) and added to the image.
    """
    pad = [int(np.ceil(3.0 * s)) + 1 for s in sigma_vox]
    big = _padded_box(rendered.box, pad, hu.shape)
    inner = tuple(
        slice(b.start - g.start, b.stop - g.start) for b, g in zip(rendered.box, big, strict=True)
    )
    region = hu[big].astype(np.float64)
    delta = np.zeros_like(region)
    frac = np.zeros_like(region)
    tissue = region[inner]
    delta[inner] = rendered.fraction * (rendered.material_hu - tissue)
    frac[inner] = rendered.fraction
    delta = _blur(delta, sigma_vox)
    frac = _blur(frac, sigma_vox)
    hu[big] = (region + delta).astype(hu.dtype)
    return frac, big


def insert_nodules(
    scan: CTScan,
    specs: Sequence[NoduleSpec],
    *,
    seed: int = 0,
    in_plane_fwhm_mm: float | None = None,
    slice_fwhm_mm: float | None = None,
    supersample: int = 5,
) -> tuple[CTScan, list[TruthNodule]]:
    """Insert virtual nodules into a CT scan with partial volume and the scanner's blur.

    Parameters
    ----------
    scan : CTScan
        The base scan (left unchanged).
    specs : sequence of NoduleSpec
        Nodules to insert (LPS centres).
    seed : int
        Seed of the random shapes (ellipsoid orientation, flocculent lobules).
    in_plane_fwhm_mm, slice_fwhm_mm : float, optional
        Scanner resolution; defaults from :func:`default_blur_fwhm_mm`.
    supersample : int
        Sub-samples per voxel and axis for the partial-volume fractions.

    Returns
    -------
    scan : CTScan
        A copy with the nodules (float32 HU).
    truth : list of TruthNodule
        Ground truth in LPS with the rendered peak HU; nodules outside the volume are skipped
        with a warning.
    """
    d_inplane, d_slice = default_blur_fwhm_mm(scan)
    fw_in = d_inplane if in_plane_fwhm_mm is None else float(in_plane_fwhm_mm)
    fw_sl = d_slice if slice_fwhm_mm is None else float(slice_fwhm_mm)
    sk, sr, sc = scan.spacing_mm
    sigma = (
        _residual_sigma_vox(fw_sl, sk),
        _residual_sigma_vox(fw_in, sr),
        _residual_sigma_vox(fw_in, sc),
    )
    rng = np.random.default_rng(seed)
    hu = np.array(scan.hu, dtype=np.float32, copy=True)
    placed: list[tuple[NoduleSpec, RenderedNodule, NDArray[np.float64], tuple[slice, ...]]] = []
    for spec in specs:
        rendered = render_nodule(scan, spec, rng, supersample=supersample)
        if rendered is None:
            log.warning("nodule at %s lies outside the volume: skipped", spec.center_lps_mm)
            continue
        frac, big = apply_rendered(hu, rendered, sigma)
        placed.append((spec, rendered, frac, big))
    truth = [
        truth_from_render(i + 1, spec, rendered, frac, hu[big])
        for i, (spec, rendered, frac, big) in enumerate(placed)
    ]
    return scan.replace(hu=hu), truth


def truth_from_render(
    nid: int,
    spec: NoduleSpec,
    rendered: RenderedNodule,
    blurred_fraction: NDArray[np.float64],
    final_box: NDArray[np.float32],
    depth_mm: float | None = None,
) -> TruthNodule:
    """Ground truth of one nodule from its rendering and the final image in its box."""
    foot = blurred_fraction >= 0.5 * float(blurred_fraction.max())
    peak = float(final_box[foot].max()) if foot.any() else float("nan")
    return TruthNodule(
        id=nid,
        centroid_lps_mm=(
            float(rendered.centroid_lps_mm[0]),
            float(rendered.centroid_lps_mm[1]),
            float(rendered.centroid_lps_mm[2]),
        ),
        diameter_mm=float(spec.diameter_mm),
        volume_mm3=rendered.volume_mm3,
        density_hu=float(spec.density_hu),
        ring=bool(spec.ring),
        shape=spec.shape,
        rendered_peak_hu=peak,
        region=spec.region,
        side=spec.side,
        depth_mm=depth_mm,
    )
