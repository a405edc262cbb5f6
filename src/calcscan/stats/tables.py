"""Table 1 (indications), Table 2 (distribution pattern x sex) and regional analyses."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from calcscan.contracts import DISTRIBUTION_PATTERNS
from calcscan.stats._result import NotEstimable, Result
from calcscan.stats.basic import wilson_ci
from calcscan.stats.nonparametric import decade_labels, decade_order

__all__ = ["RegionalAnalysis", "regional_analysis", "table1", "table2", "table2_sex_test"]


def table1(df: pd.DataFrame) -> list[dict[str, Any]] | None:
    """Indications with cases and percent (descending), or ``None`` without an indication column."""
    if "indication" not in df.columns:
        return None
    ind = df["indication"].fillna("Unspecified").astype(str).str.strip()
    ind = ind.where(ind != "", "Unspecified")
    counts = ind.value_counts()
    total = int(counts.sum())
    return [
        {"indication": str(k), "cases": int(v), "percent": 100.0 * v / total}
        for k, v in counts.items()
    ]


def table2(df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts per distribution pattern: ``{pattern: {"all", "male", "female"}}``.

    Uses ``distribution_pattern`` when present (unknown values are kept under their own name);
    without it, only "none" vs positives ("any") can be tabulated.
    """
    if "distribution_pattern" in df.columns:
        pattern = df["distribution_pattern"].fillna("none").astype(str)
        pattern = pattern.where(df["nodule_count"] > 0, "none")
    else:
        pattern = pd.Series(
            np.where(df["nodule_count"] > 0, "any", "none"), index=df.index, dtype=str
        )
    keys = list(DISTRIBUTION_PATTERNS) + sorted(set(pattern) - set(DISTRIBUTION_PATTERNS))
    if "distribution_pattern" not in df.columns:
        keys = ["none", "any"]
    out: dict[str, dict[str, int]] = {}
    for key in keys:
        sel = pattern == key
        out[key] = {
            "all": int(sel.sum()),
            "male": int((sel & (df["sex"] == "M")).sum()),
            "female": int((sel & (df["sex"] == "F")).sum()),
        }
    return out


def table2_sex_test(t2: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Pearson chi-square of distribution pattern x sex among positives (Table 2 without "none").

    Patterns with no subjects are dropped; the smallest expected count is reported because the
    chi-square approximation is doubtful below 5 (rare patterns).
    """
    from calcscan.stats.basic import contingency_test

    rows = [[v["male"], v["female"]] for k, v in t2.items() if k != "none" and v["all"] > 0]
    if len(rows) < 2 or any(sum(col) == 0 for col in zip(*rows, strict=True)):
        return NotEstimable("fewer than two patterns, or one sex without positives").to_dict()
    res = contingency_test(rows)
    min_expected = float(np.min(res.expected))
    out: dict[str, Any] = {
        "estimable": True,
        "chi2": res.chi2,
        "df": res.df,
        "p": res.p,
        "min_expected": min_expected,
        "method": "Pearson chi-square, patterns with >= 1 subject x sex, positives only",
    }
    if min_expected < 5:
        out["warning"] = "some expected counts are below 5: interpret the P value with caution"
    return out


@dataclass(frozen=True)
class RegionalAnalysis(Result):
    """Frontal vs maxillary involvement among positives, by decade and as a function of age.

    Attributes
    ----------
    n_positive : int
    regions : dict
        Per region: ``cases``, ``percent`` and ``ci95_wilson`` among positives, ``by_decade``
        ({decade: {"n", "cases", "percent"}}), and a logistic model of involvement on age
        among positives (``or_age_per_year``, ``ci95``, ``p``) or a not-estimable reason.
    both_frontal_maxillary : dict
        Cases and percent with both regions involved.
    """

    n_positive: int
    regions: dict[str, Any]
    both_frontal_maxillary: dict[str, Any]


def regional_analysis(
    df: pd.DataFrame, *, top_decade: int | None = 80
) -> RegionalAnalysis | NotEstimable:
    """Frontal and maxillary involvement (``counts_frontal``/``counts_maxillary`` > 0) by age."""
    import statsmodels.api as sm

    needed = ["counts_frontal", "counts_maxillary"]
    if not all(c in df.columns for c in needed):
        return NotEstimable("no counts_frontal/counts_maxillary columns in the cohort table")
    pos = df[df["nodule_count"] > 0].copy()
    if pos.shape[0] < 2:
        return NotEstimable(f"only {pos.shape[0]} positive subject(s)")
    pos["decade"] = decade_labels(pos["age_years"], top_decade=top_decade)
    order = sorted(pos["decade"].unique(), key=decade_order)
    regions: dict[str, Any] = {}
    flags = {}
    for col in needed:
        name = col.removeprefix("counts_")
        inv = pd.to_numeric(pos[col], errors="coerce").fillna(0).gt(0).astype(int)
        flags[name] = inv
        cases = int(inv.sum())
        entry: dict[str, Any] = {
            "cases": cases,
            "percent": 100.0 * cases / pos.shape[0],
            "ci95_wilson": list(wilson_ci(cases, pos.shape[0])),
            "by_decade": {
                d: {
                    "n": int((pos["decade"] == d).sum()),
                    "cases": int(inv[pos["decade"] == d].sum()),
                    "percent": 100.0 * float(inv[pos["decade"] == d].mean()),
                }
                for d in order
            },
        }
        if 0 < cases < pos.shape[0] and pos["age_years"].nunique() > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = sm.GLM(
                    inv,
                    sm.add_constant(pos["age_years"].astype(float)),
                    family=sm.families.Binomial(),
                ).fit()
            ci = fit.conf_int()
            entry["logistic_age"] = {
                "estimable": True,
                "or_age_per_year": float(np.exp(fit.params["age_years"])),
                "ci95": [float(np.exp(v)) for v in ci.loc["age_years"]],
                "p": float(fit.pvalues["age_years"]),
            }
        else:
            entry["logistic_age"] = NotEstimable(
                f"{name} involvement is {'absent' if cases == 0 else 'present'} in every "
                "positive subject (or age does not vary)"
            ).to_dict()
        regions[name] = entry
    both = int((flags["frontal"] & flags["maxillary"]).sum())
    return RegionalAnalysis(
        n_positive=int(pos.shape[0]),
        regions=regions,
        both_frontal_maxillary={"cases": both, "percent": 100.0 * both / pos.shape[0]},
    )
