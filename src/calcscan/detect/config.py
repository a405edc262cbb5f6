"""Detection configuration: one frozen object holding every option, with a stable digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from calcscan.errors import UsageError

__all__ = ["DetectConfig"]


@dataclass(frozen=True)
class DetectConfig:
    """Every option of the detector; its :meth:`digest` goes into each study record.

    Parameters
    ----------
    threshold_hu : float
        Candidate threshold, inclusive (the reference study counted lesions >= 150 HU).
    min_size_mm : float
        Smallest equivalent-sphere diameter of a counted nodule.
    max_size_mm : float
        Larger components are not dermal nodules (bone fragments, vessels, cartilage plates).
    connectivity : int
        Voxel connectivity used to group candidate voxels (6, 18 or 26).
    max_depth_mm : float
        Deepest distance below the skin surface searched (the layer also stops at bone).
    coarse_grid_mm : float
        Grid used for the heavy morphology (body mask, sealing, depth, bone).
    seal_radius_mm : float
        Closing radius that seals nostrils, ear canals and the mouth before measuring depth.
    body_threshold_hu : float
        Tissue/air threshold of the body mask.
    bone_threshold_hu : float
        Bone threshold of the coarse-grid bone mask.
    bone_min_volume_mm3 : float
        Smallest bone component (smaller bright objects may be nodules).
    bone_opening_mm : float
        Radius of the opening that cuts nodules (and thin bones) off the coarse bone mask; cut
        pieces standing off the bone smaller than ``bone_piece_min_volume_mm3`` are not bone.
    bone_piece_min_volume_mm3 : float
        Bone pieces cut off by the opening of the coarse bone mask stay bone when at least this
        large (a 4 mm nodule is ~34 mm3; blurred on the coarse grid somewhat more).
    bone_margin_mm : float
        Extra shell around the coarse bone mask left out of the candidate mask (0: only the
        coarse bone itself; bone partial volume is told apart by the valley test instead).
    bone_dip_sd : float
        A nodule next to bone must be separated from it by a valley at least this many noise
        SDs (of the matched-filtered image) below its summit ...
    bone_raw_dip_fraction : float
        A candidate that fails the valley test in the matched-filtered image is still a nodule
        when the raw image shows a valley of at least this fraction of its contrast.
    thick_slice_mm : float
        Slices thicker than this are judged slice by slice when separating nodules from bone.
    bone_dip_fraction : float
        ... and at least this fraction of its contrast; otherwise it is bone partial volume
        (the slope of the bone).
    protrusion_radius_mm : float
        Opening radius that separates thin protrusions (auricles, nasal alae) from the head.
    cartilage_max_peak_hu : float
        Cartilage (auricles, nasal alae) is 100-200 HU; candidates there peaking at or above
        this are not taken for cartilage.
    metal_threshold_hu : float
        Voxels at or above this are metal (dental fillings, implants, piercings).
    metal_streak_radius_mm : float
        Candidates this close (in-plane) to metal on nearby slices are streak mimics.
    metal_streak_slab_mm : float
        ... on slices within this distance (along the slice axis, at least one slice step)
        of the metal's own: streaks run in the plane of the slices that cross the metal.
    definite_conspicuity : float
        Matched-filter contrast-to-noise at or above which a candidate is a counted nodule.
    possible_conspicuity : float
        Contrast-to-noise at or above which a candidate is listed as a possible nodule.
    definite_margin_hu : float
        A counted nodule's peak must exceed the threshold by at least this much ...
    definite_margin_sd : float
        ... and by this many noise SDs of the scan (the skin's own noise tail reaches
        150-165 HU on sharp kernels: peaks just above the threshold stay "possible").
    rim_fraction : float
        A candidate with at least this fraction of voxels in the outermost skin voxel layer is
        a skin-edge rim.
    vessel_elongation : float
        Principal-axis ratio above which a low-density candidate is a vessel.
    vessel_min_extent_mm : float
        ... and at least this long (a nodule-sized speck is judged by its contrast instead).
    vessel_max_peak_hu : float
        Enhancing vessels peak below this HU (blood on routine contrast CT reaches 200-350 HU;
        calcified linear lesions are denser).
    periosteal_depth_mm : float
        Candidates deeper than this below the skin ...
    periosteal_bone_dist_mm : float
        ... and this close to bone are periosteal bone partial volume: dermal nodules lie in
        the dermis and upper subcutis (osteoma cutis, seed 000), not on the bone.
    cavity_wall_depth_mm : float
        Candidates touching air inside the sealed body within 4 mm of bone are the wall of a
        sinus or of the nasal cavity (bone partial volume) when deeper than this; shallower,
        the air is a nostril, the gap behind an auricle or between the lips, next to skin.
    possible_margin_hu : float
        A possible nodule's peak must exceed the threshold by this much (lower peaks are the
        skin's noise tail and are rejected as noise spikes).
    bump_ring_mm : float
        Nodules lying on bone (:mod:`calcscan.detect.bumps`): radius of the ring in the skin's
        tangent plane that must be dark all round a bright summit next to bone (0 turns the
        search off).
    bump_ring_max_mm : float
        Widest ring for a bump too wide for ``bump_ring_mm`` (1 mm outside its half-contrast
        edge); equal to ``bump_ring_mm`` to test one ring only.
    bump_ring_fraction : float
        ... every ring sample below this fraction of the summit's contrast above soft tissue
    bump_under_mm : float
        ... and bone (the bone threshold) within this distance below the ring, along the
        inward skin normal ...
    bump_floor_fraction : float
        ... under at least this share of the ring's points (else it is the free end of a
        bone plate, not a bump on a floor of bone).
    bump_min_peak_hu : float
        Dimmest summit searched for a bump on bone: 200 HU, clear of the skin's noise tail
        (150-165 HU) and the level from which a nodule must be found (issue 3's sensitivity
        counts nodules whose rendered peak reaches 200 HU). A bump still has to pass the
        conspicuity and peak tests of a counted nodule.
    """

    threshold_hu: float = 150.0
    min_size_mm: float = 0.0
    max_size_mm: float = 12.0
    connectivity: int = 26
    max_depth_mm: float = 10.0
    coarse_grid_mm: float = 1.2
    seal_radius_mm: float = 4.0
    body_threshold_hu: float = -400.0
    bone_threshold_hu: float = 250.0
    bone_min_volume_mm3: float = 300.0
    bone_opening_mm: float = 2.5
    bone_piece_min_volume_mm3: float = 80.0
    bone_margin_mm: float = 0.0
    bone_dip_sd: float = 3.0
    bone_dip_fraction: float = 0.1
    bone_raw_dip_fraction: float = 0.3
    thick_slice_mm: float = 2.0
    protrusion_radius_mm: float = 4.0
    cartilage_max_peak_hu: float = 350.0
    metal_threshold_hu: float = 3000.0
    metal_streak_radius_mm: float = 25.0
    metal_streak_slab_mm: float = 5.0
    definite_conspicuity: float = 5.0
    possible_conspicuity: float = 3.5
    definite_margin_hu: float = 50.0
    definite_margin_sd: float = 3.0
    rim_fraction: float = 0.6
    vessel_elongation: float = 2.0
    vessel_min_extent_mm: float = 4.0
    vessel_max_peak_hu: float = 350.0
    periosteal_depth_mm: float = 6.0
    periosteal_bone_dist_mm: float = 2.0
    cavity_wall_depth_mm: float = 6.0
    possible_margin_hu: float = 20.0
    bump_ring_mm: float = 2.5
    bump_ring_max_mm: float = 4.0
    bump_ring_fraction: float = 0.4
    bump_under_mm: float = 4.0
    bump_floor_fraction: float = 0.75
    bump_min_peak_hu: float = 200.0

    def __post_init__(self) -> None:
        if self.connectivity not in (6, 18, 26):
            raise UsageError(f"connectivity must be 6, 18 or 26, got {self.connectivity}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_mm", "_mm3")) and value < 0:
                raise UsageError(f"{f.name} must be >= 0, got {value}")
        if self.max_depth_mm <= 0:
            raise UsageError("max_depth_mm must be > 0 (e.g. --max-depth-mm 8)")
        if self.possible_conspicuity > self.definite_conspicuity:
            raise UsageError("possible_conspicuity must not exceed definite_conspicuity")

    def to_dict(self) -> dict[str, Any]:
        """All options as a plain dict (JSON-ready)."""
        return asdict(self)

    def digest(self) -> str:
        """Short sha256 (16 hex) of the canonical JSON of the options."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_options(self, **changes: Any) -> DetectConfig:
        """Copy with some options changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
