"""Parse and validate a findings object (CONTRACTS.md section 3) and derive the lab states."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from calcscan.ddx.vocab import (
    BODY_REGIONS,
    COMPARTMENTS,
    DISTRIBUTIONS,
    FINDING_KEYS,
    HISTORY,
    LAB_CATEGORICAL,
    LAB_NUMERIC,
    MINERALS,
    MORPHOLOGIES,
    SEXES,
    SYMPTOMS,
)
from calcscan.errors import UsageError

__all__ = ["Findings", "derive_lab_states", "implied_region", "interpret_site", "parse_findings"]

_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "morphology": MORPHOLOGIES,
    "distribution": DISTRIBUTIONS,
    "history": HISTORY,
    "symptoms": SYMPTOMS,
}
_NUMBER_KEYS = ("age_years", "size_mm", "weeks_since_event")


@dataclass(frozen=True)
class Findings:
    """Validated findings; ``None``/empty means not given (never "absent")."""

    age_years: float | None = None
    sex: str | None = None
    site: str | None = None
    body_region: str | None = None
    compartment: str | None = None
    mineral: str | None = None
    morphology: tuple[str, ...] = ()
    distribution: tuple[str, ...] = ()
    size_mm: float | None = None
    labs: dict[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] | None = None
    symptoms: tuple[str, ...] | None = None
    weeks_since_event: float | None = None

    def is_empty(self) -> bool:
        """True when nothing but free text was given (a prior-only differential)."""
        return (
            self.age_years is None
            and self.sex is None
            and self.body_region is None
            and self.compartment in (None, "unknown")
            and self.mineral in (None, "unknown")
            and not self.morphology
            and not self.distribution
            and self.size_mm is None
            and not self.labs
            and not self.history
            and not self.symptoms
            and self.weeks_since_event is None
        )

    def to_dict(self) -> dict[str, Any]:
        """The findings as a JSON-ready dict with only the given keys."""
        out: dict[str, Any] = {}
        for key in FINDING_KEYS:
            value = getattr(self, key)
            if value is None or value == () or value == {}:
                continue
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


def _accepted(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(values)


def _number(key: str, value: Any, *, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"findings: '{key}' must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise UsageError(f"findings: '{key}' must lie in [{low}, {high}], got {value}")
    return float(value)


def _choice(key: str, value: Any, accepted: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise UsageError(
            f"findings: unknown {key} {value!r}; accepted values: {_accepted(accepted)}"
        )
    return value


def _terms(key: str, value: Any, accepted: tuple[str, ...]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise UsageError(
            f"findings: '{key}' must be a list of terms; accepted: {_accepted(accepted)}"
        )
    out: list[str] = []
    for item in items:
        term = _choice(key, item, accepted)
        if term not in out:
            out.append(term)
    return tuple(out)


def _labs(value: Any) -> dict[str, Any]:
    accepted = [*LAB_NUMERIC, *LAB_CATEGORICAL]
    if not isinstance(value, dict):
        raise UsageError(f"findings: 'labs' must be an object with keys: {_accepted(accepted)}")
    labs: dict[str, Any] = {}
    for key, raw in value.items():
        if key in LAB_NUMERIC:
            labs[key] = _number(f"labs.{key}", raw, high=1000.0)
        elif key == "renal_failure":
            if not isinstance(raw, bool):
                raise UsageError("findings: 'labs.renal_failure' must be true or false")
            labs[key] = raw
        elif key in LAB_CATEGORICAL:
            labs[key] = _choice(f"labs.{key}", raw, LAB_CATEGORICAL[key])
        else:
            raise UsageError(f"findings: unknown lab {key!r}; accepted keys: {_accepted(accepted)}")
    return labs


def parse_findings(data: Any) -> Findings:
    """Validate a findings object against the contract vocabulary.

    Parameters
    ----------
    data : dict
        The decoded FINDINGS.json object. Every key is optional.

    Returns
    -------
    Findings

    Raises
    ------
    UsageError
        One line naming the unknown key or value and listing the accepted ones.
    """
    if not isinstance(data, dict):
        raise UsageError('findings: expected one JSON object, e.g. {"age_years": 45}')
    unknown = [k for k in data if k not in FINDING_KEYS]
    if unknown:
        raise UsageError(
            f"findings: unknown key {unknown[0]!r}; accepted keys: {_accepted(FINDING_KEYS)}"
        )
    kw: dict[str, Any] = {}
    for key in _NUMBER_KEYS:
        if data.get(key) is not None:
            kw[key] = _number(key, data[key], high=150.0 if key == "age_years" else 1e5)
    if data.get("sex") is not None:
        kw["sex"] = _choice("sex", data["sex"], SEXES)
    if data.get("site") is not None:
        if not isinstance(data["site"], str):
            raise UsageError("findings: 'site' must be free text")
        kw["site"] = data["site"]
    if data.get("body_region") is not None:
        kw["body_region"] = _choice("body_region", data["body_region"], BODY_REGIONS)
    if data.get("compartment") is not None:
        kw["compartment"] = _choice("compartment", data["compartment"], COMPARTMENTS)
    if data.get("mineral") is not None:
        kw["mineral"] = _choice("mineral", data["mineral"], MINERALS)
    for key, vocab in _LIST_KEYS.items():
        if data.get(key) is not None:
            kw[key] = _terms(key, data[key], vocab)
    if data.get("labs") is not None:
        kw["labs"] = _labs(data["labs"])
    return Findings(**kw)


def derive_lab_states(
    labs: dict[str, Any], rules: dict[str, Any], age_years: float | None = None
) -> dict[str, str]:
    """Bin numeric labs into the states the knowledge base scores.

    Parameters
    ----------
    labs : dict
        Validated ``labs`` of the findings.
    rules : dict
        ``lab_rules`` of ``meta.yaml`` (thresholds in mg/dL and mg2/dL2).
    age_years : float, optional
        Age, for the paediatric phosphate limit.

    Returns
    -------
    dict
        ``{lab: state}``, e.g. ``{"phosphate": "high", "ca_x_p": "high", "pth": "normal"}``.
    """
    states: dict[str, str] = {}
    ca = labs.get("calcium_mg_dl")
    p = labs.get("phosphate_mg_dl")
    if ca is not None:
        low, high = rules["calcium_low_mg_dl"], rules["calcium_high_mg_dl"]
        states["calcium"] = "low" if ca < low else "high" if ca > high else "normal"
    if p is not None:
        child = age_years is not None and age_years < rules["child_age_years"]
        high = rules["phosphate_high_child_mg_dl"] if child else rules["phosphate_high_mg_dl"]
        states["phosphate"] = (
            "low" if p < rules["phosphate_low_mg_dl"] else "high" if p > high else "normal"
        )
    product = labs.get("ca_x_p_mg2_dl2")
    if product is None and ca is not None and p is not None:
        product = ca * p
    if product is not None:
        states["ca_x_p"] = (
            "high"
            if product >= rules["ca_x_p_high_mg2_dl2"]
            else "borderline"
            if product >= rules["ca_x_p_borderline_mg2_dl2"]
            else "normal"
        )
    for key in LAB_CATEGORICAL:
        if key in labs:
            value = labs[key]
            states[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return states


def interpret_site(f: Findings, keywords: list[list[str]]) -> tuple[Findings, dict[str, Any]]:
    """Fill ``body_region`` (and bilateral/fingertips) from the free-text ``site``.

    Parameters
    ----------
    f : Findings
    keywords : list of [keyword, field, value]
        ``site_keywords`` of ``meta.yaml``; whole-word, case-insensitive, in order.

    Returns
    -------
    (Findings, dict)
        The completed findings and what was derived (empty when nothing was).
    """
    if not f.site:
        return f, {}
    text = f.site.lower()
    derived: dict[str, Any] = {}
    region = f.body_region
    dist = list(f.distribution)
    for word, fld, value in keywords:
        if not re.search(rf"\b{re.escape(word)}s?\b", text):
            continue
        if fld == "body_region" and region is None:
            region = value
            derived["body_region"] = value
        elif fld == "distribution" and value not in dist:
            dist.append(value)
            derived.setdefault("distribution", []).append(value)
    if not derived:
        return f, {}
    return dataclasses.replace(f, body_region=region, distribution=tuple(dist)), derived


def implied_region(f: Findings) -> str | None:
    """Body region, implied by the 'face' or 'fingertips' distribution when not given."""
    if f.body_region is not None:
        return f.body_region
    if "face" in f.distribution:
        return "head_face"
    if "fingertips" in f.distribution:
        return "fingers"
    return None
