"""The cohort report: self-contained HTML that a real headless Chromium opens without errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from calcscan.report.cohort import method_sentences, write_cohort_report
from calcscan.stats import AnalysisOptions, analyze_cohort, validate_cohort
from calcscan.stats.simulate import simulate_cohort

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort_report")
    df = validate_cohort(simulate_cohort(900, seed=31))
    result = analyze_cohort(df, AnalysisOptions(profile_ci=False))
    return write_cohort_report(result, df, out)


def test_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    assert "url(http" not in html
    assert html.count("<svg") >= 2  # Figures 2 and 3 inline
    for anchor in (
        "reference",
        "methods",
        "table1",
        "table2",
        "figure2",
        "figure3",
        "posthoc",
        "disclaimer",
    ):
        assert f'id="{anchor}"' in html
    assert "Research use only" in html
    assert "H(8)=27.46" in html and "F(1,551)=2.79" in html and ".971" in html
    assert "NaN" not in html and "nan%" not in html


def test_method_sentences_name_software_and_options(report: Path) -> None:
    import json

    r = json.loads((report.parent / "stats.json").read_text())
    rows = method_sentences(r)
    text = " ".join(m["method"] for m in rows)
    for needle in (
        "statsmodels",
        "SciPy",
        "scikit-posthocs",
        "Yates",
        "unpooled",
        "ties",
        "two-sided",
        "bonferroni",
        "Wilson",
        "[80,inf)",
    ):
        assert needle in text, needle


def test_not_estimable_cohort_still_renders(tmp_path: Path) -> None:
    df = simulate_cohort(60, seed=1)
    df["nodule_count"] = 0
    for col in [c for c in df.columns if c.startswith("counts_")]:
        df[col] = 0
    df = validate_cohort(df)
    path = write_cohort_report(analyze_cohort(df), df, tmp_path)
    html = path.read_text()
    assert "not estimable" in html
    assert pd.read_json(tmp_path / "stats.json", typ="series")["n"] == 60


@pytest.mark.services
@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (run scripts/test-services.sh)"
)
def test_opens_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    base = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    proc = subprocess.run(
        [*base, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "Facial calcified nodules: cohort statistics" in dom
    assert dom.count("<svg") >= 2 and 'id="reference-table"' in dom
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [*base, "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert shot.stat().st_size > 20_000
