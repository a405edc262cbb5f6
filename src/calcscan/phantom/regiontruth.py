"""Region truth from the project's region definitions, measured independently of the detector.

The facial regions are defined once, as data, in ``calcscan/detect/regions.yaml`` (features of
a point in a face frame: distance from the midline, position relative to the globe centres,
azimuth of the skin's outward normal, distance to the nearer globe). The validator evaluates
those definitions with its OWN frame and normals: the phantom's globes are known by
construction and the real heads' globes were annotated by hand (``landmarks.yaml``); normals
come from the validator's own depth maps. Nodules whose region changes under small
perturbations (``margin_mm`` along each frame axis, ``margin_deg`` of azimuth) get no region
truth: a border case is not a fair test of either side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FaceAxes", "classify_regions", "region_definitions", "region_truth"]


@functools.cache
def region_definitions() -> dict[str, Any]:
    """The project's region rules (``calcscan/detect/regions.yaml``, read as data)."""
    import yaml

    text = resources.files("calcscan.detect").joinpath("regions.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@dataclass(frozen=True)
class FaceAxes:
    """Face frame: origin between the globes, unit lateral (to the left), anterior, superior."""

    origin: NDArray[np.float64]
    lateral: NDArray[np.float64]
    anterior: NDArray[np.float64]
    superior: NDArray[np.float64]

    @classmethod
    def from_globes(cls, right_lps_mm: ArrayLike, left_lps_mm: ArrayLike) -> FaceAxes:
        """Frame from the two globe centres (superior = LPS +z made orthogonal)."""
        r = np.asarray(right_lps_mm, dtype=np.float64)
        left = np.asarray(left_lps_mm, dtype=np.float64)
        lat = (left - r) / np.linalg.norm(left - r)
        sup = np.array([0.0, 0.0, 1.0]) - lat[2] * lat
        sup /= np.linalg.norm(sup)
        ant = np.cross(lat, sup)  # LPS -y for an upright head
        return cls(origin=0.5 * (r + left), lateral=lat, anterior=ant, superior=sup)

    def basis(self) -> NDArray[np.float64]:
        """3x3 matrix whose columns are (lateral, anterior, superior)."""
        return np.stack([self.lateral, self.anterior, self.superior], axis=1)


def _features(
    lat: NDArray[np.float64],
    ant: NDArray[np.float64],
    sup: NDArray[np.float64],
    azimuth: NDArray[np.float64],
    eye_offset_mm: float,
) -> dict[str, NDArray[np.float64]]:
    return {
        "abs_lateral_mm": np.abs(lat),
        "anterior_mm": ant,
        "superior_mm": sup,
        "azimuth_deg": azimuth,
        "eye_dist_mm": np.hypot(np.abs(lat) - eye_offset_mm, sup),
    }


def classify_regions(features: dict[str, NDArray[np.float64]]) -> NDArray[np.str_]:
    """First matching rule of the definitions for every point ("other" if none)."""
    rules = region_definitions()["rules"]
    n = len(next(iter(features.values())))
    out = np.full(n, "other", dtype=object)
    done = np.zeros(n, dtype=bool)
    for rule in rules:
        ok = ~done
        for key, bounds in rule.items():
            if key == "region":
                continue
            lo, hi = bounds
            v = features[key]
            if lo is not None:
                ok &= v >= lo
            if hi is not None:
                ok &= v <= hi
        out[ok] = rule["region"]
        done |= ok
    return out.astype(str)


def region_truth(
    axes: FaceAxes,
    points_lps_mm: ArrayLike,
    normals_lps: ArrayLike,
    *,
    margin_mm: float = 3.0,
    margin_deg: float = 10.0,
) -> list[str | None]:
    """Region of each point, or None where small perturbations change it.

    Parameters
    ----------
    axes : FaceAxes
    points_lps_mm : array_like, shape (n, 3)
    normals_lps : array_like, shape (n, 3)
        Outward skin normals (need not be unit length).
    margin_mm, margin_deg : float
        Perturbations of the position (each frame axis, both signs) and of the azimuth.
    """
    p = np.atleast_2d(np.asarray(points_lps_mm, dtype=np.float64))
    nrm = np.atleast_2d(np.asarray(normals_lps, dtype=np.float64))
    f = (p - axes.origin) @ axes.basis()
    g = nrm @ axes.basis()
    az = np.degrees(np.arctan2(np.abs(g[:, 0]), g[:, 1]))
    eye = float(region_definitions()["eye_offset_mm"])
    base = classify_regions(_features(f[:, 0], f[:, 1], f[:, 2], az, eye))
    stable = np.ones(len(p), dtype=bool)
    for axis in range(4):
        for sgn in (-1.0, 1.0):
            q = f.copy()
            a = az.copy()
            if axis < 3:
                q[:, axis] += sgn * margin_mm
            else:
                a = a + sgn * margin_deg
            alt = classify_regions(_features(q[:, 0], q[:, 1], q[:, 2], a, eye))
            stable &= alt == base
    return [str(b) if s else None for b, s in zip(base, stable, strict=True)]
