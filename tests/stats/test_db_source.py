"""``calcscan stats --db URL`` reads a results store written by the cohort engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from calcscan.contracts import REGION_KEYS, SCHEMA_VERSION
from calcscan.stats.simulate import simulate_cohort

store_mod = pytest.importorskip("calcscan.cohort.store")


def _record(row: Any) -> dict[str, Any]:
    counts = {r: int(row[f"counts_{r}"]) for r in REGION_KEYS}
    return {
        "schema_version": SCHEMA_VERSION,
        "software_version": "test",
        "config_digest": "d1",
        "study_key": row["study_key"],
        "patient_age_years": float(row["age_years"]),
        "patient_sex": row["sex"],
        "qc": {"face_coverage_ok": True, "excluded": False, "reasons": [], "flags": []},
        "nodule_count": int(row["nodule_count"]),
        "counts_by_region": counts,
        "distribution_pattern": row["distribution_pattern"],
        "nodules": [],
        "possible_nodules": [],
        "rejected": {},
        "timings_s": {},
    }


def test_stats_from_store_matches_csv(tmp_path: Path) -> None:
    from calcscan.cohort.discovery import StudyTask
    from calcscan.cohort.records import study_from_record

    df = simulate_cohort(150, seed=44)
    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = store_mod.open_store(url)
    run_id = store.start_run(
        config_digest="d1",
        config={},
        software_version="test",
        versions={},
        executor="serial",
        workers=1,
    )
    for _, row in df.iterrows():
        task = StudyTask(
            input_key=row["study_key"],
            path="x",
            series_uid=None,
            kind="volume",
            label=row["study_key"],
        )
        store.add_study(study_from_record(_record(row), task, config_digest="d1", run_id=run_id))
    store.close()
    csv = tmp_path / "c.csv"
    df.to_csv(csv, index=False)
    outs = []
    for args in (["--db", url], [str(csv)]):
        proc = subprocess.run(
            [sys.executable, "-m", "calcscan", "stats", *args, "--json", "--no-profile-ci"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    db, ref = outs
    assert db["n"] == ref["n"] == 150
    for key in ("prevalence", "age_by_sex", "linear_count_age", "kruskal_decade", "table2"):
        assert json.dumps(db[key], sort_keys=True) == json.dumps(ref[key], sort_keys=True), key
