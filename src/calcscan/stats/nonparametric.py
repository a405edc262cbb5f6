"""Kruskal-Wallis, Dunn and Conover-Iman post hoc tests, pairwise Wilcoxon, age decades.

Dunn's z is written out here (scikit-posthocs returns p only); every pair's z uses the tie
correction of Dunn (1964): sigma^2 = (N(N+1)/12 - sum(t^3 - t) / (12 (N - 1))) (1/n_i + 1/n_j).
p values are two-sided, 2 P(Z >= |z|) (R ``dunn.test`` prints the one-sided P(Z >= |z|) by
default). Adjustment by statsmodels ``multipletests``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from calcscan.stats._result import Result

__all__ = [
    "P_ADJUST_METHODS",
    "KruskalResult",
    "PairwiseResult",
    "conover",
    "decade_labels",
    "dunn",
    "kruskal",
    "pairwise_wilcoxon",
]

#: Accepted p-adjustment names -> statsmodels ``multipletests`` method.
P_ADJUST_METHODS = {"bonferroni": "bonferroni", "holm": "holm", "fdr_bh": "fdr_bh", "none": None}


def decade_labels(age_years: pd.Series, *, top_decade: int | None = 80) -> pd.Series:
    """Label ages by decade: ``"[0,10)"``, ``"[10,20)"`` ...; ages >= ``top_decade`` -> open bin.

    Parameters
    ----------
    age_years : Series of float
    top_decade : int or None
        Lower edge of the open top bin, labelled ``"[80,inf)"`` for 80. ``None`` keeps every
        decade closed. The default 80 gives the reference study's 9 groups over ages 4-90
        ([0,10) ... [70,80) and [80,inf): its 90-year-olds share the top bin).

    Returns
    -------
    Series of str (categorical-like labels, sortable with :func:`decade_order`)
    """
    if top_decade is not None and top_decade % 10:
        raise ValueError(f"top_decade must be a multiple of 10, got {top_decade}")
    lower = (np.floor(age_years.astype(float) / 10.0) * 10).astype(int)
    labels = [f"[{lo},{lo + 10})" for lo in lower]
    if top_decade is not None:
        labels = [
            f"[{top_decade},inf)" if lo >= top_decade else lab
            for lo, lab in zip(lower, labels, strict=True)
        ]
    return pd.Series(labels, index=age_years.index, name="decade")


def decade_order(label: str) -> int:
    """Sort key of a decade label (its lower edge)."""
    return int(label[1:].split(",")[0])


@dataclass(frozen=True)
class KruskalResult(Result):
    """Kruskal-Wallis H test (tie-corrected, chi-square approximation)."""

    h: float
    df: int
    p: float
    n: int
    groups: list[str]
    group_n: list[int]
    tie_correction: bool = True


def _grouped(values: pd.Series, groups: pd.Series, order: Sequence[Any] | None) -> list[Any]:
    present = list(pd.unique(groups.dropna()))
    if order is None:
        return sorted(present, key=lambda g: (str(type(g)), g))
    return [g for g in order if g in present]


def kruskal(
    values: pd.Series, groups: pd.Series, *, order: Sequence[Any] | None = None
) -> KruskalResult:
    """Kruskal-Wallis test of ``values`` across ``groups`` (scipy, tie-corrected H)."""
    labels = _grouped(values, groups, order)
    samples = [values[groups == g].to_numpy(dtype=float) for g in labels]
    res = sps.kruskal(*samples)
    return KruskalResult(
        h=float(res.statistic),
        df=len(labels) - 1,
        p=float(res.pvalue),
        n=int(sum(s.size for s in samples)),
        groups=[str(g) for g in labels],
        group_n=[int(s.size) for s in samples],
    )


@dataclass(frozen=True)
class PairwiseResult(Result):
    """All pairwise post hoc comparisons.

    Attributes
    ----------
    method : str
        "dunn", "conover" or "wilcoxon".
    p_adjust : str
        Adjustment applied to ``p_adj`` (bonferroni, holm, fdr_bh or none).
    two_sided : bool
    pairs : list of dict
        ``{"a", "b", "z" (or statistic), "p", "p_adj"}`` in group order; for Dunn z is
        (mean rank a - mean rank b) / SE.
    """

    method: str
    p_adjust: str
    two_sided: bool
    pairs: list[dict[str, Any]]


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    if method not in P_ADJUST_METHODS:
        raise ValueError(f"unknown p adjustment {method!r}; use one of {list(P_ADJUST_METHODS)}")
    sm_name = P_ADJUST_METHODS[method]
    if sm_name is None or p.size == 0:
        return p.copy()
    return np.asarray(multipletests(p, method=sm_name)[1])


def dunn(
    values: pd.Series,
    groups: pd.Series,
    *,
    order: Sequence[Any] | None = None,
    p_adjust: str = "bonferroni",
) -> PairwiseResult:
    """Dunn's (1964) test for every pair of groups, tie-corrected, two-sided p."""
    labels = _grouped(values, groups, order)
    mask = groups.isin(labels)
    x = values[mask].to_numpy(dtype=float)
    g = groups[mask].to_numpy()
    ranks = sps.rankdata(x)
    n = x.size
    _, tie_counts = np.unique(x, return_counts=True)
    tie_term = float(np.sum(tie_counts**3 - tie_counts)) / (12.0 * (n - 1)) if n > 1 else 0.0
    base_var = n * (n + 1) / 12.0 - tie_term
    mean_rank = {lab: ranks[g == lab].mean() for lab in labels}
    size = {lab: int(np.sum(g == lab)) for lab in labels}
    pairs = []
    for a, b in itertools.combinations(labels, 2):
        se = np.sqrt(base_var * (1.0 / size[a] + 1.0 / size[b]))
        z = (mean_rank[a] - mean_rank[b]) / se if se > 0 else 0.0
        pairs.append({"a": str(a), "b": str(b), "z": float(z), "p": float(2 * sps.norm.sf(abs(z)))})
    adj = _adjust(np.array([p["p"] for p in pairs]), p_adjust)
    for pair, pa in zip(pairs, adj, strict=True):
        pair["p_adj"] = float(pa)
    return PairwiseResult(method="dunn", p_adjust=p_adjust, two_sided=True, pairs=pairs)


