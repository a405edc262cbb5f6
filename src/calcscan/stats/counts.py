"""Count models of the number of nodules: negative binomial and a hurdle (logit + truncated NB).

Age enters centred at 50 years and scaled per decade (numerically stable fits); rate ratios are
reported per year of age.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from calcscan.stats._result import NotEstimable, Result

__all__ = ["CountModels", "count_models"]


@dataclass(frozen=True)
class CountModels(Result):
    """Negative binomial (NB2) and hurdle models of ``nodule_count ~ age_years + sex``.

    Attributes
    ----------
    nb_irr_age_per_year, nb_irr_age_ci95, nb_p_age : float, [lo, hi], float
        NB2 on all subjects: rate ratio per year of age (Wald interval) and its p.
    nb_irr_male, nb_irr_male_ci95, nb_p_male : rate ratio male vs female.
    nb_alpha : float
        NB2 dispersion (variance = mu + alpha mu^2).
    nb_aic, poisson_aic : float
        AIC of the NB2 and of the Poisson GLM with the same terms (over-dispersion check).
    hurdle_count_irr_age_per_year, hurdle_count_irr_age_ci95, hurdle_count_p_age :
        Zero-truncated NB2 among positives (the count part of a logit hurdle model; the zero
        part is the logistic model of presence reported separately).
    hurdle_count_alpha, hurdle_aic : float
        Truncated-NB dispersion; hurdle AIC = logit AIC + truncated-NB AIC.
    preferred : str
        Model with the lower AIC ("negative_binomial" or "hurdle").
    """

    n: int
    nb_irr_age_per_year: float
    nb_irr_age_ci95: list[float]
    nb_p_age: float
    nb_irr_male: float | None
    nb_irr_male_ci95: list[float] | None
    nb_p_male: float | None
    nb_alpha: float
    nb_aic: float
    poisson_aic: float
    hurdle_count_irr_age_per_year: float
    hurdle_count_irr_age_ci95: list[float]
    hurdle_count_p_age: float
    hurdle_count_alpha: float
    hurdle_aic: float
    preferred: str


def _design(df: pd.DataFrame, with_sex: bool) -> pd.DataFrame:
    x = pd.DataFrame({"age_c10": (df["age_years"].astype(float) - 50.0) / 10.0}, index=df.index)
    if with_sex:
        x["sex_male"] = (df["sex"] == "M").astype(float)
    return sm.add_constant(x, has_constant="add")


def _ratio(
    params: pd.Series, ci: pd.DataFrame, name: str, scale: float
) -> tuple[float, list[float]]:
    b = float(params.to_numpy(dtype=float)[list(params.index).index(name)])
    lo, hi = (float(v) for v in ci.loc[name].to_numpy(dtype=float))
    return float(np.exp(b / scale)), [float(np.exp(lo / scale)), float(np.exp(hi / scale))]


def count_models(df: pd.DataFrame) -> CountModels | NotEstimable:
    """Fit the NB2 and hurdle models; ``NotEstimable`` when data or convergence do not allow."""
    from statsmodels.discrete.truncated_model import TruncatedLFNegativeBinomialP

    data = df[df["sex"].isin(["M", "F"])]
    pos = data[data["nodule_count"] > 0]
    if data.shape[0] < 20 or pos.shape[0] < 10:
        return NotEstimable(
            f"too few subjects for count models (n={data.shape[0]}, positives="
            f"{pos.shape[0]}; need >= 20 and >= 10)"
        )
    if pos.shape[0] == data.shape[0]:
        return NotEstimable("every subject is positive: no zeros for a hurdle model")
    with_sex = data["sex"].nunique() == 2
    y = data["nodule_count"].astype(float)
    x = _design(data, with_sex)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb = sm.NegativeBinomial(y, x).fit(disp=0, method="newton", maxiter=200)
            pois = sm.GLM(y, x, family=sm.families.Poisson()).fit()
            xp = _design(pos, with_sex)
            tr = TruncatedLFNegativeBinomialP(
                pos["nodule_count"].astype(float), xp, truncation=0
            ).fit(disp=0, method="newton", maxiter=200)
            pres = data["nodule_count"].gt(0).astype(float)
            logit = sm.GLM(pres, x, family=sm.families.Binomial()).fit()
        except (np.linalg.LinAlgError, ValueError) as exc:
            return NotEstimable(f"count model fit failed: {exc}")
    if not (nb.mle_retvals.get("converged", False) and tr.mle_retvals.get("converged", False)):
        return NotEstimable("count model did not converge (too few or too uniform counts)")
    nb_ci, tr_ci = nb.conf_int(), tr.conf_int()
    irr, irr_ci = _ratio(nb.params, nb_ci, "age_c10", 10.0)
    tirr, tirr_ci = _ratio(tr.params, tr_ci, "age_c10", 10.0)
    male = male_ci = male_p = None
    if with_sex:
        male, male_ci = _ratio(nb.params, nb_ci, "sex_male", 1.0)
        male_p = float(nb.pvalues["sex_male"])
    hurdle_aic = float(logit.aic + tr.aic)
    values = [nb.params.get("alpha", np.nan), tr.params.get("alpha", np.nan), nb.aic, hurdle_aic]
    if not all(np.isfinite(v) for v in values):
        return NotEstimable("count model gave non-finite estimates")
    return CountModels(
        n=int(data.shape[0]),
        nb_irr_age_per_year=irr,
        nb_irr_age_ci95=irr_ci,
        nb_p_age=float(nb.pvalues["age_c10"]),
        nb_irr_male=male,
        nb_irr_male_ci95=male_ci,
        nb_p_male=male_p,
        nb_alpha=float(nb.params["alpha"]),
        nb_aic=float(nb.aic),
        poisson_aic=float(pois.aic),
        hurdle_count_irr_age_per_year=tirr,
        hurdle_count_irr_age_ci95=tirr_ci,
        hurdle_count_p_age=float(tr.pvalues["age_c10"]),
        hurdle_count_alpha=float(tr.params["alpha"]),
        hurdle_aic=hurdle_aic,
        preferred="negative_binomial" if nb.aic <= hurdle_aic else "hurdle",
    )
