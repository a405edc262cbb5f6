"""Contingency tables, proportions and two-sample comparisons of means.

Thin, documented wrappers around scipy/statsmodels that name every option (continuity
correction, pooled or unpooled variance, sidedness) in their results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from calcscan.stats._result import Result

__all__ = [
    "ContingencyTest",
    "MeansComparison",
    "ProportionsComparison",
    "compare_means",
    "compare_percentages_n1",
    "compare_proportions",
    "contingency_test",
    "wilson_ci",
]


def wilson_ci(successes: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score confidence interval of a proportion (statsmodels ``method="wilson"``)."""
    lo, hi = proportion_confint(int(successes), int(n), alpha=alpha, method="wilson")
    return float(lo), float(hi)


@dataclass(frozen=True)
class ContingencyTest(Result):
    """Pearson chi-square test of independence on an r x c table.

    Attributes
    ----------
    chi2, p, df : float, float, int
        Statistic, p value and degrees of freedom.
    yates : bool
        Whether Yates' continuity correction was applied (only ever on 2 x 2 tables).
    expected : list of list of float
        Expected counts under independence.
    stdres : list of list of float
        Standardized (adjusted) residuals (O - E) / sqrt(E (1 - r/N)(1 - c/N)) (R ``$stdres``).
    """

    chi2: float
    p: float
    df: int
    yates: bool
    expected: list[list[float]]
    stdres: list[list[float]]


def contingency_test(table: Sequence[Sequence[float]], *, yates: bool = False) -> ContingencyTest:
    """Pearson chi-square test of independence (scipy ``chi2_contingency``).

    Parameters
    ----------
    table : r x c counts
    yates : bool
        Apply Yates' continuity correction (R's ``chisq.test`` default for 2 x 2 tables;
        ignored for larger tables, as in scipy and R).
    """
    obs = np.asarray(table, dtype=float)
    res = sps.chi2_contingency(obs, correction=yates)
    n = obs.sum()
    rows = obs.sum(axis=1, keepdims=True) / n
    cols = obs.sum(axis=0, keepdims=True) / n
    expected = np.asarray(res.expected_freq)
    stdres = (obs - expected) / np.sqrt(expected * (1 - rows) * (1 - cols))
    applied = bool(yates and obs.shape == (2, 2))
    return ContingencyTest(
        chi2=float(res.statistic),
        p=float(res.pvalue),
        df=int(res.dof),
        yates=applied,
        expected=expected.tolist(),
        stdres=stdres.tolist(),
    )


@dataclass(frozen=True)
class ProportionsComparison(Result):
    """Two independent proportions compared several ways (all two-sided).

    Attributes
    ----------
    x, n : list of int
        Successes and totals of the two groups.
    proportion : list of float
    ci95_wilson : list of [lo, hi]
    chi2, chi2_p : float
        Pearson chi-square without continuity correction.
    chi2_yates, chi2_yates_p : float
        With Yates' correction (R default).
    chi2_n1, chi2_n1_p : float
        "N-1" chi-square (Campbell 2007; MedCalc's comparison of proportions).
    fisher_p : float
        Fisher's exact test; ``fisher_odds_ratio`` its sample odds ratio.
    difference, difference_ci95 : float, [lo, hi]
        p1 - p2 with a Newcombe (Wilson-score) hybrid interval.
    """

    x: list[int]
    n: list[int]
    proportion: list[float]
    ci95_wilson: list[list[float]]
    chi2: float
    chi2_p: float
    chi2_yates: float
    chi2_yates_p: float
    chi2_n1: float
    chi2_n1_p: float
    fisher_odds_ratio: float
    fisher_p: float
    difference: float
    difference_ci95: list[float]


