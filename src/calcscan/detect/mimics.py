"""Mimic rejection: every rejected candidate gets exactly one reason code.

Rules are tried in the order of :data:`REJECTION_REASONS`; the first that applies names the
reason. Candidates that pass are then split by conspicuity into counted (definite) and
possible nodules by :func:`classify`.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from calcscan.detect.candidates import Candidate, is_cartilage
from calcscan.detect.config import DetectConfig
from calcscan.detect.tissue import TissueLayers

__all__ = [
    "REJECTION_REASONS",
    "MetalStreaks",
    "classify",
    "definite_peak_hu",
    "metal_points",
    "rejection_reason",
]

#: Reason codes, in the order the rules are applied.
REJECTION_REASONS: Final = (
    "outside_skin",  # bright objects outside the body (earrings, head holder); counted apart
    "metal_streak",  # dental/metal streak artefact
    "bone_partial_volume",  # attached to bone through >= threshold voxels, or sinus walls
    "auricular_cartilage",  # in a thin lateral protrusion (auricle)
    "nasal_cartilage",  # nasal protrusion (alae, tip) or lining the nostrils
    "skin_edge_rim",  # mostly in the outermost skin voxel layer
    "skin_air_partial_volume",  # faint, touching outside air
    "vessel",  # tubular and not denser than enhancing blood
    "too_large",  # larger than any dermal nodule (config.max_size_mm)
    "too_deep",  # centre deeper than config.max_depth_mm (coarse layer edge, thick slices)
    "below_min_size",  # smaller than config.min_size_mm
    "noise_spike",  # contrast to noise below the possible level
)


class MetalStreaks:
    """Where streak artefacts from metal can fall: near the metal, on the metal's own slices.

    Streaks from metal (dental fillings, implants) run in the plane of the slices that cross
    the metal, blurred over the slice profile; they do not reach slices farther along the
    slice axis (Barrett & Keat, RadioGraphics 2004;24:1679-91).

    Parameters
    ----------
    points_mm : ndarray, shape (n, 3)
        Metal voxels in (slice, row, col) millimetres (index times spacing).
    spacing_mm : sequence of float
        Fine voxel spacing (slice step, row, col).
    """

    def __init__(self, points_mm: NDArray[np.float64], spacing_mm: Any) -> None:
        self._tree = cKDTree(points_mm)
        self.spacing_mm = np.asarray(spacing_mm, dtype=np.float64)

    def reaches(self, voxels: NDArray[Any], radius_mm: float, slab_mm: float) -> bool:
        """Is there metal within ``radius_mm`` in-plane of the centroid of ``voxels`` (fine
        indices) on slices within ``slab_mm`` of theirs (at least one slice step)?"""
        slab_mm = max(slab_mm, float(self.spacing_mm[0]))
        pts = np.asarray(voxels, dtype=np.float64) * self.spacing_mm
        lo, hi = float(pts[:, 0].min()) - slab_mm, float(pts[:, 0].max()) + slab_mm
        centre = pts.mean(axis=0)
        centre[0] = 0.5 * (lo + hi)
        near = self._tree.query_ball_point(centre, float(np.hypot(radius_mm, 0.5 * (hi - lo))))
        if not near:
            return False
        m = self._tree.data[near]
        inplane = np.hypot(m[:, 1] - centre[1], m[:, 2] - centre[2]) <= radius_mm
        return bool((inplane & (m[:, 0] >= lo) & (m[:, 0] <= hi)).any())


def metal_points(
    hu: NDArray[Any],
    spacing_mm: Any,
    config: DetectConfig,
    layers: TissueLayers | None = None,
) -> tuple[NDArray[np.float64], int]:
    """Positions of metal voxels (subsampled to at most 20 000 points) and their number.

    Parameters
    ----------
    hu : ndarray
        Fine HU volume.
    spacing_mm : sequence of float
        Fine voxel spacing (slice step, row, col).
    config : DetectConfig
    layers : TissueLayers, optional
        When given, only blocks whose maximum reaches the threshold are read.

    Returns
    -------
    points : ndarray, shape (n, 3)
        In (slice, row, col) millimetres (index times spacing), as :class:`MetalStreaks` takes.
    n_voxels : int
        All voxels >= ``metal_threshold_hu`` (before subsampling).
    """
    if layers is not None:
        idx = layers.voxels_at_least(hu, config.metal_threshold_hu)
    else:
        idx = np.argwhere(hu >= config.metal_threshold_hu)
    if len(idx) == 0:
        return np.zeros((0, 3)), 0
    n_voxels = len(idx)
    if len(idx) > 20_000:
        idx = idx[:: len(idx) // 20_000 + 1]
    return idx.astype(np.float64) * np.asarray(spacing_mm, dtype=np.float64), n_voxels


def rejection_reason(
    cand: Candidate,
    config: DetectConfig,
    *,
    metal: MetalStreaks | None,
    abs_lateral_mm: float,
) -> str | None:
    """Reason code for a mimic, or ``None`` when the candidate may be a nodule.

    Parameters
    ----------
    cand : Candidate
        Measured candidate (``measures`` filled).
    config : DetectConfig
    metal : MetalStreaks or None
        The scan's metal (``None`` when it has none).
    abs_lateral_mm : float
        Distance of the candidate from the facial midline.
    """
    m = cand.measures
    if metal is not None and metal.reaches(
        cand.voxels, config.metal_streak_radius_mm, config.metal_streak_slab_mm
    ):
        return "metal_streak"
    if m["attached_to_bone"] or (
        m["touches_cavity_air"]
        and m["bone_dist_mm"] <= 4.0
        and m["depth_mm"] > config.cavity_wall_depth_mm
    ):
        return "bone_partial_volume"
    # cartilage is 100-200 HU (partial volume and noise add a little); a denser compact blob in
    # an auricle, a nasal ala or lining a nostril is a calcified/ossified nodule, not cartilage
    cartilage_like = m["peak_hu"] < config.cartilage_max_peak_hu
    if is_cartilage(m, config):
        return "auricular_cartilage" if abs_lateral_mm >= 35.0 else "nasal_cartilage"
    if m["touches_cavity_air"] and abs_lateral_mm < 25.0 and cartilage_like:
        return "nasal_cartilage"
    if m["rim_fraction"] >= config.rim_fraction:
        return "skin_edge_rim"
    if m["touches_outside_air"] and m["conspicuity"] < config.definite_conspicuity:
        return "skin_air_partial_volume"
    if (
        m.get("core_elongation", m["elongation"]) >= config.vessel_elongation
        and m.get("core_extent_mm", m["extent_mm"]) >= config.vessel_min_extent_mm
        and m["peak_hu"] <= config.vessel_max_peak_hu
    ):
        return "vessel"
    if (
        m["depth_mm"] > config.periosteal_depth_mm
        and m["bone_dist_mm"] <= config.periosteal_bone_dist_mm
    ):
        # at the floor of a thick subcutis, on the bone: periosteal bone partial volume
        return "bone_partial_volume"
    if m["diameter_mm"] > config.max_size_mm:
        return "too_large"
    if m.get("core_extent_mm", m["extent_mm"]) > config.max_size_mm:
        # a long bar or plate in the layer (its bright core too, so not a nodule with a faint
        # tail): a thin bone (zygomatic arch, nasal bone edge) seen in partial volume, or a
        # long vessel when it is not dense
        return "bone_partial_volume" if m["peak_hu"] > config.vessel_max_peak_hu else "vessel"
    if m["depth_mm"] > config.max_depth_mm:
        return "too_deep"
    if m["diameter_mm"] < config.min_size_mm:
        return "below_min_size"
    if m["conspicuity"] < config.possible_conspicuity:
        return "noise_spike"
    if m["peak_hu"] < config.threshold_hu + config.possible_margin_hu:
        return "noise_spike"
    return None


def definite_peak_hu(config: DetectConfig, sigma_raw_hu: float) -> float:
    """Lowest peak HU of a counted nodule: threshold + max(margin, k x noise SD)."""
    return config.threshold_hu + max(
        config.definite_margin_hu, config.definite_margin_sd * sigma_raw_hu
    )


def classify(cand: Candidate, config: DetectConfig, *, sigma_raw_hu: float) -> str:
    """Return "definite" (counted) or "possible" for a candidate that passed the mimic rules.

    Definite needs both a matched-filter contrast-to-noise of at least
    ``definite_conspicuity`` and a peak clear of the skin's noise tail
    (:func:`definite_peak_hu`); everything else that passed is "possible".
    """
    m = cand.measures
    if m["conspicuity"] >= config.definite_conspicuity and m["peak_hu"] >= definite_peak_hu(
        config, sigma_raw_hu
    ):
        return "definite"
    return "possible"
