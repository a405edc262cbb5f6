"""``make demo`` end to end on a tiny cohort: phantoms, cohort run, stats and study reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calcscan.demo import run_demo


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    res = run_demo(tmp_path / "demo", n_studies=4, seed=11, workers=1, max_nodules=4)
    assert res.n_failed == 0
    assert res.cohort_report.is_file() and res.study_report.is_file()
    html = res.cohort_report.read_text()
    assert "Table 2" in html and "research" in html.lower()
    stats = json.loads((res.cohort_report.parent / "stats.json").read_text())
    assert stats["n"] == 4
    # every subject is in the store, with a count, and the counts reflect the planted nodules
    assert len(res.truth_vs_detected) == 4
    assert all(row["detected"] is not None for row in res.truth_vs_detected)
    visible = sum(r["visible"] for r in res.truth_vs_detected)
    counted = sum(r["detected"] for r in res.truth_vs_detected)
    assert visible > 0
    assert abs(counted - visible) <= max(1, visible // 4)
