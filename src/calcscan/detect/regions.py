"""Facial region and side of every nodule, distribution pattern and left/right symmetry.

Region definitions are data (``regions.yaml``, documented in ``docs/regions.md``): ordered
rules on face-frame coordinates. The distribution pattern follows the reference study's
Table 2 categories with the rule documented in :func:`distribution_pattern`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from calcscan.contracts import REGION_KEYS
from calcscan.detect.landmarks import FaceFrame

__all__ = [
    "assign_region",
    "binomial_p_half",
    "distribution_pattern",
    "load_region_rules",
    "symmetry",
]

_FEATURES = ("abs_lateral_mm", "anterior_mm", "superior_mm", "azimuth_deg", "eye_dist_mm")


@lru_cache(maxsize=1)
def load_region_rules() -> dict[str, Any]:
    """The region definitions shipped with calcscan (``calcscan/detect/regions.yaml``)."""
    text = resources.files("calcscan.detect").joinpath("regions.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    for rule in data["rules"]:
        if rule["region"] not in REGION_KEYS:
            raise ValueError(f"regions.yaml: unknown region {rule['region']!r}")
        unknown = set(rule) - {"region", *_FEATURES}
        if unknown:
            raise ValueError(f"regions.yaml: unknown condition(s) {sorted(unknown)}")
    return data


def face_features(
    frame: FaceFrame, point_lps_mm: NDArray[Any], normal_lps: NDArray[Any] | None
) -> dict[str, float]:
    """Face-frame features of one point (see ``regions.yaml`` for their meaning)."""
    rules = load_region_rules()
    lat, ant, sup = frame.to_face(np.asarray(point_lps_mm, float))
    if normal_lps is not None and np.linalg.norm(normal_lps) > 0:
        n_lat, n_ant, _ = frame.direction_to_face(np.asarray(normal_lps, float))
        azimuth = math.degrees(math.atan2(abs(n_lat), n_ant))
    else:
        azimuth = math.degrees(math.atan2(abs(lat), max(ant + 60.0, 1e-6)))
    eye = float(rules["eye_offset_mm"])
    return {
        "lateral_mm": float(lat),
        "abs_lateral_mm": abs(float(lat)),
        "anterior_mm": float(ant),
        "superior_mm": float(sup),
        "azimuth_deg": float(azimuth),
        "eye_dist_mm": float(math.hypot(abs(lat) - eye, sup)),
    }


def assign_region(
    frame: FaceFrame, point_lps_mm: NDArray[Any], normal_lps: NDArray[Any] | None = None
) -> tuple[str, str]:
    """Region and side of a point on the face.

    Parameters
    ----------
    frame : FaceFrame
    point_lps_mm : array_like, shape (3,)
    normal_lps : array_like, shape (3,), optional
        Outward skin normal at the point (LPS); without it, a direction from the head centre.

    Returns
    -------
    (region, side) : tuple of str
        ``region`` is one of ``REGION_KEYS``; ``side`` is "left", "right" or "midline".
    """
    rules = load_region_rules()
    feats = face_features(frame, point_lps_mm, normal_lps)
    band = float(rules["midline_band_mm"])
    lat = feats["lateral_mm"]
    side = "left" if lat > band else ("right" if lat < -band else "midline")
    for rule in rules["rules"]:
        ok = True
        for key in _FEATURES:
            if key not in rule:
                continue
            lo, hi = rule[key]
            v = feats[key]
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                ok = False
                break
        if ok:
            return str(rule["region"]), side
    return "other", side


def distribution_pattern(counts_by_region: Mapping[str, int]) -> str:
    """Table 2 category of a study from its counts by region.

    Rule: a region is *involved* when it holds at least 20 % of the nodules (and at least one).
    No nodules -> "none". Frontal and maxillary both involved -> "frontal_maxillary". Otherwise
    the involved region with the most nodules names the pattern (periorbital -> "orbital";
    nasal, scalp and other -> "other"); ties go to the order frontal, maxillary, temporal,
    mandibular_buccal, periorbital.
    """
    total = sum(int(v) for v in counts_by_region.values())
    if total == 0:
        return "none"
    involved = {k for k, v in counts_by_region.items() if v > 0 and v >= 0.2 * total}
    if not involved:  # spread thinly over many regions: the largest ones decide
        involved = {k for k, v in counts_by_region.items() if v > 0}
    if {"frontal", "maxillary"} <= involved:
        return "frontal_maxillary"
    order = ["frontal", "maxillary", "temporal", "mandibular_buccal", "periorbital"]
    ranked = sorted(
        involved,
        key=lambda k: (-counts_by_region[k], order.index(k) if k in order else len(order)),
    )
    top = ranked[0]
    if top == "periorbital":
        return "orbital"
    if top in ("frontal", "maxillary", "temporal", "mandibular_buccal"):
        return top
    return "other"


def binomial_p_half(k: int, n: int) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` trials against p = 0.5.

    The value of ``scipy.stats.binomtest(k, n, 0.5).pvalue``: the distribution is symmetric,
    so the outcomes at most as likely as ``k`` are the two tails beyond ``min(k, n - k)``.
    Computed from the binomial CDF of ``scipy.special`` (already loaded with ``scipy.ndimage``)
    because importing ``scipy.stats`` costs ~0.35 s, more than half a detection, in the
    first study of every process.

    Parameters
    ----------
    k, n : int
        Successes and trials (0 <= k <= n, n >= 1).

    Returns
    -------
    float
    """
    from scipy.special import bdtr

    m = min(k, n - k)
    if 2 * m >= n:
        return 1.0
    return min(1.0, 2.0 * float(bdtr(m, n, 0.5)))


def symmetry(sides: Iterable[str]) -> dict[str, Any]:
    """Left/right balance of the nodules.

    Returns
    -------
    dict
        ``left``, ``right``, ``midline`` counts; ``balance`` = (left - right) / (left + right)
        (null without lateral nodules); ``binomial_p`` two-sided exact test of left = right;
        ``symmetric`` true when that test does not reject at 0.05.
    """
    s = list(sides)
    left, right, mid = s.count("left"), s.count("right"), s.count("midline")
    n = left + right
    if n == 0:
        return {
            "left": left,
            "right": right,
            "midline": mid,
            "balance": None,
            "binomial_p": None,
            "symmetric": None,
        }
    p = binomial_p_half(left, n)
    return {
        "left": left,
        "right": right,
        "midline": mid,
        "balance": (left - right) / n,
        "binomial_p": p,
        "symmetric": bool(p >= 0.05),
    }
