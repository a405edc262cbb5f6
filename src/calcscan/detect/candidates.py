"""Candidate voxels >= threshold in the dermal/hypodermal layer, grouped and measured.

Nodules next to bone are told from the bone's own partial volume by their summit and the
valley around it, not by a fixed margin:

1. voxels >= threshold in the layer (coarse bone excluded) are grouped into components;
2. faint components (peak below the possible level) are noise spikes, and components without
   a summit of their own next to bone are the bone's slope: both are counted unmeasured;
3. components next to bone (or larger than a nodule) holding several summits of prominence
   >= 3 noise SD are split by a watershed; parts whose brightest voxel climbs into another
   part are merged back into it (shoulders);
4. a part is bone partial volume when its summit lies in bone, or when no valley of
   max(3 SD, 10 % of its contrast) separates it from brighter ground next to bone (in-plane on
   thick slices, in 3-D on thin ones; matched-filtered on fine pixels, raw on pixels >=
   0.8 mm); a valley of 30 % of the contrast in the raw image of its own slice still rescues a
   small nodule that the matched filter merges with the bone;
5. every other part is measured in physical units inside a small box: volume, equivalent
   diameter, peak/mean HU, HU-weighted LPS centroid, fine depth below the skin, principal
   extent and elongation (of the whole part and of its bright core above half its contrast),
   distance to bone, the share of voxels in the outermost skin voxel layer, contact with
   outside or cavity air, and the contrast-to-noise (conspicuity).

The climbs, the valley test and the watershed split are in :mod:`calcscan.detect.summits`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.detect.bumps import bump_seeds
from calcscan.detect.config import DetectConfig
from calcscan.detect.gridops import dilate_cross, dilate_cube, dilate_plane_box, erode_plane_cross
from calcscan.detect.summits import (
    _attached_to_bone,
    _brightest,
    _climb_many,
    _has_summit,
    _label_voxels,
    _merge_shoulders,
    _near_bone_mm,
    _planar,
    _split,
)
from calcscan.detect.tissue import TissueLayers
from calcscan.scan import CTScan
from calcscan.threads import Beside

__all__ = [
    "Candidate",
    "CandidateSet",
    "distance_to_background",
    "find_candidates",
    "matched_filter_sigma_px",
    "outside_components",
]

log = logging.getLogger(__name__)

_BOX_PAD_MM = 3.0
_MATCHED_SIGMA_MM = 0.5
_RAW_VALLEY_PIXEL_MM = 0.8
#: Width of a nodule's partial-volume skirt outside its half-contrast core (~ the scanner's PSF).
_SKIRT_MM = 1.0


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


@dataclass
class _Part(Candidate):
    """A part of a split component whose measures wait until it is known to stay on its own.

    Joining touching parts (:func:`_join_touching`) reads only the voxels, the peak and the
    reason; parts that get joined are measured again as one, so their own measures would be
    thrown away. ``finish`` returns the measured :class:`Candidate`.
    """

    finish: functools.partial[Candidate] = field(kw_only=True, repr=False)


def _finished(cand: Candidate) -> Candidate:
    """``cand`` measured (a waiting :class:`_Part` is finished)."""
    return cand.finish() if isinstance(cand, _Part) else cand


def _layer_mask(layers: TissueLayers, config: DetectConfig) -> NDArray[np.bool_]:
    peel = config.bone_margin_mm + 0.5 * max(layers.spacing_mm[1:])
    return (
        layers.sealed
        & (layers.depth_mm <= config.max_depth_mm + 0.5 * max(layers.spacing_mm))
        & (layers.bone_dist_mm > peel)
    )


def outside_components(hu: NDArray[Any], layers: TissueLayers, config: DetectConfig) -> int:
    """Number of bright objects outside the skin (earrings, head holder, table).

    Counted on the coarse grid from the block maxima of ``hu >= threshold`` outside the body
    (``hu`` is unused: the block maxima were taken with the block means).
    """
    coarse = (layers.hu_max >= config.threshold_hu) & ~layers.sealed
    if not coarse.any():
        return 0
    _, n = cc3d.connected_components(
        coarse.astype(np.uint8), connectivity=26, return_N=True, binary_image=True
    )
    return int(n)


@dataclass
class CandidateSet:
    """Measured candidates plus the components rejected before measuring.

    Attributes
    ----------
    candidates : list of Candidate
        Components (or parts of split components) measured in full.
    prefiltered : dict of str to int
        Components rejected from cheap whole-volume measures, by reason code: ``noise_spike``
        (peak below the possible level) and ``bone_partial_volume`` (no summit of their own,
        next to bone: the slope of the bone).
    """

    candidates: list[Candidate]
    prefiltered: dict[str, int]


def find_candidates(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    *,
    sigma_smooth_hu: float,
    sigma_raw_hu: float | None = None,
) -> CandidateSet:
    """Group candidate voxels into components, pre-filter them, and measure the rest.

    Components whose peak stays below the possible level are noise spikes, and components
    without a summit of their own (no voxel brighter than its 26 neighbours) next to bone
    are the bone's partial-volume slope; both are counted without being measured. Components
    next to bone or larger than a nodule that hold several distinct summits are split by a
    watershed, so a nodule merged with bone partial volume or a neighbour is measured alone.

    Parameters
    ----------
    scan : CTScan
    layers : TissueLayers
    config : DetectConfig
    sigma_smooth_hu : float
        Noise SD of the matched-filtered image (from :func:`estimate_noise`).
    sigma_raw_hu : float, optional
        Noise SD of the raw image; on coarse pixels (>= 0.8 mm) valleys between a nodule and
        bone are looked for in the raw image, which the matched filter would fill in.

    Returns
    -------
    CandidateSet
    """
    hu = scan.hu
    # the bumps on bone need only the tissue maps: their seeds are found beside the rest
    bumps = (
        Beside(bump_seeds, hu, scan.spacing_mm, layers, config) if config.bump_ring_mm > 0 else None
    )
    # threshold only inside the layer, and only in blocks whose maximum reaches the
    # threshold: block view of the fine grid against the coarse cells
    layer = _layer_mask(layers, config) & (layers.hu_max >= config.threshold_hu)
    f = layers.factors
    s, r, c = layer.shape
    fine = hu[: s * f[0], : r * f[1], : c * f[2]].reshape(s, f[0], r, f[1], c, f[2])
    ks, rs, cs = np.nonzero(layer)
    prefiltered: dict[str, int] = {}
    if ks.size == 0:
        return CandidateSet([], prefiltered)
    sel = fine[ks, :, rs, :, cs, :] >= config.threshold_hu  # (n_cells, f0, f1, f2)
    cell, a, b, d = np.nonzero(sel)
    if cell.size == 0:
        return CandidateSet([], prefiltered)
    idx = np.stack([ks[cell] * f[0] + a, rs[cell] * f[1] + b, cs[cell] * f[2] + d], axis=1).astype(
        np.intp
    )
    lab, n_lab = _label_voxels(idx, config.connectivity)
    values = hu[idx[:, 0], idx[:, 1], idx[:, 2]]
    peak = np.full(n_lab + 1, -np.inf)
    np.maximum.at(peak, lab, values.astype(np.float64))
    possible_level = config.threshold_hu + config.possible_margin_hu
    near = np.zeros(n_lab + 1, dtype=bool)
    near_voxel = layers.sample("bone_dist_mm", idx) <= _near_bone_mm(layers, config)
    near[lab[near_voxel]] = True
    # summits decide only for components next to bone
    strong = (values >= possible_level) & near[lab]
    summit = np.zeros(n_lab + 1, dtype=bool)
    if strong.any():
        tops = _has_summit(hu, idx[strong], values[strong], planar=_planar(scan.spacing_mm, config))
        summit[lab[strong][tops]] = True
    faint = peak < possible_level
    slope = ~faint & ~summit & near
    faint[0] = slope[0] = False
    if faint.any():
        prefiltered["noise_spike"] = int(faint.sum())
    if slope.any():
        prefiltered["bone_partial_volume"] = int(slope.sum())
    keep = ~faint & ~slope
    keep[0] = False
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(n_lab + 2))
    spacing = scan.spacing_mm
    voxel_mm3 = float(abs(np.linalg.det(scan.affine_lps[:3, :3])))
    sig_px = matched_filter_sigma_px(spacing)
    out: list[Candidate] = []
    for label in np.flatnonzero(keep):
        vox = idx[order[bounds[label] : bounds[label + 1]]]
        out.extend(
            _measure_component(
                scan,
                layers,
                config,
                int(label),
                vox,
                near_bone=bool(near[label]),
                spacing=spacing,
                voxel_mm3=voxel_mm3,
                sig_px=sig_px,
                sigma_smooth_hu=sigma_smooth_hu,
                sigma_raw_hu=sigma_raw_hu,
            )
        )
    if bumps is not None:
        out = _add_bumps(
            scan,
            layers,
            config,
            out,
            bumps.result(),
            first_label=n_lab + 1,
            voxel_mm3=voxel_mm3,
            sig_px=sig_px,
            sigma_smooth_hu=sigma_smooth_hu,
            sigma_raw_hu=sigma_raw_hu,
        )
    return CandidateSet(out, prefiltered)


def _add_bumps(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    found: list[Candidate],
    seeds_normals_rings: tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]],
    *,
    first_label: int,
    voxel_mm3: float,
    sig_px: tuple[float, float],
    sigma_smooth_hu: float,
    sigma_raw_hu: float | None,
) -> list[Candidate]:
    """``found`` plus the nodules lying on bone at the seeds of :func:`bump_seeds`.

    A bump already measured as a part of its own is left alone; the bone-slope parts it
    overlaps are dropped (their voxels now belong to the bump). Each bump is the voxels >=
    threshold connected to its summit within its ring's radius less 0.5 mm, down to 1 mm
    below it along the skin normal (the bone underneath is not part of it).
    """
    seeds, normals, ring_mm = seeds_normals_rings
    if len(seeds) == 0:
        return found
    shape = np.asarray(scan.hu.shape, dtype=np.int64)
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    sp = np.asarray(scan.spacing_mm, dtype=np.float64)
    out = list(found)
    centres = [c.centroid_index for c in out if c.reason is None]
    for k, (seed, normal, radius) in enumerate(zip(seeds, normals, ring_mm, strict=True)):
        if centres and bool(
            (np.linalg.norm((np.asarray(centres) - seed) * sp, axis=1) <= radius).any()
        ):
            continue
        # the box reaches _BOX_PAD_MM round the seed; a wider bump's part needs more
        reach = np.ceil(max(radius - 0.5 - _BOX_PAD_MM, 0.0) / sp).astype(np.intp)
        ctx = _BoxContext(scan, layers, config, np.stack([seed - reach, seed + reach]), sig_px)
        ctx.set_valley_image(sigma_smooth_hu, sigma_raw_hu)
        local = seed - ctx.offset
        rel = (np.indices(ctx.hb.shape).reshape(3, -1).T - local) * sp
        inside = (np.linalg.norm(rel, axis=1) <= radius - 0.5) & (rel @ normal >= -1.0)
        mask = inside.reshape(ctx.hb.shape) & (ctx.hb >= config.threshold_hu)
        lab = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))[0]
        cmask = lab == lab[tuple(local)]
        vox = np.argwhere(cmask) + ctx.offset
        # no bone-slope test: a bump on bone fails it by construction
        cand = _measure_part(
            scan, layers, config, first_label + k, vox, cmask, ctx, voxel_mm3, on_bone=True
        )
        lin = vox.astype(np.int64) @ strides
        out = [
            c
            for c in out
            if c.reason != "bone_partial_volume"
            or not np.isin(c.voxels.astype(np.int64) @ strides, lin).any()
        ]
        out.append(cand)
        centres.append(cand.centroid_index)
    return out


_OFFSETS26 = np.argwhere(np.ones((3, 3, 3), dtype=bool)) - 1
_PLANE8 = np.zeros((3, 3, 3), dtype=bool)
_PLANE8[1] = True


def _box_pad(spacing: tuple[float, float, float]) -> list[int]:
    """Voxels of padding around a candidate: ``_BOX_PAD_MM`` on each side."""
    pad = [max(2, int(np.ceil(_BOX_PAD_MM / s))) for s in spacing]
    pad[0] = max(1, int(np.ceil(_BOX_PAD_MM / spacing[0])))
    return pad


def _box(
    vox: NDArray[np.intp], shape: tuple[int, ...], spacing: tuple[float, float, float]
) -> tuple[slice, ...]:
    pad = _box_pad(spacing)
    lo = np.maximum(vox.min(axis=0) - pad, 0)
    hi = np.minimum(vox.max(axis=0) + 1 + pad, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


class _BoxContext:
    """Fine maps of the box around one component (shared by its split parts).

    The HU box and its matched-filtered copy are made at once; the body/air maps, the fine
    depth and the outer skin layer only when a part survives the bone test.
    """

    def __init__(
        self,
        scan: CTScan,
        layers: TissueLayers,
        config: DetectConfig,
        vox: NDArray[np.intp],
        sig_px: tuple[float, float],
    ) -> None:
        self._layers, self._config, self._spacing = layers, config, scan.spacing_mm
        box = _box(vox, scan.hu.shape, scan.spacing_mm)
        self._box = (box[0], box[1], box[2])
        self.offset = np.array([s.start for s in box])
        self.hb = np.asarray(scan.hu[box], dtype=np.float32)
        # matched filter (in-plane), air clipped to fat so the skin edge does not dominate
        self.smooth = ndimage.gaussian_filter(
            np.maximum(self.hb, -100.0), (0.0, sig_px[0], sig_px[1])
        )
        # image and noise SD in which valleys to bone are looked for (set by the caller)
        self.valley: NDArray[Any] = self.smooth
        self.valley_sigma_hu = 0.0
        self.raw_sigma_hu: float | None = None

    def set_valley_image(self, sigma_smooth_hu: float, sigma_raw_hu: float | None) -> None:
        """Look for valleys in the raw image on coarse pixels (where the matched filter would
        fill them in), else in the matched-filtered one."""
        self.raw_sigma_hu = sigma_raw_hu
        if sigma_raw_hu is not None and min(self._spacing[1:]) >= _RAW_VALLEY_PIXEL_MM:
            self.valley, self.valley_sigma_hu = self.hb, sigma_raw_hu
        else:
            self.valley, self.valley_sigma_hu = self.smooth, sigma_smooth_hu

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Fine voxel spacing (slice, row, col) in mm."""
        return self._spacing

    def sub(self, box: tuple[slice, slice, slice]) -> _BoxContext:
        """The same maps on a sub-box (box-local slices) around one part of a component."""
        child = object.__new__(_BoxContext)
        child._layers, child._config, child._spacing = self._layers, self._config, self._spacing
        child.offset = self.offset + np.array([b.start for b in box])
        child._box = (
            slice(int(child.offset[0]), int(child.offset[0]) + box[0].stop - box[0].start),
            slice(int(child.offset[1]), int(child.offset[1]) + box[1].stop - box[1].start),
            slice(int(child.offset[2]), int(child.offset[2]) + box[2].stop - box[2].start),
        )
        child.hb, child.smooth = self.hb[box], self.smooth[box]
        child.valley, child.valley_sigma_hu = self.valley[box], self.valley_sigma_hu
        child.raw_sigma_hu = self.raw_sigma_hu
        return child

    def around(self, local: NDArray[np.intp]) -> tuple[_BoxContext, NDArray[np.bool_]]:
        """The maps on a padded sub-box round box-local voxels, and the voxels' mask in it."""
        box = _box(local, self.hb.shape, self._spacing)
        sub = self.sub((box[0], box[1], box[2]))
        mask = np.zeros(sub.hb.shape, dtype=bool)
        mask[tuple((local + self.offset - sub.offset).T)] = True
        return sub, mask

    @functools.cached_property
    def min_bone_dist_mm(self) -> float:
        """Least coarse distance to bone (mm) anywhere in the box."""
        return self._layers.box_min("bone_dist_mm", self._box)

    def sample_bone_dist(self, local_index: NDArray[np.intp]) -> NDArray[Any]:
        """Coarse distance to bone (mm) at box-local fine indices."""
        return self._layers.sample("bone_dist_mm", local_index + self.offset)

    @functools.cached_property
    def _air_maps(self) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
        """(body, outside air, cavity air): tissue plus anything deep inside the sealed body."""
        deep = self._layers.sample_box("depth_mm", self._box)
        sealed_box = self._layers.sample_box("sealed", self._box)
        air = self.hb <= self._config.body_threshold_hu
        inside = deep > 1.5 * max(self._layers.spacing_mm)
        return ~air | inside, air & ~inside, air & inside & sealed_box

    @property
    def body(self) -> NDArray[np.bool_]:
        return self._air_maps[0]

    @property
    def outside_air(self) -> NDArray[np.bool_]:
        return self._air_maps[1]

    @property
    def cavity_air(self) -> NDArray[np.bool_]:
        return self._air_maps[2]

    def fine_depth_at(self, local_index: NDArray[np.intp]) -> float:
        """Distance (mm) from a box-local voxel to the nearest air voxel of the box (see
        :func:`distance_to_background`)."""
        return distance_to_background(self.body, local_index, self._spacing)

    @functools.cached_property
    def outer(self) -> NDArray[np.bool_]:
        """Outermost in-plane voxel layer of the skin (thick slices make every voxel near an
        oblique surface touch air along the slice axis, so only in-plane neighbours count)."""
        return np.asarray(self.body & ~erode_plane_cross(self.body))

    @functools.cached_property
    def quick_background_hu(self) -> float:
        """Median matched-filtered soft tissue in the box (below threshold, above air)."""
        sub = (slice(None), slice(None, None, 2), slice(None, None, 2))  # every 4th voxel
        hb, sm = self.hb[sub], self.smooth[sub]
        soft = (hb < self._config.threshold_hu) & (hb > self._config.body_threshold_hu)
        return float(np.median(sm[soft])) if soft.any() else 0.0


