"""Bad input -> one clear error; degenerate cohorts -> not-estimable analyses, strict JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from calcscan.errors import InputError, UsageError
from calcscan.stats import AnalysisOptions, analyze_cohort, load_cohort, validate_cohort
from calcscan.stats.nonparametric import dunn
from calcscan.stats.simulate import simulate_cohort


def strict(obj: Any) -> dict[str, Any]:
    text = json.dumps(obj, allow_nan=False)
    out: dict[str, Any] = json.loads(text)
    return out


def run(df: pd.DataFrame, **kw: Any) -> dict[str, Any]:
    return strict(analyze_cohort(validate_cohort(df), AnalysisOptions(**kw)).to_dict())


def cohort(n: int = 200, seed: int = 0) -> pd.DataFrame:
    return simulate_cohort(n, seed)


def test_missing_column_is_named() -> None:
    with pytest.raises(InputError, match="nodule_count"):
        validate_cohort(cohort().drop(columns=["nodule_count"]))


@pytest.mark.parametrize("bad", ["abc", "", None])
def test_non_numeric_or_empty_age_names_column_and_row(bad: object) -> None:
    df = cohort(20).astype({"age_years": object})
    df.loc[5, "age_years"] = bad
    with pytest.raises(InputError, match=r"age_years.*row 7"):
        validate_cohort(df)


def test_negative_or_fractional_count() -> None:
    df = cohort(20).astype({"nodule_count": float})
    df.loc[3, "nodule_count"] = -1
    with pytest.raises(InputError, match="nodule_count"):
        validate_cohort(df)
    df.loc[3, "nodule_count"] = 1.5
    with pytest.raises(InputError, match="nodule_count"):
        validate_cohort(df)


def test_bad_sex() -> None:
    df = cohort(20).astype({"sex": object})
    df.loc[2, "sex"] = "X"
    with pytest.raises(InputError, match="sex"):
        validate_cohort(df)


def test_empty_tables(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_cohort(empty)
    header = tmp_path / "header.csv"
    header.write_text("age_years,sex,nodule_count\n")
    with pytest.raises(InputError, match="empty"):
        load_cohort(header)
    with pytest.raises(InputError, match="not found"):
        load_cohort(tmp_path / "missing.csv")
    with pytest.raises(UsageError, match="unsupported"):
        (tmp_path / "x.txt").write_text("a")
        load_cohort(tmp_path / "x.txt")


def test_parquet_roundtrip(tmp_path: Path) -> None:
    df = cohort(50)
    df.to_parquet(tmp_path / "c.parquet")
    assert load_cohort(tmp_path / "c.parquet").shape[0] == 50


def test_excluded_rows_are_dropped() -> None:
    df = cohort(50)
    df.loc[:9, "excluded"] = True
    assert validate_cohort(df).shape[0] == 40


def test_all_positive() -> None:
    df = cohort(200)
    df["nodule_count"] = np.maximum(df["nodule_count"], 1)
    r = run(df)
    assert r["prevalence"]["estimable"] is False and "positive" in r["prevalence"]["reason"]
    assert r["prevalence"]["overall"] == 1.0
    assert r["logistic"] == {"estimable": False, "reason": r["logistic"]["reason"]}
    assert "positive" in r["logistic"]["reason"]
    assert r["spline_age"]["estimable"] is False
    assert r["count_models"]["estimable"] is False
    assert r["linear_count_age"]["estimable"] is True  # positives-only analyses still run
    assert isinstance(r["dunn_decade"], list)


def test_all_negative() -> None:
    df = cohort(200)
    df["nodule_count"] = 0
    for region in [c for c in df.columns if c.startswith("counts_")]:
        df[region] = 0
    r = run(df)
    for key in (
        "logistic",
        "linear_count_age",
        "kruskal_decade",
        "kruskal_sex",
        "dunn_decade",
        "count_models",
        "regional",
    ):
        assert r[key]["estimable"] is False, key
        assert r[key]["reason"], key
    assert r["prevalence"]["overall"] == 0.0
    assert r["table2"]["none"]["all"] == 200


def test_one_decade_among_positives() -> None:
    df = cohort(100)
    df["age_years"] = 45.0 + (np.arange(100) % 5)
    r = run(df)
    assert r["kruskal_decade"]["estimable"] is False
    assert "decade" in r["kruskal_decade"]["reason"]
    assert r["dunn_decade"]["estimable"] is False


def test_decade_with_a_single_subject_is_kept_and_flagged() -> None:
    df = cohort(300, seed=4)
    pos = df.index[df["nodule_count"] > 0]
    df = df[(df["age_years"] < 80) | (df["nodule_count"] == 0)].copy()
    df.loc[pos[0], ["age_years", "nodule_count", "counts_frontal"]] = [88.0, 5, 5]
    df = pd.concat([df, pd.DataFrame()]).reset_index(drop=True)
    r = run(df)
    kw = r["kruskal_decade"]
    assert "[80,inf)" in kw["groups"]
    assert kw["group_n"][kw["groups"].index("[80,inf)")] == 1
    assert any("single subject" in w for w in kw["warnings"])
    n_groups = len(kw["groups"])
    assert len(r["dunn_decade"]) == n_groups * (n_groups - 1) // 2


def test_tiny_and_one_sex_cohorts() -> None:
    df = cohort(200)
    df["sex"] = "F"
    r = run(df)
    assert r["prevalence"]["estimable"] is False and "one sex" in r["prevalence"]["reason"]
    assert r["age_by_sex"]["estimable"] is False
    assert r["logistic"]["estimable"] is True
    assert r["logistic"]["sex_male"]["estimable"] is False
    assert r["kruskal_sex"]["estimable"] is False
    r1 = run(cohort(3))
    assert r1["logistic"]["estimable"] is False
    assert r1["n"] == 3


def test_identical_counts_among_positives() -> None:
    df = cohort(200)
    df["nodule_count"] = np.where(df["nodule_count"] > 0, 3, 0)
    r = run(df)
    assert r["kruskal_decade"]["estimable"] is False
    assert "same count" in r["kruskal_decade"]["reason"]
    assert r["linear_count_age"]["estimable"] is False


def test_p_adjust_options_and_top_decade() -> None:
    df = validate_cohort(cohort(600, seed=9))
    res = {
        m: analyze_cohort(df, AnalysisOptions(p_adjust=m, profile_ci=False)).to_dict()
        for m in ("bonferroni", "holm", "fdr_bh", "none")
    }
    raw = np.array([p["p"] for p in res["none"]["dunn_decade"]])
    bonf = np.array([p["p_adj"] for p in res["bonferroni"]["dunn_decade"]])
    holm = np.array([p["p_adj"] for p in res["holm"]["dunn_decade"]])
    bh = np.array([p["p_adj"] for p in res["fdr_bh"]["dunn_decade"]])
    assert np.allclose(bonf, np.minimum(raw * raw.size, 1.0))
    assert np.all(raw <= bh + 1e-15) and np.all(bh <= holm + 1e-15) and np.all(holm <= bonf + 1e-15)
    assert res["holm"]["dunn_p_adjust"] == "holm"
    with pytest.raises(UsageError):
        analyze_cohort(df, AnalysisOptions(p_adjust="sidak"))
    closed = analyze_cohort(df, AnalysisOptions(top_decade=None, profile_ci=False)).to_dict()
    assert not any("inf" in g for g in closed["kruskal_decade"]["groups"])


def test_dunn_matches_scikit_posthocs_on_a_cohort() -> None:
    import scikit_posthocs as skp

    from calcscan.stats.nonparametric import decade_labels

    df = validate_cohort(cohort(800, seed=3))
    pos = df[df["nodule_count"] > 0]
    dec = decade_labels(pos["age_years"])
    for method in ("bonferroni", "holm", "fdr_bh"):
        ours = dunn(pos["nodule_count"].astype(float), dec, p_adjust=method)
        ref = skp.posthoc_dunn(
            pd.DataFrame({"v": pos["nodule_count"].astype(float), "g": dec}),
            val_col="v",
            group_col="g",
            p_adjust=method,
        )
        for pair in ours.pairs:
            assert pair["p_adj"] == pytest.approx(float(ref.loc[pair["a"], pair["b"]]), rel=1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_small_random_cohorts_never_crash(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    df = pd.DataFrame(
        {
            "age_years": rng.choice([5.0, 15, 45, 46, 85, 90], n),
            "sex": rng.choice(["M", "F"], n),
            "nodule_count": rng.choice([0, 0, 1, 1, 2, 50], n),
        }
    )
    r = run(df, profile_ci=bool(seed % 2))
    assert r["n"] == n
    for key in (
        "prevalence",
        "age_by_sex",
        "logistic",
        "linear_count_age",
        "kruskal_decade",
        "kruskal_sex",
        "spline_age",
        "count_models",
        "regional",
    ):
        block = r[key]
        assert isinstance(block, dict) and isinstance(block.get("estimable"), bool), key
        if block["estimable"] is False:
            assert block["reason"], key