def _pairs_from_matrix(
    matrix: pd.DataFrame, labels: list[Any], method: str, p_adjust: str
) -> PairwiseResult:
    pairs = [
        {"a": str(a), "b": str(b), "p_adj": float(matrix.loc[a, b])}
        for a, b in itertools.combinations(labels, 2)
    ]
    return PairwiseResult(method=method, p_adjust=p_adjust, two_sided=True, pairs=pairs)


def conover(
    values: pd.Series,
    groups: pd.Series,
    *,
    order: Sequence[Any] | None = None,
    p_adjust: str = "bonferroni",
) -> PairwiseResult:
    """Conover-Iman post hoc test (scikit-posthocs ``posthoc_conover``; MedCalc's default).

    Pairs carry ``p`` (unadjusted) and ``p_adj``.
    """
    import scikit_posthocs as skp

    labels = _grouped(values, groups, order)
    frame = pd.DataFrame({"v": values.to_numpy(dtype=float), "g": groups.to_numpy()})
    frame = frame[frame["g"].isin(labels)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = skp.posthoc_conover(frame, val_col="v", group_col="g", p_adjust=None)
    out = _pairs_from_matrix(raw, labels, "conover", p_adjust)
    p = np.array([pair["p_adj"] for pair in out.pairs])
    adj = _adjust(p, p_adjust)
    for pair, praw, pa in zip(out.pairs, p, adj, strict=True):
        pair["p"] = float(praw)
        pair["p_adj"] = float(pa)
    return out


def pairwise_wilcoxon(
    values: pd.Series,
    groups: pd.Series,
    *,
    order: Sequence[Any] | None = None,
    p_adjust: str = "holm",
) -> PairwiseResult:
    """Pairwise Wilcoxon rank-sum tests, normal approximation with continuity and tie
    corrections (R ``pairwise.wilcox.test`` when ties force ``exact = FALSE``)."""
    labels = _grouped(values, groups, order)
    pairs = []
    for a, b in itertools.combinations(labels, 2):
        res = sps.mannwhitneyu(
            values[groups == a].to_numpy(dtype=float),
            values[groups == b].to_numpy(dtype=float),
            use_continuity=True,
            alternative="two-sided",
            method="asymptotic",
        )
        pairs.append({"a": str(a), "b": str(b), "u": float(res.statistic), "p": float(res.pvalue)})
    adj = _adjust(np.array([p["p"] for p in pairs]), p_adjust)
    for pair, pa in zip(pairs, adj, strict=True):
        pair["p_adj"] = float(pa)
    return PairwiseResult(method="wilcoxon", p_adjust=p_adjust, two_sided=True, pairs=pairs)
