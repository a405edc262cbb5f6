"""Random virtual nodules in the facial skin of a real CT (``calcscan insert``)."""

from __future__ import annotations

import logging

import numpy as np

from calcscan.errors import UsageError
from calcscan.phantom.realregions import HeadLandmarks
from calcscan.phantom.render import insert_nodules
from calcscan.phantom.sites import SkinSiteSampler
from calcscan.phantom.truth import NoduleSpec, TruthNodule
from calcscan.scan import CTScan

__all__ = ["parse_range", "random_insertion"]

log = logging.getLogger(__name__)


def parse_range(text: str, name: str) -> tuple[float, float]:
    """Parse ``"lo:hi"`` (or a single number) into a float range; UsageError when malformed."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] > parts[1]:
        raise UsageError(f"{name} must look like LO:HI with LO <= HI (e.g. 0.6:4), got {text!r}")
    return parts[0], parts[1]


def random_insertion(
    scan: CTScan,
    n: int,
    *,
    seed: int = 0,
    sizes_mm: tuple[float, float] = (0.6, 4.0),
    densities_hu: tuple[float, float] = (300.0, 1400.0),
    ring_fraction: float = 0.2,
    min_separation_mm: float = 8.0,
    sampler: SkinSiteSampler | None = None,
    landmarks: HeadLandmarks | None = None,
) -> tuple[CTScan, list[TruthNodule]]:
    """Insert ``n`` random nodules into the facial dermis/hypodermis of a real scan.

    Each nodule gets a diameter and density drawn uniformly from the ranges; nodules of
    >= 1.5 mm get a central lucency with probability ``ring_fraction``. Its centre is drawn by
    :class:`SkinSiteSampler` at a depth that keeps the whole nodule below the skin surface
    (``radius + 0.3`` to ``radius + 3`` mm) and at least ``radius + 0.5`` mm from bone and air.

    Parameters
    ----------
    scan : CTScan
    n : int
    seed : int
    sizes_mm, densities_hu : (float, float)
    ring_fraction : float
    min_separation_mm : float
    sampler : SkinSiteSampler, optional
        Reuse the precomputed layers of ``scan`` over many trials.
    landmarks : HeadLandmarks, optional
        Globe landmarks giving region truth; default: the hand-annotated ones of this
        ``study_key`` (``landmarks.yaml``) if any.

    Returns
    -------
    scan : CTScan
        The modified copy.
    truth : list of TruthNodule
        LPS ground truth with the site's side; the region (project definitions evaluated in
        the hand-annotated globe frame, :mod:`calcscan.phantom.regiontruth`) when landmarks
        are known and the nodule is not at a region border, else None.
    """
    if n < 0:
        raise UsageError(f"--n must be >= 0, got {n}")
    if sizes_mm[0] <= 0:
        raise UsageError(f"nodule sizes must be > 0 mm, got {sizes_mm}")
    if not 0.0 <= ring_fraction <= 1.0:
        raise UsageError(f"--ring-fraction must be within 0..1, got {ring_fraction}")
    rng = np.random.default_rng(seed)
    sampler = sampler or SkinSiteSampler(scan, landmarks=landmarks)
    specs: list[NoduleSpec] = []
    depths: list[float] = []
    centers: list[tuple[float, float, float]] = []
    for _ in range(n):
        d = float(rng.uniform(*sizes_mm))
        r = d / 2.0
        sites = sampler.sample(
            1,
            rng,
            depth_mm=(r + 0.3, r + 3.0),
            clearance_mm=r + 0.5,
            min_separation_mm=max(min_separation_mm, d + 2.0),
            avoid_lps_mm=centers,
        )
        if not sites:
            log.warning("no room left for a %.1f mm nodule; inserted %d", d, len(specs))
            break
        s = sites[0]
        region = landmarks.region(s.center_lps_mm, s.normal_lps)[0] if landmarks else s.region
        centers.append(s.center_lps_mm)
        depths.append(s.depth_mm)
        specs.append(
            NoduleSpec(
                center_lps_mm=s.center_lps_mm,
                diameter_mm=d,
                density_hu=float(rng.uniform(*densities_hu)),
                ring=bool(d >= 1.5 and rng.random() < ring_fraction),
                region=region,
                side=s.side,
            )
        )
    out, truth = insert_nodules(scan, specs, seed=seed)
    for t, dep in zip(truth, depths, strict=False):
        t.depth_mm = dep
    return out, truth
