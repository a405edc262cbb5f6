"""Region truth for nodules inserted into real heads with hand-annotated globe landmarks."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from numpy.typing import ArrayLike

from calcscan.phantom.regiontruth import FaceAxes, region_truth

__all__ = ["HeadLandmarks", "known_landmarks", "landmarks_for"]


@functools.cache
def _table() -> dict[str, Any]:
    import yaml

    text = resources.files("calcscan.phantom").joinpath("landmarks.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)["heads"]
    return data


@dataclass(frozen=True)
class HeadLandmarks:
    """Globe centres of one real head (LPS mm) and the head frame they define."""

    name: str
    globe_right_lps_mm: tuple[float, float, float]
    globe_left_lps_mm: tuple[float, float, float]

    def axes(self) -> FaceAxes:
        """Face frame defined by the two globes."""
        return FaceAxes.from_globes(self.globe_right_lps_mm, self.globe_left_lps_mm)

    def region(self, lps_mm: ArrayLike, normal_lps: ArrayLike) -> list[str | None]:
        """Region truth of points with outward skin normals (None near a region border)."""
        return region_truth(self.axes(), lps_mm, normal_lps)


def known_landmarks() -> dict[str, HeadLandmarks]:
    """All annotated heads, keyed by study_key."""
    return {k: landmarks_for(k) for k in _table()}  # type: ignore[misc]


def landmarks_for(study_key: str) -> HeadLandmarks | None:
    """Landmarks of the head with this study_key, or None when it was not annotated."""
    row = _table().get(study_key)
    if row is None:
        return None
    return HeadLandmarks(
        name=str(row["name"]),
        globe_right_lps_mm=tuple(float(v) for v in row["globe_right_lps_mm"]),  # type: ignore[arg-type]
        globe_left_lps_mm=tuple(float(v) for v in row["globe_left_lps_mm"]),  # type: ignore[arg-type]
    )
