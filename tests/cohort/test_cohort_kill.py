"""A cohort run killed with SIGKILL mid-way, then rerun: every study exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cohort_fakes import Cohort, blob_detect

from calcscan.cohort import read_study_table, run_cohort

CONFIG = {"threshold_hu": 150.0}
HERE = Path(__file__).resolve().parent


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute("select count(*) from studies").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_then_rerun_gives_each_study_once(
    cohort: Cohort, tmp_path: Path, workers: int
) -> None:
    db = tmp_path / "results.db"
    url = f"sqlite:///{db}"
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(HERE)!r})
            from cohort_fakes import blob_detect
            from calcscan.cohort import run_cohort
            if __name__ == "__main__":
                run_cohort({[str(p) for p in cohort.inputs]!r}, {url!r}, config={CONFIG!r},
                           process=blob_detect, workers={workers})
            """
        )
    )
    env = dict(os.environ, CALCSCAN_TEST_DELAY_S="0.3")
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        start_new_session=True,  # its own process group: the kill takes the workers too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _stored(db) < 5:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no progress within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _stored(db)
    assert 5 <= killed_at < cohort.n_good

    summary = run_cohort(cohort.inputs, url, config=CONFIG, process=blob_detect, workers=1)
    assert summary.n_skipped == killed_at
    assert summary.n_processed == cohort.n_good - killed_at
    with sqlite3.connect(db) as con:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        per_study = con.execute(
            "select input_key, count(*) from studies group by input_key, config_digest"
        ).fetchall()
        statuses = [r[0] for r in con.execute("select status from runs order by id")]
        orphans = con.execute(
            "select count(*) from nodules where study_id not in (select id from studies)"
        ).fetchone()[0]
    assert len(per_study) == cohort.n_good
    assert all(n == 1 for _, n in per_study)
    assert statuses == ["running", "failed"]  # the killed run never finished; broken inputs
    assert orphans == 0
    assert len(read_study_table(url)) == cohort.n_good
