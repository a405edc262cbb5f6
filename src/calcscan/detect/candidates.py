"""Candidate voxels >= threshold in the dermal/hypodermal layer, grouped and measured.

Bone is peeled off before grouping, so bone partial volume never glues onto a nodule. Each
component is measured in physical units inside a small box: volume, equivalent diameter,
peak/mean HU, HU-weighted LPS centroid, fine depth below the skin, principal extents and
elongation, distance to bone, the share of voxels in the outermost skin voxel layer, contact
with outside air or cavity air, and the matched-filter contrast-to-noise (conspicuity).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cc3d
import edt
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.config import DetectConfig
from calcscan.detect.tissue import TissueLayers
from calcscan.scan import CTScan

__all__ = ["Candidate", "find_candidates", "matched_filter_sigma_px", "outside_components"]

log = logging.getLogger(__name__)

_BOX_PAD_MM = 3.0
_MATCHED_SIGMA_MM = 0.5


def matched_filter_sigma_px(spacing_mm: tuple[float, float, float]) -> tuple[float, float]:
    """In-plane Gaussian sigma (pixels) of the blob filter matched to a CT point spread."""
    return (
        max(0.7, _MATCHED_SIGMA_MM / spacing_mm[1]),
        max(0.7, _MATCHED_SIGMA_MM / spacing_mm[2]),
    )


@dataclass
class Candidate:
    """One connected component of candidate voxels and its measures.

    ``measures`` holds the physical measures (``volume_mm3``, ``diameter_mm``, ``peak_hu``,
    ``mean_hu``, ``depth_mm``, ``extent_mm``, ``elongation``, ``bone_dist_mm``,
    ``rim_fraction``, ``protrusion_fraction``, ``touches_outside_air``,
    ``touches_cavity_air``, ``conspicuity``, ``center_lucency``, ``solidity``, ``n_voxels``,
    ``n_slices``); ``region``/``side``/``morphology``/``reason`` are filled by later stages.
    """

    label: int
    voxels: NDArray[np.intp]
    centroid_index: NDArray[np.float64]
    centroid_lps_mm: NDArray[np.float64]
    measures: dict[str, Any] = field(default_factory=dict)
    region: str = "other"
    side: str = "midline"
    morphology: str = "punctate"
    reason: str | None = None
    status: str = "candidate"


def _layer_mask(layers: TissueLayers, config: DetectConfig) -> NDArray[np.bool_]:
    peel = config.bone_margin_mm + 0.5 * max(layers.spacing_mm[1:])
    return (
        layers.sealed
        & (layers.depth_mm <= config.max_depth_mm + 0.5 * max(layers.spacing_mm))
        & (layers.bone_dist_mm > peel)
    )


def outside_components(hu: NDArray[Any], layers: TissueLayers, config: DetectConfig) -> int:
    """Number of bright objects outside the skin (earrings, head holder, table).

    Counted on the coarse grid from the block maxima of ``hu >= threshold`` outside the body.
    """
    f = layers.factors
    s, r, c = layers.hu.shape
    bright = (hu[: s * f[0], : r * f[1], : c * f[2]] >= config.threshold_hu).reshape(
        s, f[0], r, f[1], c, f[2]
    )
    coarse = bright.any(axis=(1, 3, 5)) & ~layers.sealed
    if not coarse.any():
        return 0
    _, n = cc3d.connected_components(coarse.astype(np.uint8), connectivity=26, return_N=True)
    return int(n)


def find_candidates(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    *,
    sigma_smooth_hu: float,
) -> list[Candidate]:
    """Group candidate voxels into components and measure each one.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers
    config : DetectConfig
    sigma_smooth_hu : float
        Noise SD of the matched-filtered image (from :func:`estimate_noise`).

    Returns
    -------
    list of Candidate
    """
    hu = scan.hu
    layer = _layer_mask(layers, config)
    # threshold only inside the layer: block view of the fine grid against the coarse layer
    f = layers.factors
    s, r, c = layer.shape
    fine = hu[: s * f[0], : r * f[1], : c * f[2]].reshape(s, f[0], r, f[1], c, f[2])
    ks, rs, cs = np.nonzero(layer)
    if ks.size == 0:
        return []
    sel = fine[ks, :, rs, :, cs, :] >= config.threshold_hu  # (n_cells, f0, f1, f2)
    cell, a, b, d = np.nonzero(sel)
    if cell.size == 0:
        return []
    idx = np.stack([ks[cell] * f[0] + a, rs[cell] * f[1] + b, cs[cell] * f[2] + d], axis=1).astype(
        np.intp
    )
    lo = idx.min(axis=0)
    hi = idx.max(axis=0) + 1
    sub = np.zeros(tuple(int(v) for v in hi - lo), dtype=np.uint8)
    sub[tuple((idx - lo).T)] = 1
    labels = cc3d.connected_components(sub, connectivity=config.connectivity)  # type: ignore[call-overload]
    objects = ndimage.find_objects(labels)
    spacing = scan.spacing_mm
    voxel_mm3 = float(abs(np.linalg.det(scan.affine_lps[:3, :3])))
    sig_px = matched_filter_sigma_px(spacing)
    out: list[Candidate] = []
    for lab, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        local = np.argwhere(labels[sl] == lab) + np.array([s.start for s in sl]) + lo
        cand = _measure(
            scan, layers, config, lab, local, spacing, voxel_mm3, sig_px, sigma_smooth_hu
        )
        out.append(cand)
    return out


def _box(
    vox: NDArray[np.intp], shape: tuple[int, ...], spacing: tuple[float, float, float]
) -> tuple[slice, ...]:
    pad = [max(2, int(np.ceil(_BOX_PAD_MM / s))) for s in spacing]
    pad[0] = max(1, int(np.ceil(_BOX_PAD_MM / spacing[0])))
    lo = np.maximum(vox.min(axis=0) - pad, 0)
    hi = np.minimum(vox.max(axis=0) + 1 + pad, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def _measure(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    label: int,
    vox: NDArray[np.intp],
    spacing: tuple[float, float, float],
    voxel_mm3: float,
    sig_px: tuple[float, float],
    sigma_smooth_hu: float,
) -> Candidate:
    hu = scan.hu
    box = _box(vox, hu.shape, spacing)
    offset = np.array([s.start for s in box])
    hb = np.asarray(hu[box], dtype=np.float32)
    lv = vox - offset
    cmask = np.zeros(hb.shape, dtype=bool)
    cmask[tuple(lv.T)] = True
    values = hb[cmask]
    peak = float(values.max())
    # fine body mask in the box: tissue, plus anything deep inside the sealed surface
    deep = layers.sample("depth_mm", np.argwhere(np.ones(hb.shape, bool)) + offset).reshape(
        hb.shape
    )
    sealed_box = layers.sample("sealed", np.argwhere(np.ones(hb.shape, bool)) + offset).reshape(
        hb.shape
    )
    air = hb <= config.body_threshold_hu
    inside = deep > 1.5 * max(layers.spacing_mm)
    body = ~air | inside
    outside_air = air & ~inside
    cavity_air = air & inside & sealed_box
    fine_depth = edt.edt(body.astype(np.uint8), anisotropy=spacing, black_border=False)
    # outermost in-plane voxel layer of the skin (thick slices make every voxel near an
    # oblique surface touch air along the slice axis, so only in-plane neighbours count)
    plane4 = np.zeros((3, 3, 3), dtype=bool)
    plane4[1] = ndimage.generate_binary_structure(2, 1)
    eroded = ndimage.binary_erosion(body, structure=plane4, border_value=1)
    outer = body & ~eroded
    grown = ndimage.binary_dilation(cmask, structure=np.ones((3, 3, 3), bool))
    # matched filter (in-plane), air clipped to fat so the skin edge does not dominate
    clipped = np.maximum(hb, -100.0)
    smooth = ndimage.gaussian_filter(clipped, (0.0, sig_px[0], sig_px[1]))
    # background: the shell around the candidate, without other bright structures (bone)
    ring = ndimage.binary_dilation(grown, iterations=2) & ~grown & body & (hb < config.threshold_hu)
    if not ring.any():
        ring = body & ~grown & (hb < config.threshold_hu)
    bg = float(np.median(smooth[ring])) if ring.any() else float(config.threshold_hu)
    sm_peak = float(smooth[cmask].max())
    conspicuity = (sm_peak - bg) / max(sigma_smooth_hu, 1e-3)
    # geometry in LPS
    lps = scan.index_to_lps(vox.astype(np.float64))
    w = np.clip(values - bg, 1.0, None).astype(np.float64)
    centroid_lps = (lps * w[:, None]).sum(axis=0) / w.sum()
    centroid_idx = (vox * w[:, None]).sum(axis=0) / w.sum()
    n = len(vox)
    if n >= 2:
        cov = np.cov((lps - lps.mean(axis=0)).T)
        ev = np.sort(np.clip(np.linalg.eigvalsh(cov), 0.0, None))[::-1]
        vox_var = np.array(spacing) ** 2 / 12.0
        ev = ev + float(np.mean(vox_var))
        elongation = float(np.sqrt(ev[0] / ev[-1]))
        axis = np.linalg.eigh(cov)[1][:, -1]
        proj = (lps - lps.mean(axis=0)) @ axis
        extent = float(proj.max() - proj.min())
    else:
        elongation, extent = 1.0, 0.0
    volume = n * voxel_mm3
    diameter = float((6.0 * volume / np.pi) ** (1.0 / 3.0))
    ci = np.clip(np.round(centroid_idx - offset).astype(int), 0, np.array(hb.shape) - 1)
    depth_mm = float(fine_depth[tuple(ci)]) if body[tuple(ci)] else 0.0
    if not np.isfinite(depth_mm) or depth_mm > _BOX_PAD_MM:
        # the skin surface is outside the box: the coarse depth is good enough there
        depth_mm = float(layers.sample("depth_mm", np.round(centroid_idx)[None, :].astype(int))[0])
    depth_mm = max(depth_mm - 0.5 * min(spacing[1], spacing[2]), 0.0)
    # attached to bone: connected to the peeled bone through voxels above the saddle level
    # (most of the way from the background to the peak), so a separate blob next to bone is
    # not taken for bone partial volume
    base = min(bg, 60.0)
    saddle = max(config.threshold_hu, base + config.bone_saddle_fraction * (peak - base))
    bright = ndimage.label(hb >= saddle, structure=np.ones((3, 3, 3), bool))[0]
    reach = np.unique(bright[cmask])
    reach = reach[reach > 0]
    attached = np.isin(bright, reach)
    bone_box = layers.sample("bone_dist_mm", np.argwhere(attached) + offset) <= 0.0
    # bone is large: its bright region runs out of the box (>= 3 mm beyond the candidate
    # in-plane); a nodule next to bone is contained, even where the coarse grid merges them
    leaves_box = bool(attached[:, [0, -1], :].any() or attached[:, :, [0, -1]].any())
    # central lucency: filled 2-D footprint minus the component on the central slice
    kc = int(np.clip(round(float(centroid_idx[0])) - offset[0], 0, hb.shape[0] - 1))
    plane = cmask[kc]
    filled = ndimage.binary_fill_holes(plane)
    hole = filled & ~plane
    lucency = float(hole.sum()) / max(float(filled.sum()), 1.0)
    hull_ratio = _solidity(lv, spacing)
    c_val = float(ndimage.map_coordinates(hb, (centroid_idx - offset)[:, None], order=1)[0])
    center_ratio = (c_val - bg) / max(peak - bg, 1.0)
    m: dict[str, Any] = {
        "n_voxels": n,
        "n_slices": len(np.unique(vox[:, 0])),
        "volume_mm3": volume,
        "diameter_mm": diameter,
        "peak_hu": peak,
        "mean_hu": float(values.mean()),
        "depth_mm": depth_mm,
        "extent_mm": extent,
        "elongation": elongation,
        "bone_dist_mm": float(layers.sample("bone_dist_mm", vox).min()),
        "attached_to_bone": bool(bone_box.any()) and leaves_box,
        "rim_fraction": float(outer[cmask].mean()),
        "protrusion_fraction": float(layers.sample("protrusion", vox).mean()),
        "touches_outside_air": bool((grown & outside_air).any()),
        "touches_cavity_air": bool((grown & cavity_air).any()),
        "background_hu": bg,
        "matched_peak_hu": sm_peak,
        "conspicuity": float(conspicuity),
        "center_lucency": lucency,
        "center_ratio": float(center_ratio),
        "solidity": hull_ratio,
    }
    return Candidate(
        label=label,
        voxels=vox,
        centroid_index=centroid_idx,
        centroid_lps_mm=centroid_lps,
        measures=m,
    )


def _solidity(local_vox: NDArray[np.intp], spacing: tuple[float, float, float]) -> float:
    """Volume over convex-hull volume (1 for small or flat components)."""
    if len(local_vox) < 20:
        return 1.0
    try:
        from scipy.spatial import ConvexHull, QhullError

        pts = local_vox.astype(np.float64) * np.asarray(spacing)
        hull = ConvexHull(pts)
        vol = len(local_vox) * float(np.prod(spacing))
        # the hull of voxel centres misses half a voxel all round: grow it by that shell
        grown = hull.volume + 0.5 * hull.area * float(np.mean(spacing))
        return float(min(1.0, vol / max(grown, 1e-9)))
    except (QhullError, ValueError):
        return 1.0
