"""Every case of ../shared/stats_golden reproduced within its stated tolerance.

Tolerance: half a unit of the last printed digit of each expected string (README), NIST cases
relative (``default_tol_rel``). Documented differences are asserted as such: R's default Yates
correction on 2 x 2 tables, dunn.test's one-sided p (p1 = p_two_sided / 2) and its truncated z
(one full unit allowed).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from calcscan.stats.basic import (
    compare_means,
    compare_percentages_n1,
    compare_proportions,
    contingency_test,
)
from calcscan.stats.models import fit_glm, fit_ols
from calcscan.stats.nonparametric import conover, dunn, kruskal, pairwise_wilcoxon

CASE_IDS = [
    "chisq_agresti_party",
    "chisq_yates_2x2",
    "dunn_conover_exercise_holm",
    "dunn_statology_bonferroni",
    "glm_poisson_gss",
    "kim2017_sex_comparison",
    "kw_airquality",
    "kw_dunn_mtcars",
    "kw_dunn_mucociliary",
    "kw_nag_g08afc",
    "logit_chdage",
    "logit_infert",
    "logit_ucla_admissions",
    "nist_longley",
    "nist_norris",
    "prop_test_smokers",
    "ttest_sleep",
]


def half_unit(text: str) -> float:
    """Half a unit of the last printed digit of ``text`` (e.g. "4.02e-06" -> 5e-9)."""
    exponent = Decimal(text.strip()).as_tuple().exponent
    assert isinstance(exponent, int)
    return 0.5 * 10.0**exponent


def check(case: dict[str, Any], key: str, value: float, *, units: float = 1.0) -> None:
    expected = case["expected"][key]
    if "default_tol_rel" in case:
        tol = case["default_tol_rel"] * abs(float(expected))
    else:
        tol = units * half_unit(expected)
    assert value == pytest.approx(float(expected), abs=tol, rel=0), (
        f"{case['id']}.{key}: got {value!r}, expected {expected} +/- {tol:g}"
    )


def load(golden: Path, case_id: str) -> dict[str, Any]:
    return json.loads((golden / "cases" / f"{case_id}.json").read_text())


def test_every_case_file_is_covered(stats_golden: Path) -> None:
    ids = sorted(p.stem for p in (stats_golden / "cases").glob("*.json"))
    assert ids == sorted(CASE_IDS), "a golden case was added or removed: cover it here"


def test_chisq_agresti_party(stats_golden: Path) -> None:
    case = load(stats_golden, "chisq_agresti_party")
    res = contingency_test(case["data"]["inline"]["table"])
    check(case, "X2", res.chi2)
    check(case, "df", res.df)
    check(case, "p", res.p)
    for j, party in enumerate(["Dem", "Ind", "Rep"]):
        check(case, f"expected_F_{party}", res.expected[0][j])
        check(case, f"stdres_F_{party}", res.stdres[0][j])


def test_chisq_yates_2x2(stats_golden: Path) -> None:
    case = load(stats_golden, "chisq_yates_2x2")
    table = case["data"]["inline"]["table"]
    corrected = contingency_test(table, yates=True)
    assert corrected.yates
    check(case, "p_yates", corrected.p)
    # documented difference: the uncorrected test gives 0.2415, not R's default 0.4233
    assert contingency_test(table, yates=False).p == pytest.approx(0.2415, abs=5e-5)


def test_dunn_conover_exercise_holm(stats_golden: Path) -> None:
    case = load(stats_golden, "dunn_conover_exercise_holm")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    d = dunn(data["pulse"], data["kind"], p_adjust="holm")
    c = conover(data["pulse"], data["kind"], p_adjust="holm")
    for method, res in (("dunn", d), ("conover", c)):
        for pair in res.pairs:
            check(case, f"{method}_holm_{pair['a']}_{pair['b']}", pair["p_adj"])


def test_dunn_statology_bonferroni(stats_golden: Path) -> None:
    import scikit_posthocs as skp

    case = load(stats_golden, "dunn_statology_bonferroni")
    inline = case["data"]["inline"]
    values = pd.Series([v for k in inline for v in inline[k]], dtype=float)
    groups = pd.Series([k for k in inline for _ in inline[k]])
    res = dunn(values, groups, order=["1", "2", "3"], p_adjust="bonferroni")
    ref = skp.posthoc_dunn(
        pd.DataFrame({"v": values, "g": groups}), val_col="v", group_col="g", p_adjust="bonferroni"
    )
    for pair in res.pairs:
        check(case, f"bonf_{pair['a']}_{pair['b']}", pair["p_adj"])
        assert pair["p_adj"] == pytest.approx(float(ref.loc[pair["a"], pair["b"]]), rel=1e-12)


def test_glm_poisson_gss(stats_golden: Path) -> None:
    case = load(stats_golden, "glm_poisson_gss")
    data = pd.DataFrame(case["data"]["inline"])
    fit = fit_glm(data, "count ~ sex + party", family="poisson")
    coef = fit.coefficients
    check(case, "b0", coef["Intercept"].estimate)
    check(case, "sexmale", coef["sex[T.male]"].estimate)
    check(case, "partyindep", coef["party[T.indep]"].estimate)
    check(case, "partyrep", coef["party[T.rep]"].estimate)
    check(case, "null_deviance", fit.null_deviance)
    check(case, "deviance", fit.deviance)
    check(case, "aic", fit.aic)


def test_kim2017_sex_comparison(stats_golden: Path) -> None:
    case = load(stats_golden, "kim2017_sex_comparison")
    x, n = case["data"]["inline"]["x"], case["data"]["inline"]["n"]
    pct = case["data"]["inline"]["pct_rounded"]
    check(case, "p_reported", compare_percentages_n1(pct[0], n[0], pct[1], n[1]))
    raw = compare_proportions(x[0], n[0], x[1], n[1])
    # documented: raw counts do NOT reproduce .971
    assert raw.chi2_p == pytest.approx(0.991, abs=5e-4)
    assert raw.chi2_yates_p == pytest.approx(1.0, abs=5e-4)
    assert raw.fisher_p == pytest.approx(1.0, abs=5e-4)


def test_kw_airquality(stats_golden: Path) -> None:
    case = load(stats_golden, "kw_airquality")
    data = pd.read_csv(stats_golden / case["data"]["file"]).dropna(subset=["Ozone"])
    kw = kruskal(data["Ozone"], data["Month"])
    check(case, "H", kw.h)
    check(case, "df", kw.df)
    check(case, "p", kw.p)
    pw = pairwise_wilcoxon(data["Ozone"], data["Month"], p_adjust="holm")
    for pair in pw.pairs:
        check(case, f"pw_holm_{pair['a']}_{pair['b']}", pair["p_adj"])


def _dunn_r_case(stats_golden: Path, case_id: str) -> None:
    case = load(stats_golden, case_id)
    data = pd.read_csv(stats_golden / case["data"]["file"])
    values, groups = data[case["data"]["value"]], data[case["data"]["group"]].astype(str)
    kw = kruskal(values, groups)
    check(case, "H", kw.h)
    for key in ("df", "p"):
        if key in case["expected"]:
            check(case, key, getattr(kw, key))
    # dunn.test sorts the groups and prints z = mean rank(first) - mean rank(second)
    res = dunn(values, groups, order=sorted(groups.unique()), p_adjust="none")
    by_pair = {frozenset((p["a"], p["b"])): p for p in res.pairs}
    for key in case["expected"]:
        if not key.startswith(("z_", "p1_")):
            continue
        a, b = key.split("_", 1)[1].split("_vs_")
        pair = by_pair[frozenset((a, b))]
        if key.startswith("z_"):
            check(case, key, pair["z"], units=2.0)  # truncated print: one full unit
        else:
            check(case, key, pair["p"] / 2.0)  # dunn.test default: one-sided p
            assert pair["p_adj"] == pair["p"]


def test_kw_dunn_mtcars(stats_golden: Path) -> None:
    _dunn_r_case(stats_golden, "kw_dunn_mtcars")


def test_kw_dunn_mucociliary(stats_golden: Path) -> None:
    _dunn_r_case(stats_golden, "kw_dunn_mucociliary")


def test_kw_nag_g08afc(stats_golden: Path) -> None:
    case = load(stats_golden, "kw_nag_g08afc")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    kw = kruskal(data["value"], data["group"])
    check(case, "H", kw.h)
    check(case, "df", kw.df)
    check(case, "p", kw.p)


def test_logit_chdage(stats_golden: Path) -> None:
    case = load(stats_golden, "logit_chdage")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    fit = fit_glm(data, "chd ~ age", family="binomial")
    b0, b1 = fit.coefficients["Intercept"], fit.coefficients["age"]
    for key, value in {
        "b0": b0.estimate,
        "b1": b1.estimate,
        "se_b0": b0.se,
        "se_b1": b1.se,
        "z_b0": b0.z,
        "z_b1": b1.z,
        "p_b1": b1.p,
        "loglik": fit.loglik,
        "deviance": fit.deviance,
        "null_deviance": fit.null_deviance,
        "lr_chi2": fit.lr_chi2,
        "or_age": b1.exp_estimate,
        "or_ci_lo": b1.exp_ci95_wald[0],
        "or_ci_hi": b1.exp_ci95_wald[1],
        "aic": fit.aic,
    }.items():
        check(case, key, value)


def test_logit_infert(stats_golden: Path) -> None:
    case = load(stats_golden, "logit_infert")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    m1 = fit_glm(data, "case ~ spontaneous + induced")
    c = m1.coefficients
    check(case, "m1_b0", c["Intercept"].estimate)
    check(case, "m1_spontaneous", c["spontaneous"].estimate)
    check(case, "m1_induced", c["induced"].estimate)
    check(case, "m1_se_b0", c["Intercept"].se)
    check(case, "m1_se_spontaneous", c["spontaneous"].se)
    check(case, "m1_se_induced", c["induced"].se)
    check(case, "m1_z_spontaneous", c["spontaneous"].z)
    check(case, "m1_null_deviance", m1.null_deviance)
    check(case, "m1_deviance", m1.deviance)
    check(case, "m1_aic", m1.aic)
    edu = "C(education, Treatment('0-5yrs'))"
    m2 = fit_glm(data, f"case ~ age + parity + {edu} + spontaneous + induced")
    c = m2.coefficients
    names = {
        "b0": "Intercept",
        "age": "age",
        "parity": "parity",
        "edu_6_11": f"{edu}[T.6-11yrs]",
        "edu_12plus": f"{edu}[T.12+ yrs]",
        "spontaneous": "spontaneous",
        "induced": "induced",
    }
    for short, term in names.items():
        check(case, f"m2_{short}", c[term].estimate)
        check(case, f"m2_se_{short}", c[term].se)
    check(case, "m2_deviance", m2.deviance)
    check(case, "m2_aic", m2.aic)


def test_logit_ucla_admissions(stats_golden: Path) -> None:
    case = load(stats_golden, "logit_ucla_admissions")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    fit = fit_glm(data, "admit ~ gre + gpa + C(rank)")
    c = fit.coefficients
    names = {
        "b0": "Intercept",
        "gre": "gre",
        "gpa": "gpa",
        "rank2": "C(rank)[T.2]",
        "rank3": "C(rank)[T.3]",
        "rank4": "C(rank)[T.4]",
    }
    for short, term in names.items():
        check(case, short, c[term].estimate)
        check(case, f"se_{short}", c[term].se)
    check(case, "p_gre", c["gre"].p)
    check(case, "p_rank3", c["C(rank)[T.3]"].p)
    check(case, "null_deviance", fit.null_deviance)
    check(case, "deviance", fit.deviance)
    check(case, "aic", fit.aic)


def test_nist_longley(stats_golden: Path) -> None:
    case = load(stats_golden, "nist_longley")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    fit = fit_ols(data, "y", case["data"]["x"])
    for i, term in enumerate(["const", *case["data"]["x"]]):
        check(case, f"b{i}", fit.coefficients[term].estimate)
        check(case, f"se_b{i}", fit.coefficients[term].se)
    check(case, "resid_sd", fit.resid_sd)
    check(case, "r_squared", fit.r2)
    check(case, "ss_regression", fit.ss_regression)
    check(case, "ss_residual", fit.ss_residual)
    check(case, "f_statistic", fit.f)
    assert fit.adj_r2 == pytest.approx(float(case["derived"]["adj_r_squared"]), rel=1e-7)


def test_nist_norris(stats_golden: Path) -> None:
    case = load(stats_golden, "nist_norris")
    data = pd.read_csv(stats_golden / case["data"]["file"])
    fit = fit_ols(data, "y", ["x"])
    c = fit.coefficients
    for key, value in {
        "intercept": c["const"].estimate,
        "slope": c["x"].estimate,
        "se_intercept": c["const"].se,
        "se_slope": c["x"].se,
        "resid_sd": fit.resid_sd,
        "r_squared": fit.r2,
        "ss_regression": fit.ss_regression,
        "ss_residual": fit.ss_residual,
        "ms_residual": fit.ms_residual,
        "f_statistic": fit.f,
        "df_regression": fit.df[0],
        "df_residual": fit.df[1],
    }.items():
        check(case, key, value)


def test_prop_test_smokers(stats_golden: Path) -> None:
    case = load(stats_golden, "prop_test_smokers")
    x, n = np.array(case["data"]["inline"]["x"]), np.array(case["data"]["inline"]["n"])
    res = contingency_test(np.column_stack([x, n - x]).tolist(), yates=True)
    assert not res.yates  # never applied beyond 2 x 2, as in R's prop.test for k > 2
    check(case, "X2", res.chi2)
    check(case, "df", res.df)
    check(case, "p", res.p)


def test_ttest_sleep(stats_golden: Path) -> None:
    case = load(stats_golden, "ttest_sleep")
    res = compare_means(case["data"]["inline"]["g1"], case["data"]["inline"]["g2"])
    check(case, "t", res.student_t)
    check(case, "p_student", res.student_p)
    check(case, "df_student", res.student_df)
    check(case, "ci_student_lo", res.student_ci95[0])
    check(case, "ci_student_hi", res.student_ci95[1])
    check(case, "p_welch", res.welch_p)
    check(case, "df_welch", res.welch_df)
    check(case, "ci_welch_lo", res.welch_ci95[0])
    check(case, "ci_welch_hi", res.welch_ci95[1])
    assert res.welch_t == pytest.approx(float(case["expected"]["t"]), abs=5e-5)