def distance_to_background(
    mask: NDArray[np.bool_], index: NDArray[np.intp], spacing: tuple[float, float, float]
) -> float:
    """Distance (mm) from voxel ``index`` to the nearest False voxel of ``mask``.

    The value ``edt.edt(mask, anisotropy=spacing, black_border=False)`` holds at ``index``
    (the array's border is not background; ``inf`` when ``mask`` is all True), found from the
    background voxels directly: a part's depth needs it at one voxel, not the whole box.
    """
    bg = np.argwhere(~mask)
    if len(bg) == 0:
        return float("inf")
    step = (bg - np.asarray(index)) * np.asarray(spacing)
    return float(np.float32(np.sqrt(np.min(np.einsum("ij,ij->i", step, step)))))


def _measure_component(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    label: int,
    vox: NDArray[np.intp],
    *,
    near_bone: bool,
    spacing: tuple[float, float, float],
    voxel_mm3: float,
    sig_px: tuple[float, float],
    sigma_smooth_hu: float,
    sigma_raw_hu: float | None,
) -> list[Candidate]:
    """Measure one component, split first when it holds several distinct summits."""
    ctx = _BoxContext(scan, layers, config, vox, sig_px)
    ctx.set_valley_image(sigma_smooth_hu, sigma_raw_hu)
    lv = vox - ctx.offset
    cmask = np.zeros(ctx.hb.shape, dtype=bool)
    cmask[tuple(lv.T)] = True
    span_mm = (lv.max(axis=0) - lv.min(axis=0)) * np.asarray(spacing)
    split = None
    if len(vox) >= 4 and (near_bone or float(span_mm.max()) > config.max_size_mm):
        # a component is 26-connected whatever the connectivity that grouped it
        split = _split(ctx.smooth, cmask, config.bone_dip_sd * sigma_smooth_hu, connected=True)
    if split is not None:
        split = _merge_shoulders(ctx.valley, *split, planar=_planar(spacing, config))
    if split is None or split[1] < 2:
        pv = np.argwhere(cmask) + ctx.offset
        out = [_measure(scan, layers, config, label, pv, cmask, ctx, voxel_mm3, sigma_smooth_hu)]
    else:
        out = _measure_parts(scan, layers, config, label, ctx, split[0], voxel_mm3, sigma_smooth_hu)
    out = _rescue_thick(scan, layers, config, out, ctx, voxel_mm3, sigma_smooth_hu)
    return [_finished(c) for c in _join_touching(scan, layers, config, out, ctx, voxel_mm3)]


