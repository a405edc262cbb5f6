"""The synthetic cohort model reproduces the reference study's headline numbers."""

from __future__ import annotations

import numpy as np
import pytest

from calcscan.contracts import MORPHOLOGIES, REGION_KEYS, SIDES
from calcscan.stats import analyze_cohort, validate_cohort
from calcscan.stats.simulate import plan_nodules, plan_region_counts, simulate_cohort


@pytest.fixture(scope="module")
def big() -> object:
    return simulate_cohort(6000, seed=123)


def test_columns_and_reproducibility() -> None:
    a, b = simulate_cohort(50, seed=7), simulate_cohort(50, seed=7)
    assert a.equals(b)
    assert not a.equals(simulate_cohort(50, seed=8))
    for col in (
        "study_key",
        "age_years",
        "sex",
        "nodule_count",
        "distribution_pattern",
        "indication",
        *(f"counts_{r}" for r in REGION_KEYS),
    ):
        assert col in a.columns
    region_sum = a[[f"counts_{r}" for r in REGION_KEYS]].sum(axis=1)
    assert (region_sum == a["nodule_count"]).all()
    assert a["study_key"].is_unique


def test_model_matches_reference(big: object) -> None:
    import pandas as pd

    assert isinstance(big, pd.DataFrame)
    pos = big[big["nodule_count"] > 0]
    assert big["age_years"].between(4, 90).all()
    assert (big["sex"] == "M").mean() == pytest.approx(599 / 1315, abs=0.02)
    assert (big["nodule_count"] > 0).mean() == pytest.approx(0.421, abs=0.03)
    assert pos["nodule_count"].mean() == pytest.approx(14, abs=2.5)
    assert pos["nodule_count"].max() > 100  # long tail
    assert (pos["counts_frontal"] > 0).mean() == pytest.approx(0.87, abs=0.03)
    assert (pos["counts_maxillary"] > 0).mean() == pytest.approx(0.46, abs=0.06)
    assert (big["indication"] == "Chronic sinusitis").mean() == pytest.approx(0.626, abs=0.03)
    r = analyze_cohort(validate_cohort(big)).to_dict()
    assert r["logistic"]["age"]["odds_ratio"] == pytest.approx(1.02, abs=0.006)
    assert r["logistic"]["sex_male"]["ci95"][0] < 1.0 < r["logistic"]["sex_male"]["ci95"][1]


def test_cap_and_nodule_plan() -> None:
    df = simulate_cohort(300, seed=2, max_count=6)
    assert df["nodule_count"].max() <= 6
    assert (df["count_uncapped"] >= df["nodule_count"]).all()
    plans = plan_nodules(df, seed=1, max_per_subject=None)
    for _, row in df.iterrows():
        specs = plans[row["study_key"]]
        assert len(specs) == row["nodule_count"]
        for r in REGION_KEYS:
            assert sum(s.region == r for s in specs) == row[f"counts_{r}"]
    capped = plan_nodules(simulate_cohort(300, seed=2), seed=1, max_per_subject=5)
    sizes = [len(v) for v in capped.values()]
    assert max(sizes) <= 5 + len(REGION_KEYS)  # at least one per involved region
    specs = [s for v in capped.values() for s in v]
    assert {s.morphology for s in specs} <= set(MORPHOLOGIES)
    assert {s.side for s in specs} <= set(SIDES)
    d = np.array([s.diameter_mm for s in specs])
    assert d.min() >= 0.8 and d.max() <= 5.0 and np.median(d) < 2.0


def test_region_counts_plan_matches_nodule_plan() -> None:
    df = simulate_cohort(200, seed=6)
    counts = plan_region_counts(df, max_per_subject=8)
    nodules = plan_nodules(df, seed=0, max_per_subject=8)
    for key, regions in counts.items():
        assert sum(regions.values()) == len(nodules[key])
        assert all(c > 0 for c in regions.values())
        assert set(regions) <= set(REGION_KEYS)
    uncapped = plan_region_counts(df, max_per_subject=None)
    for _, row in df.iterrows():
        assert sum(uncapped[row["study_key"]].values()) == row["nodule_count"]
