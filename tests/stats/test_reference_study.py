"""What is reproducible from the reference study's published numbers (Kim et al. 2017)."""

from __future__ import annotations

import pytest
from scipy import stats

from calcscan.report.cohort import reference_rows
from calcscan.stats import analyze_cohort, validate_cohort
from calcscan.stats.basic import compare_percentages_n1, compare_proportions
from calcscan.stats.simulate import reference_values, simulate_cohort


def test_chi_square_from_published_counts() -> None:
    res = compare_proportions(252, 599, 301, 716)
    assert res.proportion[0] == pytest.approx(0.4207, abs=5e-5)
    assert res.proportion[1] == pytest.approx(0.4204, abs=5e-5)
    assert res.chi2 == pytest.approx(0.00013, abs=5e-5)
    assert res.chi2_p == pytest.approx(0.991, abs=5e-4)
    assert res.chi2_yates_p == pytest.approx(1.0, abs=5e-4)
    # the published .971 only comes from the rounded percentages
    assert compare_percentages_n1(42.1, 599, 42.0, 716) == pytest.approx(0.971, abs=5e-4)
    assert abs(res.chi2_p - 0.971) > 0.01


def test_p_of_published_f_and_h() -> None:
    assert stats.f.sf(2.79, 1, 551) == pytest.approx(0.095, abs=5e-4)  # published P = .095
    assert stats.chi2.sf(27.46, 8) < 0.001  # published P < .001
    assert stats.chi2.sf(0.032, 1) == pytest.approx(0.857, abs=1.5e-3)  # published .857


def test_report_rows_explain_the_published_values() -> None:
    r = analyze_cohort(validate_cohort(simulate_cohort(300, seed=11))).to_dict()
    rows = {row["question"]: row for row in reference_rows(r)}
    prev = rows["Prevalence male vs female, P"]
    assert "0.991" in prev["note"] and "0.971" in prev["note"] and "rounded" in prev["note"]
    assert "0.095" in rows["Linear regression count ~ age (positives)"]["note"]
    assert "0.00059" in rows["Kruskal-Wallis by decade"]["note"]
    assert rows["Kruskal-Wallis by decade"]["reference"] == "H(8)=27.46, P<.001"


def test_reference_table2_adds_up() -> None:
    ref = reference_values()
    t2 = ref["table2"]
    assert sum(v["all"] for v in t2.values()) == ref["n"]
    assert sum(v["male"] for v in t2.values()) == ref["n_male"]
    assert sum(v["female"] for v in t2.values()) == ref["n_female"]
    assert sum(ref["table1_indications"].values()) == ref["n"]
    assert ref["n"] - t2["none"]["all"] == ref["positives_male"] + ref["positives_female"]


def test_default_decades_give_nine_groups_over_4_to_90() -> None:
    import pandas as pd

    from calcscan.stats.nonparametric import decade_labels

    labels = decade_labels(pd.Series([4.0, 15, 25, 35, 45, 55, 65, 75, 85, 90]))
    assert labels.nunique() == 9
    assert labels.iloc[-1] == labels.iloc[-2] == "[80,inf)"
    closed = decade_labels(pd.Series([4.0, 90]), top_decade=None)
    assert list(closed) == ["[0,10)", "[90,100)"]


def test_table2_sex_test_on_published_table() -> None:
    from calcscan.stats.tables import table2_sex_test

    t2 = reference_values()["table2"]
    res = table2_sex_test(t2)
    assert res["estimable"] is True and res["df"] == 5
    assert res["min_expected"] < 5 and "caution" in res["warning"]
    # no positives -> not estimable
    empty = {
        "none": {"all": 10, "male": 5, "female": 5},
        "frontal": {"all": 0, "male": 0, "female": 0},
    }
    assert table2_sex_test(empty)["estimable"] is False