def _measure_parts(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    label: int,
    ctx: _BoxContext,
    labels: NDArray[np.intp],
    voxel_mm3: float,
    sigma_smooth_hu: float,
) -> list[Candidate]:
    """Measure each watershed part of a component (``labels`` in the component's box)."""
    spacing = scan.spacing_mm
    # each part is measured in its own small box (a component glued along a bone surface can
    # span most of the face)
    pad = _box_pad(spacing)
    boxes: list[tuple[int, tuple[slice, slice, slice]]] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        boxes.append(
            (
                k,
                (
                    slice(max(sl[0].start - pad[0], 0), min(sl[0].stop + pad[0], labels.shape[0])),
                    slice(max(sl[1].start - pad[1], 0), min(sl[1].stop + pad[1], labels.shape[1])),
                    slice(max(sl[2].start - pad[2], 0), min(sl[2].stop + pad[2], labels.shape[2])),
                ),
            )
        )
    in_bone = _summits_in_bone(ctx, labels, boxes, planar=_planar(spacing, config))
    # every part's voxels in C order (as np.argwhere of the part) from one sort of the box
    flat = np.flatnonzero(labels)
    lab = labels.ravel()[flat]
    order = np.argsort(lab, kind="stable")
    flat = flat[order]
    bounds = np.searchsorted(lab[order], np.arange(int(labels.max()) + 2))
    local = [
        np.stack(np.unravel_index(flat[bounds[k] : bounds[k + 1]], labels.shape), axis=1)
        for k, _ in boxes
    ]
    # a part whose summit is in bone: the bone test of _measure would stop at its first step
    slopes = iter(
        _bone_slopes(
            scan,
            label,
            [
                (lv + ctx.offset, float(ctx.hb[tuple(lv.T)].max()))
                for lv, b in zip(local, in_bone, strict=True)
                if b
            ],
            voxel_mm3,
        )
    )
    out = []
    for (k, sub_box), bone_summit, lv in zip(boxes, in_bone, local, strict=True):
        if bone_summit:
            out.append(next(slopes))
            continue
        part = labels[sub_box] == k
        out.append(
            _measure(
                scan,
                layers,
                config,
                label,
                lv + ctx.offset,
                part,
                ctx.sub(sub_box),
                voxel_mm3,
                sigma_smooth_hu,
                lazy=True,
            )
        )
    return out


