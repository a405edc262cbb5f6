"""Nodule specifications (what to render) and ground truth (what ended up in the image)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SHAPES", "NoduleSpec", "TruthNodule", "read_truth", "write_truth"]

#: Nodule shapes the renderer knows.
SHAPES = ("sphere", "ellipsoid", "flocculent", "linear")


@dataclass(frozen=True)
class NoduleSpec:
    """One nodule to render.

    Parameters
    ----------
    center_lps_mm : tuple of float
        Centre in DICOM LPS mm.
    diameter_mm : float
        Equivalent-sphere diameter (ellipsoids keep this volume; flocculent nodules fit in it).
    density_hu : float
        Material density of the (shell of the) nodule before blur.
    ring : bool
        Central lucency: an ossified shell around fatty marrow (inner half of the radius).
    shape : {"sphere", "ellipsoid", "flocculent", "linear"}
        "linear" is a rod (prolate ellipsoid, aspect 4-6) of the same volume.
    region, side : str or None
        Facial region and side when known by construction.
    """

    center_lps_mm: tuple[float, float, float]
    diameter_mm: float
    density_hu: float
    ring: bool = False
    shape: str = "sphere"
    region: str | None = None
    side: str | None = None

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")
        if not self.diameter_mm > 0:
            raise ValueError(f"diameter_mm must be > 0, got {self.diameter_mm}")


@dataclass
class TruthNodule:
    """Ground truth of one rendered nodule.

    Attributes
    ----------
    id : int
    centroid_lps_mm : tuple of float
        Volume-weighted centroid of the rendered occupancy, LPS mm.
    diameter_mm : float
        Nominal (spec) equivalent diameter.
    volume_mm3 : float
        Rendered volume (sum of voxel occupancy fractions times voxel volume).
    density_hu : float
    ring : bool
    shape : str
    rendered_peak_hu : float
        Highest HU of the final image inside the nodule's footprint (blurred occupancy at least
        half of its maximum), noise and background included.
    region, side : str or None
    depth_mm : float or None
        Centre depth below the skin when known.
    """

    id: int
    centroid_lps_mm: tuple[float, float, float]
    diameter_mm: float
    volume_mm3: float
    density_hu: float
    ring: bool
    shape: str
    rendered_peak_hu: float
    region: str | None = None
    side: str | None = None
    depth_mm: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["centroid_lps_mm"] = [float(v) for v in self.centroid_lps_mm]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TruthNodule:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["centroid_lps_mm"] = tuple(float(v) for v in kw["centroid_lps_mm"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in kw.items() if k in known})


def write_truth(
    path: str | Path,
    nodules: list[TruthNodule],
    *,
    regions_present: list[str] | None = None,
    generator: dict[str, Any] | None = None,
) -> Path:
    """Write the ground-truth JSON ``{"nodules", "regions_present", "generator"}``.

    Parameters
    ----------
    path : str or Path
    nodules : list of TruthNodule
    regions_present : list of str, optional
        Facial regions the image contains (where a nodule could have been found).
    generator : dict, optional
        Generator name, parameters and seed.
    """
    from calcscan.cli.console import to_jsonable

    out = Path(path)
    payload = {
        "nodules": [n.to_dict() for n in nodules],
        "regions_present": list(regions_present or []),
        "generator": dict(generator or {}),
    }
    out.write_text(json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")
    return out


def read_truth(path: str | Path) -> tuple[list[TruthNodule], dict[str, Any]]:
    """Read a ground-truth JSON written by :func:`write_truth`.

    Returns
    -------
    nodules : list of TruthNodule
    payload : dict
        The whole JSON object (``regions_present``, ``generator``).
    """
    from calcscan.errors import InputError

    p = Path(path)
    try:
        payload = json.loads(p.read_text())
        nodules = [TruthNodule.from_dict(d) for d in payload["nodules"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"cannot read ground truth {p}: {exc} (expected a truth.json written by calcscan)"
        ) from None
    return nodules, payload
