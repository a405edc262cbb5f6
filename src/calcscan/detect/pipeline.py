"""Detection pipeline: CTScan -> StudyRecord (:func:`detect_scan`), path -> record."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcscan import __version__
from calcscan.detect.candidates import (
    Candidate,
    find_candidates,
    matched_filter_sigma_px,
    outside_components,
)
from calcscan.detect.config import DetectConfig
from calcscan.detect.landmarks import FaceFrame, find_face_frame
from calcscan.detect.mimics import MetalStreaks, classify, metal_points, rejection_reason
from calcscan.detect.morphology import classify_morphology
from calcscan.detect.qc import run_qc
from calcscan.detect.record import StudyRecord, nodule_dict
from calcscan.detect.regions import assign_region, distribution_pattern, face_features, symmetry
from calcscan.detect.tissue import TissueLayers, compute_tissue, estimate_noise
from calcscan.scan import CTScan
from calcscan.threads import Beside

__all__ = ["DetectionResult", "detect_path", "detect_scan", "run_detection"]

log = logging.getLogger(__name__)


class DetectionResult:
    """Record plus the intermediate objects (for key images and debugging)."""

    def __init__(
        self,
        record: StudyRecord,
        layers: TissueLayers,
        frame: FaceFrame,
        candidates: list[Candidate],
    ) -> None:
        self.record = record
        self.layers = layers
        self.frame = frame
        self.candidates = candidates


def _outward_normal(scan: CTScan, layers: TissueLayers, fine_idx: NDArray[Any]) -> NDArray[Any]:
    """Outward skin normal (LPS unit vector) at a point a few mm below the skin.

    Gradient of the body mask smoothed with a 2.5 mm Gaussian in a ~5 mm box: the skin itself
    (the sealed mask's closing bends the normal near the auricles and nostrils). The gradient
    per index step is mapped to LPS with the inverse transpose of the grid's Jacobian, which
    stays right on sheared (gantry-tilted) grids.
    """
    from scipy import ndimage

    c = layers.coarse_index(np.round(fine_idx).astype(int)[None, :])[0]
    sp = np.asarray(layers.spacing_mm, dtype=np.float64)
    half = np.maximum(1, np.round(5.0 / sp).astype(int))
    lo = np.maximum(c - half, 0)
    hi = np.minimum(c + half + 1, layers.body.shape)
    box = layers.body[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].astype(np.float64)
    if min(box.shape) < 2:
        return np.zeros(3)
    smooth = ndimage.gaussian_filter(box, 2.5 / sp, mode="nearest")
    at = tuple(np.clip(c - lo, 0, np.asarray(box.shape) - 1))
    g_index = np.array([float(gr[at]) for gr in np.gradient(smooth)])
    jac = scan.affine_lps[:3, :3] * np.asarray(layers.factors, dtype=np.float64)[None, :]
    n = -np.linalg.solve(jac.T, g_index)
    norm = float(np.linalg.norm(n))
    return n / norm if norm > 0 else np.zeros(3)


def _study_key(scan: CTScan) -> str:
    if scan.study_key:
        return scan.study_key
    h = hashlib.sha256(np.ascontiguousarray(scan.hu[:: max(1, scan.shape[0] // 8)]).tobytes())
    h.update(np.asarray(scan.affine_lps).tobytes())
    return h.hexdigest()[:16]


def run_detection(scan: CTScan, config: DetectConfig | None = None) -> DetectionResult:
    """Full detection with intermediate results (see :func:`detect_scan`)."""
    config = config or DetectConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    layers = compute_tissue(scan.hu, scan.spacing_mm, config)
    timings["tissue"] = time.perf_counter() - t0
    # the face frame needs only the tissue maps: found on a second thread while the
    # candidates are measured
    landmarks = Beside(find_face_frame, scan, layers)
    t = time.perf_counter()
    sigma_raw, sigma_smooth = estimate_noise(
        scan.hu, layers, smooth_sigma_px=matched_filter_sigma_px(scan.spacing_mm)
    )
    found = find_candidates(
        scan, layers, config, sigma_smooth_hu=sigma_smooth, sigma_raw_hu=sigma_raw
    )
    candidates = found.candidates
    n_outside = outside_components(scan.hu, layers, config)
    timings["candidates"] = time.perf_counter() - t
    frame = landmarks.result()
    timings["landmarks"] = landmarks.seconds
    t = time.perf_counter()
    metal, n_metal = metal_points(scan.hu, scan.spacing_mm, config, layers)
    voxel_mm3 = float(abs(np.linalg.det(scan.affine_lps[:3, :3])))
    metal_volume = float(n_metal) * voxel_mm3
    streaks = MetalStreaks(metal, scan.spacing_mm) if len(metal) else None
    rejected: Counter[str] = Counter()
    if n_outside:
        rejected["outside_skin"] = n_outside
    rejected.update(found.prefiltered)
    kept: list[Candidate] = []
    for cand in candidates:
        if cand.reason is not None:  # decided while measuring (the slope of the bone)
            rejected[cand.reason] += 1
            continue
        normal = _outward_normal(scan, layers, cand.centroid_index)
        feats = face_features(frame, cand.centroid_lps_mm, normal)
        cand.region, cand.side = assign_region(frame, cand.centroid_lps_mm, normal)
        cand.measures["face"] = feats
        reason = rejection_reason(
            cand, config, metal=streaks, abs_lateral_mm=feats["abs_lateral_mm"]
        )
        if reason is not None:
            cand.reason, cand.status = reason, "rejected"
            rejected[reason] += 1
            continue
        cand.status = classify(cand, config, sigma_raw_hu=sigma_raw)
        cand.morphology = classify_morphology(cand.measures)
        kept.append(cand)
    timings["classify"] = time.perf_counter() - t
    kept.sort(key=lambda c: (-c.centroid_lps_mm[2], c.centroid_lps_mm[0]))
    definite = [c for c in kept if c.status == "definite"]
    possible = [c for c in kept if c.status == "possible"]

    def as_dicts(cs: list[Candidate]) -> list[dict[str, Any]]:
        return [
            nodule_dict(
                i,
                c.centroid_lps_mm.tolist(),
                c.measures,
                region=c.region,
                side=c.side,
                morphology=c.morphology,
            )
            for i, c in enumerate(cs, start=1)
        ]

    nodules = as_dicts(definite)
    possible_dicts = as_dicts(possible)
    qc = run_qc(
        scan,
        layers,
        frame,
        metal_volume_mm3=metal_volume,
        metal_streak_rejections=rejected.get("metal_streak", 0),
    )
    timings["total"] = time.perf_counter() - t0
    # stages in pipeline order; the landmarks ran beside the candidates (their seconds
    # overlap), so the stages may add up to more than the wall-clock total
    timings = {k: timings[k] for k in ("tissue", "landmarks", "candidates", "classify", "total")}
    prov = scan.provenance or {}
    counts: dict[str, int] = Counter(n["region"] for n in nodules)
    record = StudyRecord(
        software_version=__version__,
        config_digest=config.digest(),
        study_key=_study_key(scan),
        input=scan.source_path,
        series_instance_uid=prov.get("series_instance_uid") or prov.get("SeriesInstanceUID"),
        patient_age_years=scan.patient_age_years,
        patient_sex=scan.patient_sex,
        qc=qc.to_dict(),
        nodules=nodules,
        possible_nodules=possible_dicts,
        rejected=dict(sorted(rejected.items())),
        distribution_pattern=distribution_pattern(counts),
        timings_s=timings,
        symmetry=symmetry(n["side"] for n in nodules),
        landmarks={"method": frame.method, **frame.landmarks},
        noise={"fat_sd_hu": sigma_raw, "matched_sd_hu": sigma_smooth},
        config=config.to_dict(),
        warnings=list(scan.warnings) + [f"qc: {k}={v}" for k, v in qc.details.items()][:0],
    )
    record.landmarks["qc_details"] = qc.details
    return DetectionResult(record, layers, frame, candidates)


def detect_scan(scan: CTScan, config: DetectConfig | None = None) -> StudyRecord:
    """Detect, measure and map facial dermal calcified nodules in one CT scan.

    Parameters
    ----------
    scan : CTScan
        HU volume with LPS geometry.
    config : DetectConfig, optional
        Options (default: ``DetectConfig()``).

    Returns
    -------
    StudyRecord
        ``.to_dict()`` is the study record of CONTRACTS.md section 2.
    """
    return run_detection(scan, config).record


def detect_path(
    path: str | Path, config: DetectConfig | None = None, *, series_uid: str | None = None
) -> StudyRecord:
    """Read a CT input with :func:`calcscan.io.read_ct` and run :func:`detect_scan`.

    Parameters
    ----------
    path : str or Path
        DICOM folder/zip, NIfTI, NRRD or MHA file.
    config : DetectConfig, optional
    series_uid : str, optional
        SeriesInstanceUID to pick from a study folder.
    """
    scan = read_scan(path, series_uid=series_uid)
    return detect_scan(scan, config)


def read_scan(path: str | Path, *, series_uid: str | None = None) -> CTScan:
    """Read with ``calcscan.io.read_ct`` (passing ``series_uid`` when given)."""
    from calcscan.io import read_ct

    return read_ct(str(path), series_uid=series_uid)