def _rescue_thick(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    found: list[Candidate],
    ctx: _BoxContext,
    voxel_mm3: float,
    sigma_smooth_hu: float,
) -> list[Candidate]:
    """Thick slices: the bone-slope parts that span slices, judged again slice by slice.

    On thick slices a nodule clear of the bone in its own slice can lie straight above the
    bone of the next slice (an oblique bone surface), so its 3-D climb ends in that bone.
    Each slice of such a part is split at its in-plane summits and every piece gets the
    in-plane bone test of :func:`_measure`; the pieces that pass are kept (joined later with
    what they touch), the rest stays bone slope.
    """
    if not _planar(scan.spacing_mm, config):
        return found
    possible_level = config.threshold_hu + config.possible_margin_hu
    out: list[Candidate] = []
    for cand in found:
        lv = cand.voxels - ctx.offset
        if cand.reason != "bone_partial_volume" or len(np.unique(lv[:, 0])) < 2:
            out.append(cand)
            continue
        # only worth splitting when it holds an in-plane summit clear of bone
        values = ctx.valley[tuple(lv.T)]
        tops = lv[_has_summit(ctx.valley, lv, values, planar=True)]
        tops = tops[ctx.hb[tuple(tops.T)] >= possible_level]
        if not bool((ctx.sample_bone_dist(tops) > 0.0).any()):
            out.append(cand)
            continue
        rest = np.zeros(ctx.hb.shape, dtype=bool)
        rest[tuple(lv.T)] = True
        rescued: list[Candidate] = []
        h = config.bone_dip_sd * sigma_smooth_hu
        for piece in _slice_pieces(ctx, lv, h, scan.spacing_mm, possible_level):
            if float(ctx.hb[tuple(piece.T)].max()) < possible_level:
                continue  # a noise spike, as a component this faint would be
            sub, pmask = ctx.around(piece)
            pv = piece + ctx.offset
            c = _measure(
                scan, layers, config, cand.label, pv, pmask, sub, voxel_mm3, sigma_smooth_hu
            )
            if c.reason != "bone_partial_volume":
                rescued.append(c)
                rest[tuple((c.voxels - ctx.offset).T)] = False
        if not rescued:
            out.append(cand)
            continue
        log.debug("thick slices: %d piece(s) clear of bone in their slice", len(rescued))
        out.extend(rescued)
        if rest.any():
            pv = np.argwhere(rest) + ctx.offset
            out.append(_bone_slope(scan, cand.label, pv, float(ctx.hb[rest].max()), voxel_mm3))
    return out


