"""The results store on a real PostgreSQL server (started by the test set-up)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from cohort_fakes import Cohort, blob_detect

from calcscan.cohort import read_study_table, run_cohort

pytestmark = pytest.mark.services
CONFIG = {"threshold_hu": 150.0}
HERE = Path(__file__).resolve().parent


def test_postgres_run_matches_sqlite_and_resumes(
    cohort: Cohort, postgres_db: str, db_url: str
) -> None:
    assert postgres_db.startswith("postgresql://")  # plain URL, routed to psycopg 3
    pg = run_cohort(cohort.inputs, postgres_db, config=CONFIG, process=blob_detect, workers=2)
    assert pg.n_processed == cohort.n_good and pg.n_failed == cohort.n_broken
    run_cohort(cohort.inputs, db_url, config=CONFIG, process=blob_detect, workers=1)
    pd.testing.assert_frame_equal(read_study_table(postgres_db), read_study_table(db_url))
    explicit = postgres_db.replace("postgresql://", "postgresql+psycopg://")
    again = run_cohort(cohort.inputs, explicit, config=CONFIG, process=blob_detect, workers=1)
    assert again.n_processed == 0 and again.n_skipped == cohort.n_good


def test_two_concurrent_runs_store_each_study_once(
    cohort: Cohort, postgres_db: str, tmp_path: Path
) -> None:
    """Two runs on the same fresh database at once: migrations and studies happen once."""
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(HERE)!r})
            from cohort_fakes import blob_detect
            from calcscan.cohort import run_cohort
            if __name__ == "__main__":
                s = run_cohort({[str(p) for p in cohort.inputs]!r}, {postgres_db!r},
                               config={CONFIG!r}, process=blob_detect, workers=1)
                print(s.n_processed, s.n_skipped)
            """
        )
    )
    env = dict(os.environ, CALCSCAN_TEST_DELAY_S="0.02")
    procs = [
        subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    processed = sum(int(o[0].split()[0]) for o in outs)
    assert processed == cohort.n_good  # every study stored by exactly one of the two runs
    import psycopg

    with psycopg.connect(postgres_db) as conn:
        dup = conn.execute(
            "select input_key from studies group by input_key, config_digest having count(*) > 1"
        ).fetchall()
        total = conn.execute("select count(*) from studies").fetchone()
    assert dup == [] and total is not None and total[0] == cohort.n_good