def compare_proportions(x1: int, n1: int, x2: int, n2: int) -> ProportionsComparison:
    """Compare two independent proportions x1/n1 and x2/n2.

    Returns Pearson chi-square with and without Yates' correction, the N-1 chi-square,
    Fisher's exact test, Wilson intervals of each proportion and a Newcombe interval of the
    difference.
    """
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    plain = contingency_test(table, yates=False)
    corr = contingency_test(table, yates=True)
    big_n = n1 + n2
    chi_n1 = plain.chi2 * (big_n - 1) / big_n
    fisher = sps.fisher_exact(table)
    ci1, ci2 = wilson_ci(x1, n1), wilson_ci(x2, n2)
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    lo = d - np.sqrt((p1 - ci1[0]) ** 2 + (ci2[1] - p2) ** 2)
    hi = d + np.sqrt((ci1[1] - p1) ** 2 + (p2 - ci2[0]) ** 2)
    return ProportionsComparison(
        x=[int(x1), int(x2)],
        n=[int(n1), int(n2)],
        proportion=[p1, p2],
        ci95_wilson=[list(ci1), list(ci2)],
        chi2=plain.chi2,
        chi2_p=plain.p,
        chi2_yates=corr.chi2,
        chi2_yates_p=corr.p,
        chi2_n1=float(chi_n1),
        chi2_n1_p=float(sps.chi2.sf(chi_n1, 1)),
        fisher_odds_ratio=float(fisher.statistic),
        fisher_p=float(fisher.pvalue),
        difference=float(d),
        difference_ci95=[float(lo), float(hi)],
    )


def compare_percentages_n1(pct1: float, n1: int, pct2: float, n2: int) -> float:
    """P value of MedCalc's "comparison of proportions" from percentages (N-1 chi-square).

    This is how a published P can be re-derived when only rounded percentages were entered
    (e.g. 42.1 % of 599 vs 42.0 % of 716 gives P = .971, while the raw counts give .991).
    """
    p1, p2 = pct1 / 100.0, pct2 / 100.0
    big_n = n1 + n2
    pooled = (p1 * n1 + p2 * n2) / big_n
    z2 = (p1 - p2) ** 2 / (pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(sps.chi2.sf(z2 * (big_n - 1) / big_n, 1))


@dataclass(frozen=True)
class MeansComparison(Result):
    """Two-sample comparison of means (group 1 minus group 2), all p values two-sided.

    Attributes
    ----------
    mean, sd, n : list
        Per-group mean, sample SD (ddof=1) and size.
    z, z_p : float
        Unpooled two-sample Z test: (m1 - m2) / sqrt(s1^2/n1 + s2^2/n2), normal p.
    welch_t, welch_df, welch_p, welch_ci95 : Welch's unequal-variance t test.
    student_t, student_df, student_p, student_ci95 : pooled-variance Student t test.
    """

    mean: list[float]
    sd: list[float]
    n: list[int]
    z: float
    z_p: float
    welch_t: float
    welch_df: float
    welch_p: float
    welch_ci95: list[float]
    student_t: float
    student_df: float
    student_p: float
    student_ci95: list[float]


def compare_means(
    a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series
) -> MeansComparison:
    """Unpooled Z test, Welch and Student t tests of mean(a) - mean(b)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ma, mb = xa.mean(), xb.mean()
    sa, sb = xa.std(ddof=1), xb.std(ddof=1)
    se = np.sqrt(sa**2 / xa.size + sb**2 / xb.size)
    z = (ma - mb) / se
    welch = sps.ttest_ind(xa, xb, equal_var=False)
    student = sps.ttest_ind(xa, xb, equal_var=True)
    wci = welch.confidence_interval(0.95)
    sci = student.confidence_interval(0.95)
    return MeansComparison(
        mean=[float(ma), float(mb)],
        sd=[float(sa), float(sb)],
        n=[int(xa.size), int(xb.size)],
        z=float(z),
        z_p=float(2 * sps.norm.sf(abs(z))),
        welch_t=float(welch.statistic),
        welch_df=float(welch.df),
        welch_p=float(welch.pvalue),
        welch_ci95=[float(wci.low), float(wci.high)],
        student_t=float(student.statistic),
        student_df=float(student.df),
        student_p=float(student.pvalue),
        student_ci95=[float(sci.low), float(sci.high)],
    )
