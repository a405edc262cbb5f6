"""The reference study's analyses and the extended ones on a cohort table, in one call.

:func:`analyze_cohort` returns a :class:`CohortStats` whose ``to_dict()`` is the JSON of
CONTRACTS.md section 4 (every contract key, plus documented extras). An analysis that cannot be
estimated on the data is ``{"estimable": false, "reason": ...}`` instead of numbers.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from calcscan.stats._result import NotEstimable, clean
from calcscan.stats.basic import compare_means, compare_proportions, wilson_ci
from calcscan.stats.counts import count_models
from calcscan.stats.models import fit_glm, fit_ols, spline_age_test
from calcscan.stats.nonparametric import (
    P_ADJUST_METHODS,
    conover,
    decade_labels,
    decade_order,
    dunn,
    kruskal,
)
from calcscan.stats.tables import regional_analysis, table1, table2, table2_sex_test

__all__ = ["AnalysisOptions", "CohortStats", "analyze_cohort", "software_versions"]

log = logging.getLogger(__name__)

#: Minimum subjects for the regression models (below: not estimable).
MIN_LOGISTIC_N = 10
MIN_LINEAR_N = 3
#: A log-odds SE above this means (quasi-)complete separation: the model is not estimable.
MAX_LOGIT_SE = 10.0


@dataclass(frozen=True)
class AnalysisOptions:
    """Options of :func:`analyze_cohort`.

    Attributes
    ----------
    p_adjust : {"bonferroni", "holm", "fdr_bh", "none"}
        Adjustment of the Dunn and Conover pairwise p values (default Bonferroni).
    top_decade : int or None
        Lower edge of the open top age bin (default 80: ages >= 80 form "[80,inf)", giving the
        reference study's 9 groups over ages 4-90). ``None``: no open bin.
    profile_ci : bool
        Also compute profile-likelihood intervals of the logistic odds ratios.
    spline_df : int
        Degrees of freedom of the natural cubic spline of age in the non-linearity test.
    """

    p_adjust: str = "bonferroni"
    top_decade: int | None = 80
    profile_ci: bool = True
    spline_df: int = 4


@dataclass
class CohortStats:
    """All results; ``to_dict()`` gives the CONTRACTS.md section 4 JSON."""

    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict (no NaN/inf)."""
        out = clean(self.data)
        assert isinstance(out, dict)
        return out


def software_versions() -> dict[str, str]:
    """Versions of calcscan and of the statistics libraries used."""
    import platform

    import scikit_posthocs
    import scipy
    import statsmodels

    from calcscan import __version__

    return {
        "calcscan": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "scikit-posthocs": getattr(scikit_posthocs, "__version__", "unknown"),
    }


def _guard(name: str, fn: Callable[[], Any]) -> Any:
    """Run one analysis; numerical failures become a not-estimable entry with the reason."""
    try:
        out = fn()
    except (ValueError, ZeroDivisionError, np.linalg.LinAlgError, FloatingPointError) as exc:
        log.info("%s not estimable: %s", name, exc)
        return NotEstimable(f"{name} failed: {exc}".splitlines()[0]).to_dict()
    return out.to_dict() if hasattr(out, "to_dict") else out


def _prevalence(mf: pd.DataFrame, df: pd.DataFrame) -> dict[str, Any]:
    xm = int(mf.loc[mf["sex"] == "M", "present"].sum())
    xf = int(mf.loc[mf["sex"] == "F", "present"].sum())
    nm, nf = int((mf["sex"] == "M").sum()), int((mf["sex"] == "F").sum())
    xo, no = int(df["present"].sum()), int(df.shape[0])
    out: dict[str, Any] = {
        "positives_male": xm,
        "positives_female": xf,
        "positives": xo,
        "male": xm / nm if nm else None,
        "female": xf / nf if nf else None,
        "overall": xo / no,
        "ci95_male": list(wilson_ci(xm, nm)) if nm else None,
        "ci95_female": list(wilson_ci(xf, nf)) if nf else None,
        "ci95_overall": list(wilson_ci(xo, no)),
        "ci_method": "Wilson score",
    }
    reason = None
    if nm == 0 or nf == 0:
        reason = "only one sex in the cohort: no comparison of prevalence by sex"
    elif xo in (0, no) or xm + xf in (0, nm + nf):
        reason = (
            "every subject is " + ("positive" if xm + xf else "negative") + ": chi-square undefined"
        )
    if reason:
        out.update({"estimable": False, "reason": reason})
        return out
    comp = compare_proportions(xm, nm, xf, nf)
    out.update(
        {
            "estimable": True,
            "chi2": comp.chi2,
            "chi2_p": comp.chi2_p,
            "yates": False,
            "chi2_df": 1,
            "chi2_yates": comp.chi2_yates,
            "chi2_yates_p": comp.chi2_yates_p,
            "chi2_n1": comp.chi2_n1,
            "chi2_n1_p": comp.chi2_n1_p,
            "fisher_odds_ratio": comp.fisher_odds_ratio,
            "fisher_p": comp.fisher_p,
            "difference_male_minus_female": comp.difference,
            "difference_ci95_newcombe": comp.difference_ci95,
            "method": "Pearson chi-square without continuity correction (also given: Yates, "
            "N-1 chi-square, Fisher exact two-sided)",
        }
    )
    return out


def _age_by_sex(mf: pd.DataFrame) -> dict[str, Any]:
    m = mf.loc[mf["sex"] == "M", "age_years"]
    f = mf.loc[mf["sex"] == "F", "age_years"]
    if m.size < 2 or f.size < 2:
        return NotEstimable(
            f"need >= 2 subjects of each sex (male {m.size}, female {f.size})"
        ).to_dict()
    c = compare_means(m, f)
    return {
        "estimable": True,
        "mean_male": c.mean[0],
        "mean_female": c.mean[1],
        "sd_male": c.sd[0],
        "sd_female": c.sd[1],
        "z": c.z,
        "p": c.z_p,
        "welch_t": c.welch_t,
        "welch_df": c.welch_df,
        "welch_p": c.welch_p,
        "difference_ci95_welch": c.welch_ci95,
        "method": "two-sample Z test on means, unpooled (each group's own SD), two-sided",
    }


def _logistic(mf: pd.DataFrame, profile: bool) -> dict[str, Any]:
    n, pos = mf.shape[0], int(mf["present"].sum())
    if n < MIN_LOGISTIC_N:
        return NotEstimable(
            f"n={n} subjects is too few for logistic regression (need >= {MIN_LOGISTIC_N})"
        ).to_dict()
    if pos in (0, n):
        return NotEstimable(
            "every subject is "
            + ("positive" if pos else "negative")
            + ": the outcome does not vary"
        ).to_dict()
    data = mf.assign(sex_male=(mf["sex"] == "M").astype(float))
    with_sex = data["sex"].nunique() == 2
    formula = "present ~ age_years + sex_male" if with_sex else "present ~ age_years"
    terms = ("age_years", "sex_male") if with_sex else ("age_years",)
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            fit = fit_glm(data, formula, family="binomial", profile_terms=terms if profile else ())
        except (PerfectSeparationWarning, RuntimeError) as exc:
            return NotEstimable(
                f"logistic regression not estimable: {exc}".splitlines()[0]
            ).to_dict()
    if not fit.converged:
        return NotEstimable("logistic regression did not converge").to_dict()
    for name in terms:
        c = fit.coefficients[name]
        if not (np.isfinite(c.se) and c.se < MAX_LOGIT_SE and np.all(np.isfinite(c.exp_ci95_wald))):
            return NotEstimable(
                f"logistic regression: {name} is (quasi-)completely separated from presence "
                f"(SE {c.se:.3g} on the log-odds scale); too few subjects per outcome"
            ).to_dict()

    def term(name: str) -> dict[str, Any]:
        c = fit.coefficients[name]
        return {
            "odds_ratio": c.exp_estimate,
            "ci95": c.exp_ci95_wald,
            "ci95_profile": c.exp_ci95_profile,
            "p": c.p,
            "coefficient": c.estimate,
            "se": c.se,
            "z": c.z,
        }

    out: dict[str, Any] = {
        "estimable": True,
        "n": fit.n,
        "formula": formula + " (sex reference: female)",
        "age": term("age_years"),
        "sex_male": term("sex_male")
        if with_sex
        else NotEstimable("only one sex in the cohort").to_dict(),
        "loglik": fit.loglik,
        "deviance": fit.deviance,
        "null_deviance": fit.null_deviance,
        "lr_chi2": fit.lr_chi2,
        "lr_df": fit.lr_df,
        "lr_p": fit.lr_p,
        "aic": fit.aic,
        "ci_method": "Wald (ci95) and profile likelihood (ci95_profile)",
    }
    return out


def _linear(pos: pd.DataFrame) -> dict[str, Any]:
    n = pos.shape[0]
    if n < MIN_LINEAR_N:
        return NotEstimable(
            f"{n} positive subject(s): linear regression needs >= {MIN_LINEAR_N}"
        ).to_dict()
    if pos["age_years"].nunique() < 2:
        return NotEstimable("every positive subject has the same age").to_dict()
    if pos["nodule_count"].nunique() < 2:
        return NotEstimable(
            "every positive subject has the same count: no variance to regress"
        ).to_dict()
    fit = fit_ols(pos, "nodule_count", ["age_years"])
    slope = fit.coefficients["age_years"]
    if fit.ss_residual <= 0:
        return NotEstimable("counts lie exactly on a line: F undefined").to_dict()
    return {
        "estimable": True,
        "n": fit.n,
        "slope": slope.estimate,
        "slope_se": slope.se,
        "slope_ci95": slope.ci95_wald,
        "intercept": fit.coefficients["const"].estimate,
        "f": fit.f,
        "df": fit.df,
        "p": fit.f_p,
        "r2": fit.r2,
        "method": "ordinary least squares, nodule_count ~ age_years, subjects with nodules",
    }


def _nonparametric(pos: pd.DataFrame, opts: AnalysisOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    decades = decade_labels(pos["age_years"], top_decade=opts.top_decade)
    order = sorted(decades.unique(), key=decade_order)
    counts = pos["nodule_count"].astype(float)
    why = None
    if len(order) < 2:
        why = f"positive subjects fall in {len(order)} age decade(s): need >= 2"
    elif counts.size <= len(order):
        why = (
            f"{counts.size} positive subjects in {len(order)} decades: need more subjects "
            "than groups"
        )
    elif counts.nunique() < 2:
        why = "every positive subject has the same count: ranks are all tied"
    if why:
        for key in ("kruskal_decade", "dunn_decade", "conover_decade"):
            out[key] = NotEstimable(why).to_dict()
    else:
        kw = kruskal(counts, decades, order=order)
        out["kruskal_decade"] = kw.to_dict() | {
            "method": "Kruskal-Wallis H, tie-corrected, chi-square approximation"
        }
        singles = [g for g, k in zip(kw.groups, kw.group_n, strict=True) if k == 1]
        if singles:
            out["kruskal_decade"]["warnings"] = [
                f"decade {g} has a single subject: its pairwise comparisons have little power"
                for g in singles
            ]
        out["dunn_decade"] = dunn(counts, decades, order=order, p_adjust=opts.p_adjust).pairs
        out["conover_decade"] = conover(counts, decades, order=order, p_adjust=opts.p_adjust).pairs
    out["decade_summary"] = {
        d: {
            "n": int((decades == d).sum()),
            "mean": float(counts[decades == d].mean()),
            "median": float(counts[decades == d].median()),
        }
        for d in order
    }
    sexes = pos["sex"].where(pos["sex"].isin(["M", "F"]))
    if sexes.nunique() < 2:
        out["kruskal_sex"] = NotEstimable("positive subjects of only one sex").to_dict()
    elif counts.nunique() < 2:
        out["kruskal_sex"] = NotEstimable("every positive subject has the same count").to_dict()
    else:
        out["kruskal_sex"] = kruskal(
            counts[sexes.notna()], sexes.dropna(), order=["M", "F"]
        ).to_dict()
    return out


def analyze_cohort(df: pd.DataFrame, options: AnalysisOptions | None = None) -> CohortStats:
    """Run every analysis on a validated cohort table (see :func:`validate_cohort`).

    Parameters
    ----------
    df : DataFrame
        One row per study with ``age_years``, ``sex`` (M/F), ``nodule_count``, ``present``;
        optional ``distribution_pattern``, ``counts_<region>``, ``indication``.
    options : AnalysisOptions, optional

    Returns
    -------
    CohortStats
    """
    opts = options or AnalysisOptions()
    if opts.p_adjust not in P_ADJUST_METHODS:
        from calcscan.errors import UsageError

        raise UsageError(
            f"unknown --p-adjust '{opts.p_adjust}': use one of {', '.join(P_ADJUST_METHODS)}"
        )
    if "present" not in df.columns:
        df = df.assign(present=(df["nodule_count"] > 0).astype(int))
    mf = df[df["sex"].isin(["M", "F"])]
    pos = df[df["nodule_count"] > 0]
    mf_pos = mf[mf["nodule_count"] > 0]
    res: dict[str, Any] = {
        "n": int(df.shape[0]),
        "n_male": int((df["sex"] == "M").sum()),
        "n_female": int((df["sex"] == "F").sum()),
        "n_positive": int(pos.shape[0]),
        "age_min": float(df["age_years"].min()),
        "age_max": float(df["age_years"].max()),
        "mean_count_positive": float(pos["nodule_count"].mean()) if pos.shape[0] else None,
        "median_count_positive": float(pos["nodule_count"].median()) if pos.shape[0] else None,
        "max_count": int(df["nodule_count"].max()),
    }
    res["prevalence"] = _prevalence(mf, df)
    res["age_by_sex"] = _age_by_sex(mf)
    res["logistic"] = _logistic(mf, opts.profile_ci)
    res["linear_count_age"] = _linear(pos)
    res.update(_nonparametric(mf_pos if mf_pos.shape[0] == pos.shape[0] else pos, opts))
    res["dunn_p_adjust"] = opts.p_adjust
    res["table2"] = table2(df)
    res["table2_sex_test"] = _guard("Table 2 test", lambda: table2_sex_test(res["table2"]))
    t1 = table1(df)
    if t1 is not None:
        res["table1"] = t1
    res["spline_age"] = _spline(mf, opts)
    res["count_models"] = _guard("count models", lambda: count_models(df))
    res["regional"] = _guard(
        "regional analysis", lambda: regional_analysis(df, top_decade=opts.top_decade)
    )
    res["options"] = {
        "prevalence_yates": False,
        "kruskal_tie_correction": True,
        "dunn_tie_correction": True,
        "p_two_sided": True,
        "p_adjust": opts.p_adjust,
        "top_decade": opts.top_decade,
        "decade_rule": (
            "decades [0,10), [10,20), ... by floor(age/10); "
            + (
                f"ages >= {opts.top_decade} form the open top bin [{opts.top_decade},inf)"
                if opts.top_decade is not None
                else "no open top bin"
            )
            + "; decades without positive subjects are left out of the Kruskal-Wallis test"
        ),
        "positives_only": "linear regression, Kruskal-Wallis and post hoc tests use subjects "
        "with nodule_count > 0",
    }
    res["software"] = software_versions()
    return CohortStats(res)


def _spline(mf: pd.DataFrame, opts: AnalysisOptions) -> dict[str, Any]:
    n, pos = mf.shape[0], int(mf["present"].sum())
    if n < 4 * MIN_LOGISTIC_N or pos in (0, n) or mf["age_years"].nunique() <= opts.spline_df + 1:
        return NotEstimable(
            "spline test needs >= 40 subjects, both outcomes and more distinct ages than "
            "spline degrees of freedom"
        ).to_dict()
    cov = "sex_male" if mf["sex"].nunique() == 2 else ""
    data = mf.assign(sex_male=(mf["sex"] == "M").astype(float))
    return _guard(
        "spline test",
        lambda: spline_age_test(data, covariates=cov, spline_df=opts.spline_df),
    )
