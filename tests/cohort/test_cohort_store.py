"""Results store: migrations agree with the models, bad URLs fail fast with one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from calcscan.cohort.models import Base
from calcscan.cohort.store import normalize_url, open_store
from calcscan.errors import UsageError

CALCSCAN = [sys.executable, "-m", "calcscan"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_migrations_create_the_model_schema(db_url: str) -> None:
    store = open_store(db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.exec_driver_sql("select version_num from alembic_version").scalar()
        journal = conn.exec_driver_sql("pragma journal_mode").scalar()
    assert diff == []
    assert version == "0001"
    assert journal == "wal"
    store.close()
    open_store(db_url).close()  # reopening an up-to-date store is a no-op


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "cannot parse database URL"),
        ("mysql://u@h/db", "unsupported database"),
        ("sqlite:////no/such/folder/results.db", "does not exist"),
    ],
)
def test_bad_urls_are_usage_errors(url: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        open_store(url)


def test_unreachable_postgres_is_a_one_line_usage_error() -> None:
    url = f"postgresql://calcscan:secret@127.0.0.1:{_free_port()}/results"
    with pytest.raises(UsageError) as info:
        open_store(url)
    message = str(info.value)
    assert message.startswith("cannot open results database postgresql+psycopg://")
    assert "secret" not in message and "\n" not in message


def test_cli_unreachable_db_fails_before_any_work(tmp_path: Path) -> None:
    """Exit 1, one line, no traceback, and nothing was read or written."""
    url = f"postgresql://calcscan@127.0.0.1:{_free_port()}/results"
    missing_input = tmp_path / "would_be_a_failure_if_looked_at"
    proc = subprocess.run(
        [*CALCSCAN, "cohort", "run", str(missing_input), "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: cannot open results database")
    assert "Traceback" not in proc.stderr
    assert "does not exist" not in proc.stderr  # discovery never started


def test_cli_failures_and_export_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    proc = subprocess.run(
        [*CALCSCAN, "cohort", "failures", "--db", url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"
    proc = subprocess.run(
        [*CALCSCAN, "cohort", "export", "--db", url, "-o", str(tmp_path / "x.xlsx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "use a .csv or .parquet" in proc.stderr and "Traceback" not in proc.stderr
