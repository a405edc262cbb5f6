"""Synthetic cohorts drawn from a documented model of the reference study's results.

Model (Kim et al., AJNR 2017; numbers in ``data/reference_kim2017.json``):

* sex: male with probability 599/1315 (45.6 %).
* age: normal with mean 51.5 and SD 18 years, redrawn until inside 4-90 (the study's range and
  its means of 52 / 51 years).
* presence of nodules: logistic, logit p = logit(0.421) + ln(1.02) (age - 51.5), no sex effect
  (the study's OR 1.02 per year, 42.1 % prevalence, P = .826 for sex).
* count among positives: 1 + negative binomial with mean 15 exp(0.03 (min(age, 55) - 55)) and
  dispersion k = 0.4: the count rises with age until about 55 and then plateaus (the study's
  non-linear relation: decade differences, H(8) = 27.46, with a weak linear trend, F(1,551) =
  2.79), mean about 14 among positives, a long right tail with a few counts > 100.
* distribution pattern among positives: Table 2 frequencies (frontal 285, frontal-maxillary 195,
  maxillary 60, temporal 7, mandibular/buccal 4, orbital 2 of 553), so frontal involvement is
  about 87 % and maxillary 46 %; a frontal-maxillary subject with a single nodule is redrawn as
  frontal or maxillary. Counts are split across the involved regions binomially.
* indication: Table 1 frequencies.

``max_count`` caps the count per subject (regions scaled down proportionally) so phantoms stay
small for the demo; the cap is recorded in the table (``count_uncapped``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from calcscan.contracts import REGION_KEYS

__all__ = [
    "PlannedNodule",
    "SimulationModel",
    "plan_nodules",
    "plan_region_counts",
    "reference_values",
    "simulate_cohort",
]

#: Regions involved by each distribution pattern.
_PATTERN_REGIONS: dict[str, tuple[str, ...]] = {
    "frontal": ("frontal",),
    "frontal_maxillary": ("frontal", "maxillary"),
    "maxillary": ("maxillary",),
    "temporal": ("temporal",),
    "mandibular_buccal": ("mandibular_buccal",),
    "orbital": ("periorbital",),
}


@cache
def reference_values() -> dict[str, Any]:
    """Published values of the reference study (package data ``reference_kim2017.json``)."""
    text = resources.files("calcscan.stats").joinpath("data/reference_kim2017.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class SimulationModel:
    """Parameters of the synthetic cohort model (defaults: the reference study)."""

    p_male: float = 599 / 1315
    age_mean_years: float = 51.5
    age_sd_years: float = 18.0
    age_min_years: float = 4.0
    age_max_years: float = 90.0
    prevalence_at_mean_age: float = 0.421
    odds_ratio_per_year: float = 1.02
    odds_ratio_male: float = 1.0
    count_mean_plateau: float = 15.0
    count_log_slope_per_year: float = 0.03
    count_plateau_age_years: float = 55.0
    count_dispersion_k: float = 0.4


def _draw_ages(rng: np.random.Generator, n: int, m: SimulationModel) -> np.ndarray:
    ages = rng.normal(m.age_mean_years, m.age_sd_years, n)
    bad = (ages < m.age_min_years) | (ages > m.age_max_years)
    while bad.any():
        ages[bad] = rng.normal(m.age_mean_years, m.age_sd_years, int(bad.sum()))
        bad = (ages < m.age_min_years) | (ages > m.age_max_years)
    return np.floor(ages)


def simulate_cohort(
    n: int,
    seed: int = 0,
    *,
    model: SimulationModel | None = None,
    max_count: int | None = None,
) -> pd.DataFrame:
    """Draw a synthetic cohort table (one row per subject) from the reference-study model.

    Parameters
    ----------
    n : int
        Number of subjects (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same table.
    model : SimulationModel, optional
        Model parameters (default: the reference study's results).
    max_count : int, optional
        Cap on ``nodule_count`` per subject (regional counts scaled down, at least one per
        involved region). ``count_uncapped`` keeps the drawn value.

    Returns
    -------
    DataFrame
        Columns ``study_key``, ``age_years``, ``sex``, ``nodule_count``, ``count_uncapped``,
        ``distribution_pattern``, ``counts_<region>`` for every region of
        :data:`calcscan.contracts.REGION_KEYS`, ``indication``, ``excluded`` (False).
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    m = model or SimulationModel()
    rng = np.random.default_rng(seed)
    ref = reference_values()
    sex = np.where(rng.random(n) < m.p_male, "M", "F")
    age = _draw_ages(rng, n, m)
    p0 = m.prevalence_at_mean_age
    logit = (
        np.log(p0 / (1 - p0))
        + np.log(m.odds_ratio_per_year) * (age - m.age_mean_years)
        + np.log(m.odds_ratio_male) * (sex == "M")
    )
    present = rng.random(n) < 1 / (1 + np.exp(-logit))
    plateau = m.count_plateau_age_years
    mu = m.count_mean_plateau * np.exp(
        m.count_log_slope_per_year * (np.minimum(age, plateau) - plateau)
    )
    k = m.count_dispersion_k
    counts = np.where(present, 1 + rng.negative_binomial(k, k / (k + mu)), 0)
    t2 = {p: v["all"] for p, v in ref["table2"].items() if p != "none"}
    names = list(t2)
    probs = np.array([t2[p] for p in names], dtype=float)
    probs /= probs.sum()
    singles = [i for i, p in enumerate(names) if len(_PATTERN_REGIONS[p]) == 1]
    single_p = probs[singles] / probs[singles].sum()
    ind_names = list(ref["table1_indications"])
    ind_p = np.array(list(ref["table1_indications"].values()), dtype=float)
    ind_p /= ind_p.sum()
    rows = []
    for i in range(n):
        region_counts: dict[str, int] = dict.fromkeys(REGION_KEYS, 0)
        total = int(counts[i])
        capped = total if max_count is None else min(total, max_count)
        pattern = "none"
        if total > 0:
            j = int(rng.choice(len(names), p=probs))
            if len(_PATTERN_REGIONS[names[j]]) > capped:
                j = singles[int(rng.choice(len(singles), p=single_p))]
            pattern = names[j]
            regs = _PATTERN_REGIONS[pattern]
            if len(regs) == 1:
                region_counts[regs[0]] = capped
            else:
                first = 1 + int(rng.binomial(capped - 2, 0.6))
                region_counts[regs[0]] = first
                region_counts[regs[1]] = capped - first
        rows.append(
            {
                "study_key": f"sim{seed}-{i:05d}",
                "age_years": float(age[i]),
                "sex": str(sex[i]),
                "nodule_count": capped,
                "count_uncapped": total,
                "distribution_pattern": pattern,
                **{f"counts_{r}": v for r, v in region_counts.items()},
                "indication": ind_names[int(rng.choice(len(ind_names), p=ind_p))],
                "excluded": False,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PlannedNodule:
    """One nodule to plant in a phantom.

    Attributes
    ----------
    region : str
        One of :data:`calcscan.contracts.REGION_KEYS`.
    side : {"left", "right", "midline"}
    diameter_mm : float
        Equivalent-sphere diameter.
    morphology : str
        One of :data:`calcscan.contracts.MORPHOLOGIES`.
    peak_hu : float
        Target peak attenuation.
    """

    region: str
    side: str
    diameter_mm: float
    morphology: str
    peak_hu: float


def _scaled_counts(row: pd.Series, max_per_subject: int | None) -> dict[str, int]:
    per_region: dict[str, int] = {r: int(row.get(f"counts_{r}", 0) or 0) for r in REGION_KEYS}
    total = sum(per_region.values())
    if max_per_subject is not None and total > max_per_subject:
        scale = max_per_subject / total
        per_region = {r: (max(1, int(c * scale)) if c else 0) for r, c in per_region.items()}
    return per_region


def plan_region_counts(
    cohort: pd.DataFrame, *, max_per_subject: int | None = 12
) -> dict[str, dict[str, int]]:
    """Per subject, how many nodules to plant in each region (non-zero regions only).

    The result plugs into ``calcscan.phantom.make_head_phantom(nodules={region: count})``.
    ``max_per_subject`` caps the total as in :func:`plan_nodules` (at least one per involved
    region); ``None`` keeps the table's counts.
    """
    return {
        str(row["study_key"]): {
            r: c for r, c in _scaled_counts(row, max_per_subject).items() if c > 0
        }
        for _, row in cohort.iterrows()
    }


def plan_nodules(
    cohort: pd.DataFrame, seed: int = 0, *, max_per_subject: int | None = 12
) -> dict[str, list[PlannedNodule]]:
    """Per subject, the nodules to plant: region, side, size and morphology.

    Sizes follow the reference study's description (most punctate, about 1 mm; occasional
    3-5 mm flocculent or ring-like foci with a central lucency); involvement is symmetric, so
    sides alternate left/right with a few midline frontal nodules.

    Parameters
    ----------
    cohort : DataFrame
        Rows of :func:`simulate_cohort` (needs ``study_key`` and ``counts_<region>``).
    seed : int
    max_per_subject : int or None
        Demo cap: regional counts are scaled down so a subject gets at most this many nodules
        (at least one per involved region). ``None``: plant every counted nodule.

    Returns
    -------
    dict
        ``{study_key: [PlannedNodule, ...]}`` (empty list for subjects without nodules).
    """
    rng = np.random.default_rng(seed)
    plans: dict[str, list[PlannedNodule]] = {}
    for _, row in cohort.iterrows():
        per_region = _scaled_counts(row, max_per_subject)
        specs: list[PlannedNodule] = []
        for region, count in per_region.items():
            for j in range(count):
                diameter = float(np.clip(rng.lognormal(np.log(1.4), 0.45), 0.8, 5.0))
                if diameter >= 3.0:
                    morph = "ring" if rng.random() < 0.4 else "flocculent"
                elif diameter >= 1.6:
                    morph = "nodular"
                else:
                    morph = "punctate"
                side = (
                    "midline"
                    if region == "frontal" and rng.random() < 0.1
                    else ("left" if j % 2 == 0 else "right")
                )
                specs.append(
                    PlannedNodule(
                        region=region,
                        side=side,
                        diameter_mm=round(diameter, 2),
                        morphology=morph,
                        peak_hu=float(rng.uniform(250.0, 900.0)),
                    )
                )
        plans[str(row["study_key"])] = specs
    return plans
