"""Synthetic head CT phantom with exact ground truth.

The head is built from analytic shapes in an LPS frame (origin between the globe centres):
a cranial and a facial ellipsoid, nose and auricles form the body; skin, subcutaneous fat and
muscle follow the true depth below the skin (a distance transform of the body), so the frontal
bone lies 5.5 mm below the forehead skin; skull, orbits with globes, nasal bones and cartilage,
maxillary sinuses, zygomatic arches, mandible and teeth are placed on top. Nodules are rendered
with partial volume into the sharp object, then the whole image is blurred (scanner PSF) and
noise is added, so nodules and anatomy share the same resolution. Densities, layer thicknesses
and region rules are data (``anatomy.yaml``).
"""

from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcscan.errors import UsageError
from calcscan.phantom.regiontruth import FaceAxes, region_truth
from calcscan.phantom.render import (
    _FWHM_TO_SIGMA,
    apply_rendered,
    render_nodule,
    truth_from_render,
)
from calcscan.phantom.sites import _edt, outward_normals
from calcscan.phantom.truth import SHAPES, NoduleSpec, TruthNodule
from calcscan.scan import CTScan

__all__ = [
    "PHANTOM_REGIONS",
    "make_head_phantom",
    "phantom_anatomy",
    "phantom_axes",
]

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]
Box = tuple[slice, slice, slice]


