"""``python -m calcscan stats`` end to end: exit codes, strict JSON on stdout, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from calcscan.stats.simulate import simulate_cohort

CONTRACT_KEYS = {
    "n": None,
    "n_male": None,
    "n_female": None,
    "prevalence": {"male", "female", "overall", "chi2", "chi2_p", "yates"},
    "age_by_sex": {"mean_male", "mean_female", "z", "p"},
    "logistic": {"age", "sex_male"},
    "linear_count_age": {"slope", "f", "df", "p", "r2"},
    "kruskal_decade": {"h", "df", "p", "groups"},
    "dunn_decade": None,
    "kruskal_sex": {"h", "df", "p"},
    "table2": None,
    "dunn_p_adjust": None,
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calcscan", "stats", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def strict_json(text: str) -> dict[str, Any]:
    def bad(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    out: dict[str, Any] = json.loads(text, parse_constant=bad)
    return out


@pytest.fixture(scope="module")
def cohort_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    simulate_cohort(700, seed=21).to_csv(path, index=False)
    return path


def test_json_contract(cohort_csv: Path) -> None:
    proc = run(str(cohort_csv), "--json")
    assert proc.returncode == 0, proc.stderr
    r = strict_json(proc.stdout)
    for key, sub in CONTRACT_KEYS.items():
        assert key in r, key
        if sub:
            assert sub <= set(r[key]), (key, sub - set(r[key]))
    assert r["n"] == 700 and r["n_male"] + r["n_female"] == 700
    for term in ("age", "sex_male"):
        assert {"odds_ratio", "ci95", "p"} <= set(r["logistic"][term])
    assert r["linear_count_age"]["df"] == [1, r["linear_count_age"]["n"] - 2]
    assert r["dunn_p_adjust"] == "bonferroni"
    k = len(r["kruskal_decade"]["groups"])
    assert len(r["dunn_decade"]) == k * (k - 1) // 2
    assert {"a", "b", "z", "p", "p_adj"} <= set(r["dunn_decade"][0])
    assert r["prevalence"]["yates"] is False
    assert set(r["table2"]) >= {"none", "frontal", "frontal_maxillary", "maxillary"}
    assert sum(v["all"] for v in r["table2"].values()) == 700


def test_human_summary_and_options(cohort_csv: Path, tmp_path: Path) -> None:
    proc = run(str(cohort_csv), "--p-adjust", "holm", "--top-decade", "70")
    assert proc.returncode == 0, proc.stderr
    assert "Kruskal-Wallis" in proc.stdout and "holm" in proc.stdout
    proc = run(str(cohort_csv), "--json", "--top-decade", "none", "--p-adjust", "fdr_bh")
    r = strict_json(proc.stdout)
    assert r["dunn_p_adjust"] == "fdr_bh" and r["options"]["top_decade"] is None


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--p-adjust", "sidak"], 1, "p-adjust"),
        (["--top-decade", "75"], 1, "top-decade"),
    ],
)
def test_usage_errors(cohort_csv: Path, args: list[str], code: int, needle: str) -> None:
    proc = run(str(cohort_csv), "--json", *args)
    assert proc.returncode == code
    assert proc.stdout == ""
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_no_source_is_a_usage_error() -> None:
    proc = run("--json")
    assert proc.returncode == 1 and "cohort" in proc.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "empty"),
        ("age_years,sex,nodule_count\n", "empty"),
        ("age_years,sex\n40,M\n", "nodule_count"),
        ("age_years,sex,nodule_count\n40,M,1\nforty,F,0\n", "age_years' row 3"),
        ("age_years,sex,nodule_count\n40,M,1\n50,F,\n", "nodule_count' row 3"),
    ],
)
def test_input_errors(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    proc = run(str(path), "--json")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_all_positive_cohort_gives_not_estimable(tmp_path: Path) -> None:
    df = simulate_cohort(120, seed=5)
    df["nodule_count"] = df["nodule_count"].clip(lower=1)
    path = tmp_path / "pos.csv"
    df.to_csv(path, index=False)
    proc = run(str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    r = strict_json(proc.stdout)
    assert r["logistic"]["estimable"] is False and r["logistic"]["reason"]


def test_report_written(cohort_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = run(str(cohort_csv), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    r = strict_json(proc.stdout)
    assert Path(r["report"]) == out / "cohort_report.html"
    for name in ("figure2_count_vs_age", "figure3_decades"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    saved = strict_json((out / "stats.json").read_text())
    assert saved["n"] == r["n"]