def _slice_pieces(
    ctx: _BoxContext,
    lv: NDArray[np.intp],
    h: float,
    spacing: tuple[float, float, float],
    min_peak_hu: float,
) -> list[NDArray[np.intp]]:
    """Box-local voxels of each in-plane piece of ``lv``: every slice that reaches
    ``min_peak_hu`` split at its summits of prominence >= ``h`` (shoulders merged), each slice
    in a small box of its own."""
    pieces: list[NDArray[np.intp]] = []
    for k in np.unique(lv[:, 0]):
        pts = lv[lv[:, 0] == k]
        if float(ctx.hb[tuple(pts.T)].max()) < min_peak_hu:
            continue
        box = _box(pts, ctx.hb.shape, spacing)
        origin = np.array([b.start for b in box])
        plane = np.zeros(tuple(b.stop - b.start for b in box), dtype=bool)
        plane[tuple((pts - origin).T)] = True
        split = _split(ctx.smooth[box], plane, h)
        if split is None:
            labels, n = ndimage.label(plane, structure=_PLANE8)
        else:
            labels, n = _merge_shoulders(ctx.valley[box], *split, planar=True)
        lab = labels[tuple((pts - origin).T)]
        pieces.extend(pts[lab == j] for j in range(1, n + 1) if bool((lab == j).any()))
    return pieces


