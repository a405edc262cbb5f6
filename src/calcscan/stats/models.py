"""Regression models: logistic and Poisson GLMs, OLS, profile-likelihood intervals, age splines.

GLMs are fitted by IRLS (statsmodels ``GLM``), which reproduces R's ``glm`` standard errors to
8-9 digits; OLS uses a QR decomposition (NIST StRD Longley to better than 1e-7 relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import optimize
from scipy import stats as sps

from calcscan.stats._result import Result

__all__ = [
    "R_GLM_CONVERGENCE",
    "Coefficient",
    "GLMFit",
    "OLSFit",
    "SplineTest",
    "fit_glm",
    "fit_ols",
    "profile_ci",
    "spline_age_test",
]


#: IRLS stopping rule close to R's ``glm.control`` (|dev - dev_old| <= 1e-8 (|dev| + 1)): the
#: standard errors then come from the same iteration's weights as R's ``summary.glm`` (they
#: differ from the fully converged Hessian in the 6th digit on the R ``infert`` example).
R_GLM_CONVERGENCE: dict[str, Any] = {"tol_criterion": "deviance", "tol": 1e-8, "rtol": 1e-8}


@dataclass(frozen=True)
class Coefficient(Result):
    """One model term.

    Attributes
    ----------
    estimate, se, z, p : float
        Coefficient, standard error, Wald statistic (z for GLMs, t for OLS) and two-sided p.
    ci95_wald : [lo, hi]
        Wald interval of the coefficient.
    exp_estimate, exp_ci95_wald : float, [lo, hi]
        exp() of the above: odds ratio (logistic) or rate ratio (Poisson).
    exp_ci95_profile : [lo, hi] or None
        Profile-likelihood interval of exp(coefficient) when requested (GLMs only).
    """

    estimate: float
    se: float
    z: float
    p: float
    ci95_wald: list[float]
    exp_estimate: float
    exp_ci95_wald: list[float]
    exp_ci95_profile: list[float] | None = None


@dataclass(frozen=True)
class GLMFit(Result):
    """A fitted GLM: terms, likelihood and deviance summaries (R ``summary.glm`` quantities)."""

    family: str
    formula: str
    n: int
    coefficients: dict[str, Coefficient]
    loglik: float
    deviance: float
    null_deviance: float
    lr_chi2: float
    lr_df: int
    lr_p: float
    aic: float
    converged: bool


def _glm_family(name: str) -> Any:
    families = {"binomial": sm.families.Binomial(), "poisson": sm.families.Poisson()}
    if name not in families:
        raise ValueError(f"unknown family {name!r}; use one of {sorted(families)}")
    return families[name]


def profile_ci(
    data: pd.DataFrame, formula: str, family: str, term: str, *, level: float = 0.95
) -> tuple[float, float]:
    """Profile-likelihood interval of one GLM coefficient (like R's ``confint.glm``).

    The coefficient is fixed at b via an offset b * x_term and the remaining model refitted;
    the bounds solve 2 (llmax - ll(b)) = chi2_1(level) by Brent's method. A side where the
    profile never falls that far (separation) is returned as -inf / +inf.
    """
    model = smf.glm(formula, data, family=_glm_family(family))
    full = model.fit()
    exog = pd.DataFrame(model.exog, columns=model.exog_names)
    x = exog.pop(term).to_numpy()
    y = model.endog
    target = full.llf - sps.chi2.ppf(level, 1) / 2.0
    b_hat, se = float(full.params[term]), float(full.bse[term])

    def gap(b: float) -> float:
        fit = sm.GLM(y, exog, family=_glm_family(family), offset=b * x).fit()
        return float(fit.llf - target)

    bounds = []
    for sign in (-1.0, 1.0):
        step = 2.5 * se if np.isfinite(se) and se > 0 else 1.0
        far = b_hat + sign * step
        tries = 0
        while gap(far) > 0 and tries < 12:
            step *= 2
            far = b_hat + sign * step
            tries += 1
        if gap(far) > 0 or gap(b_hat) < 0:
            bounds.append(sign * np.inf)  # the profile never drops far enough: unbounded
        else:
            bounds.append(optimize.brentq(gap, *sorted((b_hat, far)), xtol=1e-10))
    return float(bounds[0]), float(bounds[1])


def fit_glm(
    data: pd.DataFrame,
    formula: str,
    *,
    family: str = "binomial",
    profile_terms: tuple[str, ...] = (),
) -> GLMFit:
    """Fit a GLM by IRLS from a patsy formula (e.g. ``"present ~ age_years + C(sex, ...)"``).

    Parameters
    ----------
    data : DataFrame
    formula : str
    family : {"binomial", "poisson"}
    profile_terms : tuple of str
        Terms that also get a profile-likelihood interval (slower: two root searches each).
    """
    with np.errstate(over="ignore", divide="ignore"):
        return _fit_glm(data, formula, family, profile_terms)


def _fit_glm(
    data: pd.DataFrame, formula: str, family: str, profile_terms: tuple[str, ...]
) -> GLMFit:
    res = smf.glm(formula, data, family=_glm_family(family)).fit(**R_GLM_CONVERGENCE)
    ci = res.conf_int(0.05)
    coefs = {}
    for name in res.params.index:
        lo, hi = float(ci.loc[name, 0]), float(ci.loc[name, 1])
        prof = None
        if name in profile_terms:
            plo, phi = profile_ci(data, formula, family, name)
            prof = [float(np.exp(plo)), float(np.exp(phi))]  # inf -> null in JSON
        b = float(res.params[name])
        coefs[name] = Coefficient(
            estimate=b,
            se=float(res.bse[name]),
            z=float(res.tvalues[name]),
            p=float(res.pvalues[name]),
            ci95_wald=[lo, hi],
            exp_estimate=float(np.exp(b)),
            exp_ci95_wald=[float(np.exp(lo)), float(np.exp(hi))],
            exp_ci95_profile=prof,
        )
    lr = float(res.null_deviance - res.deviance)
    lr_df = int(res.df_model)
    return GLMFit(
        family=family,
        formula=formula,
        n=int(res.nobs),
        coefficients=coefs,
        loglik=float(res.llf),
        deviance=float(res.deviance),
        null_deviance=float(res.null_deviance),
        lr_chi2=lr,
        lr_df=lr_df,
        lr_p=float(sps.chi2.sf(lr, lr_df)) if lr_df > 0 else 1.0,
        aic=float(res.aic),
        converged=bool(res.converged),
    )


@dataclass(frozen=True)
class OLSFit(Result):
    """Ordinary least squares fit with its ANOVA quantities.

    Attributes
    ----------
    coefficients : dict of name -> Coefficient (``z`` holds the t statistic)
    r2, adj_r2 : float
    f, f_p : float
        Overall F test of the model; ``df`` is [df_model, df_resid].
    ss_regression, ss_residual, ms_residual, resid_sd : float
    """

    n: int
    coefficients: dict[str, Coefficient]
    r2: float
    adj_r2: float
    f: float
    df: list[int]
    f_p: float
    ss_regression: float
    ss_residual: float
    ms_residual: float
    resid_sd: float


def fit_ols(data: pd.DataFrame, y: str, x: list[str]) -> OLSFit:
    """OLS of ``y`` on the columns ``x`` plus an intercept (QR decomposition)."""
    exog = sm.add_constant(data[x].astype(float), has_constant="add")
    res = sm.OLS(data[y].astype(float), exog).fit(method="qr")
    ci = res.conf_int(0.05)
    coefs = {
        name: Coefficient(
            estimate=float(res.params[name]),
            se=float(res.bse[name]),
            z=float(res.tvalues[name]),
            p=float(res.pvalues[name]),
            ci95_wald=[float(ci.loc[name, 0]), float(ci.loc[name, 1])],
            exp_estimate=float("nan"),
            exp_ci95_wald=[float("nan"), float("nan")],
        )
        for name in res.params.index
    }
    return OLSFit(
        n=int(res.nobs),
        coefficients=coefs,
        r2=float(res.rsquared),
        adj_r2=float(res.rsquared_adj),
        f=float(res.fvalue),
        df=[int(res.df_model), int(res.df_resid)],
        f_p=float(res.f_pvalue),
        ss_regression=float(res.ess),
        ss_residual=float(res.ssr),
        ms_residual=float(res.mse_resid),
        resid_sd=float(np.sqrt(res.mse_resid)),
    )


@dataclass(frozen=True)
class SplineTest(Result):
    """Likelihood-ratio test of a natural cubic spline of age against a linear age term.

    Attributes
    ----------
    spline_df : int
        Degrees of freedom of the spline basis (patsy ``cr``).
    lr_chi2, df, p : float, int, float
        2 (ll_spline - ll_linear), its degrees of freedom and p (non-linearity test).
    aic_linear, aic_spline : float
    curve_age_years, curve_probability : list of float
        Fitted probability over an age grid (other covariates at the reference level).
    """

    spline_df: int
    lr_chi2: float
    df: int
    p: float
    aic_linear: float
    aic_spline: float
    curve_age_years: list[float]
    curve_probability: list[float]


def spline_age_test(
    data: pd.DataFrame, *, outcome: str = "present", covariates: str = "", spline_df: int = 4
) -> SplineTest:
    """Compare ``outcome ~ age_years + cov`` with ``outcome ~ cr(age_years, df) + cov`` (logit)."""
    extra = f" + {covariates}" if covariates else ""
    lin = smf.glm(f"{outcome} ~ age_years{extra}", data, family=sm.families.Binomial()).fit()
    spl = smf.glm(
        f"{outcome} ~ cr(age_years, df={spline_df}, constraints='center'){extra}",
        data,
        family=sm.families.Binomial(),
    ).fit()
    lr = max(0.0, 2.0 * float(spl.llf - lin.llf))
    ddf = int(spl.df_model - lin.df_model)
    grid = np.linspace(float(data["age_years"].min()), float(data["age_years"].max()), 50)
    new = data.iloc[[0] * grid.size].copy()
    new["age_years"] = grid
    prob = np.asarray(spl.predict(new))
    return SplineTest(
        spline_df=spline_df,
        lr_chi2=lr,
        df=ddf,
        p=float(sps.chi2.sf(lr, ddf)),
        aic_linear=float(lin.aic),
        aic_spline=float(spl.aic),
        curve_age_years=grid.tolist(),
        curve_probability=prob.tolist(),
    )