@functools.cache
def phantom_anatomy() -> dict[str, Any]:
    """Tissue densities, layer thicknesses and region rules of the phantom (``anatomy.yaml``)."""
    import yaml

    text = resources.files("calcscan.phantom").joinpath("anatomy.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


#: Regions a phantom nodule can be placed in (``make_head_phantom(nodules={region: n})``).
PHANTOM_REGIONS: tuple[str, ...] = (
    "frontal",
    "periorbital",
    "nasal",
    "maxillary",
    "temporal",
    "mandibular_buccal",
    "scalp",
)

_GLOBE_X, _GLOBE_Y, _GLOBE_Z, _GLOBE_R = 32.0, -52.0, 0.0, 12.0
_POOL_MAX = 15000
#: Deepest nodule centre below the skin: dermis and upper subcutis, where the reference study's
#: hypodermal nodules lie (the cheek fat itself is ~11 mm thick in the phantom).
_MAX_CENTER_DEPTH_MM = 6.0


def phantom_axes() -> FaceAxes:
    """Face frame of the phantom (globe centres known by construction)."""
    return FaceAxes.from_globes((-_GLOBE_X, _GLOBE_Y, _GLOBE_Z), (_GLOBE_X, _GLOBE_Y, _GLOBE_Z))


def _side(x: float) -> str:
    if abs(x) <= 4.0:
        return "midline"
    return "left" if x > 0 else "right"


class _Grid:
    """Phantom grid: LPS of every index as broadcastable arrays (tilt shears y with slice)."""

    def __init__(self, affine: NDArray[np.float64], shape: tuple[int, int, int]) -> None:
        self.affine = affine
        self.shape = shape

    def coords(self, box: Box) -> tuple[F32, F32, F32]:
        a = self.affine
        k = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None, None]
        r = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :, None]
        c = np.arange(box[2].start, box[2].stop, dtype=np.float32)[None, None, :]
        x = np.float32(a[0, 3]) + c * np.float32(a[0, 2])
        y = np.float32(a[1, 3]) + r * np.float32(a[1, 1]) + k * np.float32(a[1, 0])
        z = np.float32(a[2, 3]) + k * np.float32(a[2, 0])
        return x, y, z

    def box(self, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> Box:
        """Index box covering the LPS box [lo, hi] (conservative under tilt)."""
        a = self.affine
        corners = np.array(
            [[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        idx = (np.linalg.inv(a) @ corners.T)[:3].T
        lo_i = np.maximum(np.floor(idx.min(axis=0)).astype(int) - 1, 0)
        hi_i = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 2, self.shape)
        hi_i = np.maximum(hi_i, lo_i)
        return (slice(lo_i[0], hi_i[0]), slice(lo_i[1], hi_i[1]), slice(lo_i[2], hi_i[2]))

    def ellipsoid(
        self,
        center: tuple[float, float, float],
        semi: tuple[float, float, float],
        box: Box | None = None,
    ) -> tuple[Box, NDArray[np.bool_]]:
        lo = (center[0] - semi[0], center[1] - semi[1], center[2] - semi[2])
        hi = (center[0] + semi[0], center[1] + semi[1], center[2] + semi[2])
        b = self.box(lo, hi) if box is None else box
        x, y, z = self.coords(b)
        m = ((x - center[0]) / semi[0]) ** 2 + ((y - center[1]) / semi[1]) ** 2
        m = m + ((z - center[2]) / semi[2]) ** 2
        return b, np.asarray(m <= 1.0)

    def capsule(
        self, p0: tuple[float, float, float], p1: tuple[float, float, float], radius: float
    ) -> tuple[Box, NDArray[np.bool_]]:
        a0, a1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
        lo = tuple(float(v) for v in np.minimum(a0, a1) - radius)
        hi = tuple(float(v) for v in np.maximum(a0, a1) + radius)
        b = self.box(lo, hi)  # type: ignore[arg-type]
        x, y, z = self.coords(b)
        d = a1 - a0
        t = ((x - a0[0]) * d[0] + (y - a0[1]) * d[1] + (z - a0[2]) * d[2]) / float(d @ d)
        t = np.clip(t, 0.0, 1.0)
        dist2 = (x - a0[0] - t * d[0]) ** 2 + (y - a0[1] - t * d[1]) ** 2
        dist2 = dist2 + (z - a0[2] - t * d[2]) ** 2
        return b, np.asarray(dist2 <= radius**2)


def _paint(
    vol: F32,
    box: Box,
    mask: NDArray[np.bool_],
    value: float,
    where: NDArray[np.bool_] | None = None,
) -> None:
    m = mask if where is None else mask & where[box]
    vol[box][m] = value


def _largest_piece(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest 26-connected piece of ``mask``: clipping a bony shell to the skin's depth
    can cut loose a fleck of a few voxels, which would be an unlisted dense nodule."""
    if not mask.any():
        return mask
    return np.asarray(cc3d.largest_k(mask, k=1, connectivity=26, binary_image=True) > 0)


def _body(grid: _Grid, tissues: dict[str, float]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Body mask (cranium, face, nose, auricles) and the auricular cartilage mask."""
    body = np.zeros(grid.shape, dtype=bool)
    cart = np.zeros(grid.shape, dtype=bool)
    for c, s in (
        ((0.0, 10.0, 25.0), (72.0, 95.0, 85.0)),  # cranium
        ((0.0, -25.0, -30.0), (62.0, 70.0, 55.0)),  # face and jaw
        ((0.0, -88.0, -22.0), (11.0, 18.0, 24.0)),  # nose
    ):
        b, m = grid.ellipsoid(c, s)
        body[b] |= m
    for sx in (-1.0, 1.0):
        b, m = grid.ellipsoid((sx * 74.0, 15.0, 0.0), (5.0, 13.0, 30.0))  # auricle
        body[b] |= m
        b, m = grid.ellipsoid((sx * 74.5, 15.0, 0.0), (1.2, 10.5, 26.0))
        cart[b] |= m
    # nostrils: open the nasal cavity to the outside
    for sx in (-1.0, 1.0):
        b, m = grid.ellipsoid((sx * 5.0, -92.0, -44.0), (3.0, 6.0, 5.0))
        body[b] &= ~m
    return body, cart


def _fat_bottom(grid: _Grid, layers: dict[str, float]) -> F32:
    """Depth (mm) of the bottom of the subcutaneous fat: thin on the forehead, thick on the face."""
    full: Box = (slice(0, grid.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
    _, _, z = grid.coords(full)
    t = np.clip((z - 5.0) / -20.0, 0.0, 1.0)  # 0 above z=5, 1 below z=-15
    fb_z = layers["forehead_fat_bottom"] + t * (
        layers["face_fat_bottom"] - layers["forehead_fat_bottom"]
    )
    fb = np.array(np.broadcast_to(fb_z.astype(np.float32), grid.shape))
    nb = grid.box((-13.0, -200.0, -200.0), (13.0, -78.0, 4.0))
    x, y, z = grid.coords(nb)
    nose = np.broadcast_to((np.abs(x) < 13.0) & (y < -78.0) & (z < 4.0), fb[nb].shape)
    fb[nb][nose] = layers["nose_fat_bottom"]
    return fb


def _build_anatomy(
    grid: _Grid,
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    metal: bool,
    head_holder: bool,
) -> tuple[F32, F32, F32, NDArray[np.bool_]]:
    """Sharp HU volume, depth below the skin, fat-bottom depth, and metal mask."""
    an = phantom_anatomy()
    tis = {k: float(v) for k, v in an["tissues_hu"].items()}
    lay = {k: float(v) for k, v in an["layers_mm"].items()}
    full: Box = (slice(0, grid.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
    body, cart = _body(grid, tis)
    depth = _edt(body, spacing)
    x, y, z = grid.coords(full)
    fat_bottom = _fat_bottom(grid, lay)
    vol = np.full(grid.shape, tis["air"], dtype=np.float32)
    vol[body] = tis["muscle"]
    vol[body & (depth <= fat_bottom)] = tis["fat"]
    vol[body & (depth <= lay["dermis"])] = tis["dermis"]
    vol[cart & body] = tis["auricular_cartilage"]
    # cranium: skull shell 5.5 mm below the skin, brain inside (above the orbit roofs)
    top = (z > 14.0) & (y > -200.0)
    d0 = lay["forehead_bone_depth"]
    d1 = d0 + lay["skull_thickness"]
    cran = body & top & (np.abs(x) < 70.0)
    vol[cran & (depth >= d0) & (depth < d1)] = tis["bone_diploe"]
    vol[cran & (depth >= d0) & (depth < d0 + 1.5)] = tis["bone_cortical"]
    vol[cran & (depth >= d1 - 1.5) & (depth < d1)] = tis["bone_cortical"]
    vol[cran & (depth >= d1)] = tis["brain"]
    deep = depth >= 4.0  # facial bones never reach closer than 4 mm to the skin
    for sx in (-1.0, 1.0):
        # orbit: bony cone (ellipsoid shell) filled with fat, open anteriorly; globe and lens
        b, outer = grid.ellipsoid((sx * _GLOBE_X, -40.0, 0.0), (19.0, 27.0, 18.0))
        _, inner = grid.ellipsoid((sx * _GLOBE_X, -40.0, 0.0), (17.0, 25.0, 16.0), b)
        _, yb, _ = grid.coords(b)
        cone = _largest_piece(outer & ~inner & (yb > -58.0) & deep[b])
        _paint(vol, b, cone, tis["bone_thin_wall"])
        _paint(vol, b, inner, tis["orbital_fat"], deep)
        b, m = grid.ellipsoid((sx * _GLOBE_X, _GLOBE_Y, _GLOBE_Z), (_GLOBE_R,) * 3)
        _paint(vol, b, m, tis["globe"])
        b, m = grid.ellipsoid((sx * _GLOBE_X, _GLOBE_Y - 9.0, _GLOBE_Z), (4.0, 1.8, 4.0))
        _paint(vol, b, m, tis["lens"])
        # maxillary sinus: air with a thin bony wall
        b, outer = grid.ellipsoid((sx * 27.0, -52.0, -24.0), (16.5, 19.5, 15.5))
        _, inner = grid.ellipsoid((sx * 27.0, -52.0, -24.0), (15.0, 18.0, 14.0), b)
        _paint(vol, b, outer, tis["bone_thin_wall"], deep)
        _paint(vol, b, inner, tis["air"], deep)
        # zygomatic arch
        b, m = grid.capsule((sx * 50.0, -45.0, -14.0), (sx * 62.0, 2.0, -12.0), 3.0)
        _paint(vol, b, m, tis["bone_cortical"], deep)
        # mandibular ramus
        b, m = grid.capsule((sx * 45.0, 0.0, -30.0), (sx * 42.0, -5.0, -72.0), 4.5)
        _paint(vol, b, m, tis["bone_cortical"], deep)
    # nasal cavity and septum cartilage, nasal bones
    b, m = grid.ellipsoid((0.0, -70.0, -26.0), (9.0, 22.0, 17.0))
    _paint(vol, b, m, tis["air"], depth >= 2.0)
    b, m = grid.ellipsoid((0.0, -86.0, -26.0), (1.0, 12.0, 13.0))
    _paint(vol, b, m, tis["nasal_cartilage"], depth >= 2.0)
    b, outer = grid.ellipsoid((0.0, -80.0, -4.0), (10.0, 9.0, 13.0))
    _, inner = grid.ellipsoid((0.0, -80.0, -4.0), (8.5, 7.5, 11.5), b)
    _, yb, _ = grid.coords(b)
    nasal = _largest_piece(outer & ~inner & (yb < -80.0) & (depth[b] >= 3.0))
    _paint(vol, b, nasal, tis["bone_thin_wall"])
    # mandible body (horseshoe) and teeth along the dental arches
    mb = grid.box((-60.0, -90.0, -80.0), (60.0, 10.0, -30.0))
    xm, ym, zm = grid.coords(mb)
    e_out = (xm / 50.0) ** 2 + ((ym + 5.0) / 75.0) ** 2
    e_in = (xm / 42.0) ** 2 + ((ym + 5.0) / 67.0) ** 2
    horse = (e_out <= 1.0) & (e_in > 1.0) & (ym < -5.0) & (zm > -78.0) & (zm < -57.0)
    _paint(vol, mb, np.asarray(horse), tis["bone_cortical"], deep)
    metal_mask = np.zeros(grid.shape, dtype=bool)
    n_teeth = 14
    metal_teeth = set(rng.choice(n_teeth * 2, size=2, replace=False).tolist()) if metal else set()
    for jaw, zc in enumerate((-52.0, -43.0)):
        for i in range(n_teeth):
            ang = np.pi * (i + 0.5) / n_teeth
            tx, ty = 41.0 * np.cos(ang), -5.0 - 63.0 * np.sin(ang)
            b, m = grid.ellipsoid((float(tx), float(ty), zc), (3.0, 3.0, 4.5))
            _paint(vol, b, m, tis["tooth"], deep)
            if jaw * n_teeth + i in metal_teeth:
                b, m = grid.ellipsoid((float(tx), float(ty), zc + 1.0), (2.0, 2.0, 2.0))
                _paint(vol, b, m, tis["metal"])
                metal_mask[b] |= m
    if head_holder:
        hb = grid.box((-120.0, 40.0, -200.0), (120.0, 200.0, 200.0))
        xh, yh, _ = grid.coords(hb)
        rr = np.hypot(xh, yh - 10.0)
        arc = (rr >= 112.0) & (rr <= 114.0) & (yh > 50.0)
        arc = np.broadcast_to(arc, tuple(s.stop - s.start for s in hb))
        _paint(vol, hb, np.asarray(arc), tis["head_holder"], ~body)
    return vol, depth, fat_bottom, metal_mask


def _metal_streaks(vol: F32, metal: NDArray[np.bool_], grid: _Grid, amplitude_hu: float) -> None:
    """Radial bright/dark streaks from metal in each slice that contains it (in place)."""
    ks = np.nonzero(metal.any(axis=(1, 2)))[0]
    rows = np.arange(grid.shape[1], dtype=np.float32)[:, None]
    cols = np.arange(grid.shape[2], dtype=np.float32)[None, :]
    for k in ks:
        r0, c0 = np.argwhere(metal[k]).mean(axis=0)
        dr = (rows - r0) * abs(grid.affine[1, 1])
        dc = (cols - c0) * abs(grid.affine[0, 2])
        ang = np.arctan2(dr, dc)
        rad = np.hypot(dr, dc)
        vol[k] += (amplitude_hu * np.cos(9.0 * ang) * np.exp(-rad / 35.0)).astype(np.float32)


def _place_nodules(
    nodules: dict[str, int],
    depth: F32,
    fat_bottom: F32,
    body_hu: F32,
    grid: _Grid,
    rng: np.random.Generator,
    sizes_mm: tuple[float, float],
    densities_hu: tuple[float, float],
    ring_fraction: float,
    min_separation_mm: float,
    symmetric: bool = False,
    shapes: tuple[str, ...] = ("sphere",),
) -> list[NoduleSpec]:
    """Random nodule specs in the hypodermis of each requested region.

    With ``symmetric``, nodules are drawn on the left side and mirrored to the right (the
    phantom is left-right symmetric), as pairs of equal size and density.
    """
    unknown = sorted(set(nodules) - set(PHANTOM_REGIONS))
    if unknown:
        raise UsageError(f"unknown phantom region(s) {unknown}: use {', '.join(PHANTOM_REGIONS)}")
    tis = phantom_anatomy()["tissues_hu"]
    layer = (
        (depth >= 1.0)
        & (depth <= fat_bottom)
        & ((body_hu == tis["fat"]) | (body_hu == tis["dermis"]))
    )
    idx = np.argwhere(layer[:, ::2, ::2]) * np.array([1, 2, 2])
    if idx.shape[0] > _POOL_MAX:  # a random subset is plenty to draw sites from
        idx = idx[np.sort(rng.choice(idx.shape[0], _POOL_MAX, replace=False))]
    a = grid.affine
    lps = (a[:3, :3] @ idx.T.astype(np.float64)).T + a[:3, 3]
    normals = outward_normals(depth, idx, a[:3, :3])
    reg = np.array([r or "" for r in region_truth(phantom_axes(), lps, normals)])
    specs: list[NoduleSpec] = []
    taken: list[NDArray[np.float64]] = []
    for region, count in nodules.items():
        pool = np.nonzero(reg == region)[0]
        placed = 0
        for j in rng.permutation(pool):
            if placed >= count:
                break
            pair = symmetric and count - placed >= 2
            if pair and lps[j, 0] < 8.0:
                continue
            d = float(rng.uniform(*sizes_mm))
            k, r, c = idx[j]
            dep = float(depth[k, r, c])
            fb = float(fat_bottom[k, r, c])
            if not (d / 2 + 0.4 <= dep <= min(fb - d / 2 + 0.5, _MAX_CENTER_DEPTH_MM)):
                continue
            p = lps[j] + rng.uniform(-0.25, 0.25, size=3)
            points = [p, p * np.array([-1.0, 1.0, 1.0])] if pair else [p]
            sep = max(min_separation_mm, d + 1.0)
            if any(np.linalg.norm(q - t) < sep for q in points for t in taken):
                continue
            shape = str(shapes[int(rng.integers(len(shapes)))])
            ring = bool(d >= 1.5 and shape == "sphere" and rng.random() < ring_fraction)
            density = float(rng.uniform(*densities_hu))
            for q in points:
                taken.append(q)
                specs.append(
                    NoduleSpec(
                        center_lps_mm=(float(q[0]), float(q[1]), float(q[2])),
                        diameter_mm=d,
                        density_hu=density,
                        ring=ring,
                        shape=shape,
                        region=region,
                        side=_side(float(q[0])),
                    )
                )
            placed += len(points)
        if placed < count:
            log.warning("region %s: only %d of %d nodules fit", region, placed, count)
    return specs


def make_head_phantom(
    *,
    seed: int = 0,
    nodules: list[NoduleSpec] | dict[str, int] | None = None,
    spacing_mm: tuple[float, float, float] = (1.0, 0.5, 0.5),
    noise_hu: float = 12.0,
    blur_fwhm_mm: float = 0.7,
    slice_fwhm_mm: float | None = None,
    metal: bool = False,
    metal_streak_hu: float = 250.0,
    tilt_deg: float = 0.0,
    head_holder: bool = True,
    age_years: float | None = None,
    sex: str | None = None,
    face_only: bool = True,
    sizes_mm: tuple[float, float] = (0.6, 3.0),
    densities_hu: tuple[float, float] = (400.0, 1200.0),
    ring_fraction: float = 0.2,
    min_separation_mm: float = 6.0,
    symmetric: bool = False,
    shapes: tuple[str, ...] | list[str] = ("sphere",),
    supersample: int = 5,
) -> tuple[CTScan, list[TruthNodule]]:
    """Synthetic head CT in HU with facial nodules and their ground truth.

    Parameters
    ----------
    seed : int
        Seed of everything random (nodule sites, sizes, noise, metal teeth).
    nodules : list of NoduleSpec or dict of {region: count} or None
        Explicit nodules, or counts per facial region (see :data:`PHANTOM_REGIONS`) placed at
        random in the hypodermis (dermis + subcutaneous fat, fully below the skin surface), at
        clear of the region's borders (project definitions, :mod:`calcscan.phantom.regiontruth`).
    spacing_mm : (float, float, float)
        (slice, row, col) spacing.
    noise_hu : float
        Standard deviation of the (slightly correlated) Gaussian noise.
    blur_fwhm_mm : float
        In-plane FWHM of the scanner blur.
    slice_fwhm_mm : float, optional
        Slice profile FWHM (default: the slice spacing, i.e. no extra blur along slices).
    metal : bool
        Two metal dental fillings with radial streak artefacts of ``metal_streak_hu``.
    tilt_deg : float
        Gantry tilt: the slice step is sheared along y (anatomy stays in LPS).
    head_holder : bool
        Add a plastic head-holder arc behind the head (outside the body).
    age_years, sex : optional
        Demographics stored on the scan.
    face_only : bool
        Field of view from the chin to 55 mm above the globes (the sinus-CT coverage) and back
        to the auricles; False adds the vertex and the back of the head.
    sizes_mm, densities_hu : (float, float)
        Uniform ranges of random nodules' diameter and density.
    ring_fraction : float
        Share of random nodules >= 1.5 mm rendered with a central lucency.
    min_separation_mm : float
        Minimum distance between random nodule centres.
    symmetric : bool
        Random nodules come in mirrored left/right pairs (same size and density).
    shapes : sequence of str
        Shapes random nodules are drawn from (uniformly): "sphere", "ellipsoid",
        "flocculent", "linear" (:data:`calcscan.phantom.SHAPES`). Only spheres get a lucency.
    supersample : int
        Sub-samples per voxel and axis for the nodules' partial volume.

    Returns
    -------
    scan : CTScan
    truth : list of TruthNodule
        ``rendered_peak_hu`` is read from the final (blurred, noisy) image.
    """
    if sex is not None and sex not in ("M", "F", "O"):
        raise UsageError(f"sex must be M, F or O, got {sex!r}")
    bad = sorted(set(shapes) - set(SHAPES))
    if bad or not shapes:
        raise UsageError(f"unknown nodule shape(s) {bad}: use {', '.join(SHAPES)}")
    if min(spacing_mm) <= 0:
        raise UsageError(f"spacing_mm must be positive, got {spacing_mm}")
    rng = np.random.default_rng(seed)
    sk, sr, sc = (float(v) for v in spacing_mm)
    z_lo, z_hi = -84.0, (56.0 if face_only else 112.0)
    y_lo, y_hi = -114.0, (32.0 if face_only else 124.0)
    x_lo, x_hi = -82.0, 82.0
    shear = sk * float(np.tan(np.radians(tilt_deg)))
    shape = (
        int(np.floor((z_hi - z_lo) / sk)) + 1,
        int(np.floor((y_hi - y_lo) / sr)) + 1,
        int(np.floor((x_hi - x_lo) / sc)) + 1,
    )
    affine = np.array(
        [
            [0.0, 0.0, sc, x_lo],
            [shear, sr, 0.0, y_lo - shear * 0.5 * (shape[0] - 1)],
            [sk, 0.0, 0.0, z_lo],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    grid = _Grid(affine, shape)
    vol, depth, fat_bottom, metal_mask = _build_anatomy(grid, (sk, sr, sc), rng, metal, head_holder)
    geometry = CTScan.from_affine(vol, affine)
    if isinstance(nodules, dict):
        specs = _place_nodules(
            nodules,
            depth,
            fat_bottom,
            vol,
            grid,
            rng,
            sizes_mm,
            densities_hu,
            ring_fraction,
            min_separation_mm,
            symmetric,
            tuple(shapes),
        )
    else:
        specs = list(nodules or [])
    rendered = []
    for spec in specs:
        rn = render_nodule(geometry, spec, rng, supersample=supersample)
        if rn is None:
            log.warning("nodule at %s lies outside the phantom: skipped", spec.center_lps_mm)
            continue
        frac, big = apply_rendered(vol, rn, (0.0, 0.0, 0.0))
        rendered.append((spec, rn, big))
    sig_in = blur_fwhm_mm * _FWHM_TO_SIGMA
    sig_sl = 0.0 if slice_fwhm_mm is None else slice_fwhm_mm * _FWHM_TO_SIGMA
    sigma = (sig_sl / sk, sig_in / sr, sig_in / sc)
    vol = np.asarray(ndimage.gaussian_filter(vol, sigma=sigma, truncate=3.0), dtype=np.float32)
    if metal and metal_mask.any():
        _metal_streaks(vol, metal_mask, grid, metal_streak_hu)
    if noise_hu > 0:
        noise = rng.standard_normal(shape, dtype=np.float32)
        noise = ndimage.gaussian_filter(noise, sigma=(0.0, 0.6, 0.6))
        noise *= np.float32(noise_hu / max(float(noise.std()), 1e-6))
        vol += noise
    truth = []
    for i, (spec, rn, big) in enumerate(rendered):
        frac = np.zeros(tuple(s.stop - s.start for s in big), dtype=np.float64)
        inner = tuple(
            slice(b.start - g.start, b.stop - g.start) for b, g in zip(rn.box, big, strict=True)
        )
        frac[inner] = rn.fraction
        frac = ndimage.gaussian_filter(frac, sigma=sigma, mode="constant", truncate=3.0)
        c_idx = np.round(geometry.lps_to_index(rn.centroid_lps_mm)).astype(int)
        c_idx = np.clip(c_idx, 0, np.asarray(shape) - 1)
        truth.append(
            truth_from_render(i + 1, spec, rn, frac, vol[big], depth_mm=float(depth[tuple(c_idx)]))
        )
    params = {
        "generator": "calcscan.phantom.make_head_phantom",
        "seed": seed,
        "spacing_mm": [sk, sr, sc],
        "noise_hu": noise_hu,
        "blur_fwhm_mm": blur_fwhm_mm,
        "slice_fwhm_mm": slice_fwhm_mm,
        "metal": metal,
        "tilt_deg": tilt_deg,
        "face_only": face_only,
    }
    scan = CTScan.from_affine(
        vol,
        affine,
        slice_thickness_mm=float(slice_fwhm_mm or sk),
        study_key=f"phantom-{seed}",
        source_path=f"phantom:seed={seed}",
        patient_age_years=age_years,
        patient_sex=sex,
        provenance={"modality": "CT", "format": "phantom", "manufacturer": "calcscan", **params},
    )
    return scan, truth