def _join_touching(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    found: list[Candidate],
    ctx: _BoxContext,
    voxel_mm3: float,
) -> list[Candidate]:
    """Measured parts of one component that touch (26 neighbours) are joined and measured
    again as one, unless together they span more than ``max_size_mm`` and the smaller is the
    brighter (a nodule on a vessel).

    The watershed can give a nodule's shoulder a summit of its own, and the slice-by-slice
    pieces of :func:`_rescue_thick` cut one nodule at the slices; their union is measured
    again as one part. Bone-slope parts are left as they are.
    """
    kept = [i for i, c in enumerate(found) if c.reason != "bone_partial_volume"]
    if len(kept) < 2:
        return found
    # which parts each part touches, read from a label map at its voxels' 26 neighbours
    local = [found[i].voxels - ctx.offset for i in kept]
    lab = np.zeros(ctx.hb.shape, dtype=np.int32)
    for n, pts in enumerate(local, start=1):
        lab[tuple(pts.T)] = n
    top = np.asarray(ctx.hb.shape) - 1
    touches = []
    for n, pts in enumerate(local, start=1):
        nb = np.clip(pts[:, None, :] + _OFFSETS26[None, :, :], 0, top).reshape(-1, 3)
        touches.append(set(np.unique(lab[tuple(nb.T)]).tolist()) - {0, n})
    parent = list(range(len(kept)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    sp = np.asarray(scan.spacing_mm)
    lo = [found[i].voxels.min(axis=0) for i in kept]
    hi = [found[i].voxels.max(axis=0) for i in kept]
    size = [len(found[i].voxels) for i in kept]
    peak = [float(found[i].measures["peak_hu"]) for i in kept]
    for i in range(len(kept)):
        for j in sorted(t - 1 for t in touches[i] if t - 1 > i):
            a, b = root(i), root(j)
            if a == b:
                continue
            low, high = np.minimum(lo[a], lo[b]), np.maximum(hi[a], hi[b])
            small, large = (a, b) if size[a] <= size[b] else (b, a)
            # together no larger than a nodule, or a branch of a larger structure no brighter
            # than it (a brighter nodule touching a vessel stays apart)
            if float(((high - low) * sp).max()) <= config.max_size_mm or peak[small] <= peak[large]:
                parent[a] = b
                lo[b], hi[b] = low, high
                size[b] += size[a]
                peak[b] = max(peak[a], peak[b])
    groups: dict[int, list[int]] = {}
    for i in range(len(kept)):
        groups.setdefault(root(i), []).append(i)
    out = [c for i, c in enumerate(found) if i not in set(kept)]
    for members in groups.values():
        if len(members) == 1:
            out.append(found[kept[members[0]]])
            continue
        pts = np.unique(np.concatenate([local[i] for i in members]), axis=0)  # C order
        sub, mask = ctx.around(pts)
        pv = pts + ctx.offset
        label = found[kept[members[0]]].label
        log.debug("joined %d touching parts at %s", len(members), pv.mean(axis=0).round(1))
        out.append(
            _measure_part(scan, layers, config, label, pv, mask, sub, voxel_mm3, on_bone=False)
        )
    return out


def _summits_in_bone(
    ctx: _BoxContext,
    labels: NDArray[np.intp],
    boxes: list[tuple[int, tuple[slice, slice, slice]]],
    *,
    planar: bool,
) -> NDArray[np.bool_]:
    """Parts whose summit lies in bone in every image :func:`_measure` would test.

    For each part, the climb of :func:`_attached_to_bone` from its brightest voxel, done for
    all parts at once with each climb kept inside the part's own box (as the per-part climb
    is); then the same for the raw image when :func:`_measure` would also test that.
    """
    n = len(boxes)
    wanted = np.array([k for k, _ in boxes], dtype=np.intp)
    lo = np.array([[b.start for b in box] for _, box in boxes], dtype=np.intp).reshape(n, 3)
    hi = np.array([[b.stop - 1 for b in box] for _, box in boxes], dtype=np.intp).reshape(n, 3)
    images = [ctx.valley]
    if ctx.valley is not ctx.hb and ctx.raw_sigma_hu is not None:
        images.append(ctx.hb)
    result = np.ones(n, dtype=bool)
    for image in images:
        starts = _brightest(image, labels, wanted)
        tops = _climb_many(image, starts, planar=planar, lo=lo, hi=hi)
        result &= ctx.sample_bone_dist(tops) <= 0.0
    return result


def _bone_slope(
    scan: CTScan, label: int, vox: NDArray[np.intp], peak: float, voxel_mm3: float
) -> Candidate:
    """A part rejected as the bone's slope, with the few measures such a part gets."""
    return _bone_slopes(scan, label, [(vox, peak)], voxel_mm3)[0]


def _bone_slopes(
    scan: CTScan,
    label: int,
    parts: list[tuple[NDArray[np.intp], float]],
    voxel_mm3: float,
) -> list[Candidate]:
    """:func:`_bone_slope` of many ``(voxels, peak)`` parts (one mapping to LPS for all)."""
    if not parts:
        return []
    centroids = np.stack([vox.mean(axis=0) for vox, _ in parts])
    lps = scan.index_to_lps(centroids)
    out = []
    for (vox, peak), centroid_idx, centroid_lps in zip(parts, centroids, lps, strict=True):
        volume = len(vox) * voxel_mm3
        out.append(
            Candidate(
                label=label,
                voxels=vox,
                centroid_index=centroid_idx,
                centroid_lps_mm=centroid_lps,
                measures={
                    "n_voxels": len(vox),
                    "volume_mm3": volume,
                    "diameter_mm": float((6.0 * volume / np.pi) ** (1.0 / 3.0)),
                    "peak_hu": peak,
                    "attached_to_bone": True,
                },
                reason="bone_partial_volume",
                status="rejected",
            )
        )
    return out


def _measure(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    label: int,
    vox: NDArray[np.intp],
    cmask: NDArray[np.bool_],
    ctx: _BoxContext,
    voxel_mm3: float,
    sigma_smooth_hu: float,
    *,
    lazy: bool = False,
) -> Candidate:
    spacing = scan.spacing_mm
    hb, offset = ctx.hb, ctx.offset
    if ctx.min_bone_dist_mm > _near_bone_mm(layers, config):
        # no bone within reach anywhere in the box: no climb can end in it or near it (the
        # tests below would find the part clear of bone, and no voxel draining to bone)
        return _measure_part(
            scan, layers, config, label, vox, cmask, ctx, voxel_mm3, on_bone=False, lazy=lazy
        )
    lv = vox - offset
    values = hb[cmask]
    peak = float(values.max())
    attached = _attached_to_bone(
        ctx.valley,
        cmask,
        layers,
        offset,
        config,
        sigma_smooth_hu=ctx.valley_sigma_hu,
        background_hu=ctx.quick_background_hu,
        planar=_planar(spacing, config),
    )
    if attached and ctx.valley is not ctx.hb and ctx.raw_sigma_hu is not None:
        # the matched filter can fill the narrow valley between a small nodule and the bone:
        # a deep valley in the raw image (a large share of the contrast) still separates them
        attached = _attached_to_bone(
            ctx.hb,
            cmask,
            layers,
            offset,
            config,
            sigma_smooth_hu=ctx.raw_sigma_hu,
            background_hu=ctx.quick_background_hu,
            planar=_planar(spacing, config),
            dip_fraction=config.bone_raw_dip_fraction,
        )
    if attached:
        # the slope of the bone: rejected here, without the measures a nodule needs
        return _bone_slope(scan, label, vox, peak, voxel_mm3)
    # voxels that drain to bone (their steepest ascent ends in it) are the bone's slope glued
    # onto the nodule: they are not part of it
    drains = layers.sample(
        "bone_dist_mm",
        _climb_many(ctx.valley, lv, planar=_planar(spacing, config)) + offset,
    )
    own = drains > 0.0
    if 0 < int(own.sum()) < len(lv):
        vox, lv = vox[own], lv[own]
        cmask = np.zeros_like(cmask)
        cmask[tuple(lv.T)] = True
    return _measure_part(
        scan, layers, config, label, vox, cmask, ctx, voxel_mm3, on_bone=False, lazy=lazy
    )


def _measure_part(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    label: int,
    vox: NDArray[np.intp],
    cmask: NDArray[np.bool_],
    ctx: _BoxContext,
    voxel_mm3: float,
    *,
    on_bone: bool,
    lazy: bool = False,
) -> Candidate:
    """The measures of a part that is not the bone's slope (``on_bone``: a bump on bone).

    The part loses a glued tail first; with ``lazy`` the other measures wait (a
    :class:`_Part` that knows its voxels and peak).
    """
    spacing = scan.spacing_mm
    hb, offset = ctx.hb, ctx.offset
    values = hb[cmask]
    peak = float(values.max())
    grown = dilate_cube(cmask)
    bg = _background(ctx, grown, config)
    glued = _glued_tail(hb, cmask, bg, peak, spacing)
    if glued is not None:
        # a compact nodule on a faint structure (vessel, cartilage, skin fold): the nodule is
        # measured, not the structure it touches
        cmask &= ~glued
        vox = np.argwhere(cmask) + offset
        values = hb[cmask]
        grown = dilate_cube(cmask)
        bg = _background(ctx, grown, config)
    rest = functools.partial(
        _part_measures,
        scan,
        layers,
        config,
        label,
        vox,
        cmask,
        ctx,
        voxel_mm3,
        values=values,
        peak=peak,
        grown=grown,
        bg=bg,
        on_bone=on_bone,
    )
    if not lazy:
        return rest()
    nowhere = np.full(3, np.nan)
    return _Part(label, vox, nowhere, nowhere, {"peak_hu": peak}, finish=rest)


def _part_measures(
    scan: CTScan,
    layers: TissueLayers,
    config: DetectConfig,
    label: int,
    vox: NDArray[np.intp],
    cmask: NDArray[np.bool_],
    ctx: _BoxContext,
    voxel_mm3: float,
    *,
    values: NDArray[Any],
    peak: float,
    grown: NDArray[np.bool_],
    bg: float,
    on_bone: bool,
) -> Candidate:
    """The measures of :func:`_measure_part` after the glued tail is taken off."""
    # geometry in LPS
    lps = scan.index_to_lps(vox.astype(np.float64))
    w = np.clip(values - bg, 1.0, None).astype(np.float64)
    centroid_lps = (lps * w[:, None]).sum(axis=0) / w.sum()
    centroid_idx = (vox * w[:, None]).sum(axis=0) / w.sum()
    depth_mm = _part_depth(layers, ctx, centroid_idx)
    n = len(vox)
    volume = n * voxel_mm3
    m: dict[str, Any] = {
        "n_voxels": n,
        "volume_mm3": volume,
        "diameter_mm": float((6.0 * volume / np.pi) ** (1.0 / 3.0)),
        "peak_hu": peak,
        "depth_mm": depth_mm,
        "bone_dist_mm": float(layers.sample("bone_dist_mm", vox).min()),
        "attached_to_bone": False,
        "on_bone": on_bone,
        "protrusion_fraction": float(layers.protrusion_at(vox).mean()),
        "touches_cavity_air": bool((grown & ctx.cavity_air).any()),
        "background_hu": bg,
    }
    if not is_cartilage(m, config):
        # a part in cartilage is rejected whatever else is measured (the mimic rules decide
        # before they read the shape, the conspicuity or the skin rim): those are not taken
        m.update(_nodule_measures(ctx, cmask, vox, lps, values, bg, peak, centroid_idx, grown))
    return Candidate(
        label=label,
        voxels=vox,
        centroid_index=centroid_idx,
        centroid_lps_mm=centroid_lps,
        measures=m,
    )


def _nodule_measures(
    ctx: _BoxContext,
    cmask: NDArray[np.bool_],
    vox: NDArray[np.intp],
    lps: NDArray[np.float64],
    values: NDArray[Any],
    bg: float,
    peak: float,
    centroid_idx: NDArray[np.float64],
    grown: NDArray[np.bool_],
) -> dict[str, Any]:
    """Shape, contrast, lucency and skin-contact measures of a part (box-local ``cmask``)."""
    spacing = ctx.spacing_mm
    hb, offset = ctx.hb, ctx.offset
    sm_peak = float(ctx.valley[cmask].max())
    elongation, extent = _shape(lps, spacing)
    # the bright core (above half the contrast): a nodule touching a faint enhancing vessel
    # or skin fold keeps a compact core, a vessel stays long
    core = values >= bg + 0.5 * (peak - bg)
    core_elongation, core_extent = _shape(lps[core], spacing)
    # central lucency: filled 2-D footprint minus the component on the central slice
    kc = int(np.clip(round(float(centroid_idx[0])) - offset[0], 0, hb.shape[0] - 1))
    plane = cmask[kc]
    filled = ndimage.binary_fill_holes(plane)
    hole = filled & ~plane
    c_val = float(ndimage.map_coordinates(hb, (centroid_idx - offset)[:, None], order=1)[0])
    return {
        "n_slices": len(np.unique(vox[:, 0])),
        "mean_hu": float(values.mean()),
        "extent_mm": extent,
        "elongation": elongation,
        "core_elongation": core_elongation,
        "core_extent_mm": core_extent,
        "rim_fraction": float(ctx.outer[cmask].mean()),
        "touches_outside_air": bool((grown & ctx.outside_air).any()),
        "matched_peak_hu": sm_peak,
        "conspicuity": float((sm_peak - bg) / max(ctx.valley_sigma_hu, 1e-3)),
        "center_lucency": float(hole.sum()) / max(float(filled.sum()), 1.0),
        "center_ratio": float((c_val - bg) / max(peak - bg, 1.0)),
        "solidity": _solidity(vox - offset, spacing),
    }


def _part_depth(
    layers: TissueLayers,
    ctx: _BoxContext,
    centroid_idx: NDArray[np.float64],
) -> float:
    """Depth (mm) of a part's centroid below the skin: fine in its box, else coarse."""
    spacing = ctx.spacing_mm
    ci = np.clip(np.round(centroid_idx - ctx.offset).astype(int), 0, np.array(ctx.hb.shape) - 1)
    depth_mm = ctx.fine_depth_at(ci) if ctx.body[tuple(ci)] else 0.0
    if not np.isfinite(depth_mm) or depth_mm > _BOX_PAD_MM:
        # the skin surface is outside the box: the coarse depth is good enough there
        depth_mm = float(layers.sample("depth_mm", np.round(centroid_idx)[None, :].astype(int))[0])
    return max(depth_mm - 0.5 * min(spacing[1], spacing[2]), 0.0)


def is_cartilage(measures: dict[str, Any], config: DetectConfig) -> bool:
    """Is a part mostly in a thin protrusion (auricle, nasal ala) and no denser than cartilage?

    Such a part is rejected (:func:`calcscan.detect.mimics.rejection_reason`: as cartilage, or
    by a rule tried before that one), so it needs no further measures.
    """
    return bool(
        measures["protrusion_fraction"] >= 0.5
        and measures["peak_hu"] < config.cartilage_max_peak_hu
    )


def _background(ctx: _BoxContext, grown: NDArray[np.bool_], config: DetectConfig) -> float:
    """Median of the valley image in a shell around ``grown`` (a part dilated by one voxel),
    without bright structures."""
    body, hb = ctx.body, ctx.hb
    ring = dilate_cross(grown, 2) & ~grown & body & (hb < config.threshold_hu)
    if not ring.any():
        ring = body & ~grown & (hb < config.threshold_hu)
    # contrast to noise in the matched-filtered image (raw on coarse pixels: see _BoxContext)
    return float(np.median(ctx.valley[ring])) if ring.any() else float(config.threshold_hu)


def _glued_tail(
    hb: NDArray[Any],
    cmask: NDArray[np.bool_],
    bg: float,
    peak: float,
    spacing: tuple[float, float, float],
) -> NDArray[np.bool_] | None:
    """Voxels of ``cmask`` that are a faint structure glued to a compact bright core, or None.

    The core is the part above half the contrast, taken around the brightest voxel; the
    nodule is the core plus its partial-volume skirt (``_SKIRT_MM``). When more than half
    of the component lies beyond the skirt, that remainder is a structure the nodule touches.
    """
    core = cmask & (hb >= bg + 0.5 * (peak - bg))
    lab, _ = ndimage.label(core, structure=np.ones((3, 3, 3), bool))
    top = np.unravel_index(int(np.argmax(np.where(cmask, hb, -np.inf))), hb.shape)
    core = lab == lab[top]
    if 2 * int(core.sum()) >= int(cmask.sum()):
        return None  # the nodule holds its core: at least half of the part
    # one voxel all round, then in-plane up to the skirt's width
    nodule = dilate_cube(core)
    more = round(_SKIRT_MM / min(spacing[1:])) - 1
    if more > 0:
        nodule = dilate_plane_box(nodule, more)
    nodule &= cmask
    rest = cmask & ~nodule
    if int(rest.sum()) <= int(nodule.sum()):
        return None
    return rest


def _shape(lps: NDArray[Any], spacing: tuple[float, float, float]) -> tuple[float, float]:
    """(elongation, extent in mm) of a voxel set: principal-axis ratio and length."""
    if len(lps) < 2:
        return 1.0, 0.0
    cov = np.cov((lps - lps.mean(axis=0)).T)
    ev = np.sort(np.clip(np.linalg.eigvalsh(cov), 0.0, None))[::-1]
    ev = ev + float(np.mean(np.array(spacing) ** 2 / 12.0))
    axis = np.linalg.eigh(cov)[1][:, -1]
    proj = (lps - lps.mean(axis=0)) @ axis
    return float(np.sqrt(ev[0] / ev[-1])), float(proj.max() - proj.min())


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
