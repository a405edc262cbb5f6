"""Result plumbing shared by the statistics modules: strict-JSON conversion and "not estimable"."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NotEstimable", "Result", "clean", "finite_or_none"]


def finite_or_none(value: Any) -> float | None:
    """Return ``value`` as a float, or ``None`` when it is missing or not finite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def clean(obj: Any) -> Any:
    """Recursively convert numpy types to Python ones and non-finite floats to ``None``."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return obj.to_dict() if hasattr(obj, "to_dict") else clean(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return finite_or_none(obj)
    return obj


@dataclass(frozen=True)
class Result:
    """Base of every analysis result: ``to_dict()`` gives strict-JSON-ready values."""

    def to_dict(self) -> dict[str, Any]:
        """Fields as a JSON-ready dict with ``"estimable": true`` (NaN/inf become ``None``)."""
        out: dict[str, Any] = {"estimable": True}
        for f in dataclasses.fields(self):
            out[f.name] = clean(getattr(self, f.name))
        return out


@dataclass(frozen=True)
class NotEstimable:
    """An analysis that cannot be estimated on this data, with the reason.

    Attributes
    ----------
    reason : str
        Why, in words a reader can act on (e.g. "every subject is positive").
    """

    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"estimable": false, "reason": ...}``."""
        return {"estimable": False, "reason": self.reason}
