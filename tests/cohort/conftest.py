"""Fixtures of the cohort tests: a generated cohort (built once) and fresh SQLite URLs."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cohort_fakes import Cohort, make_cohort


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """36 inputs: 20 DICOM studies, 12 NIfTI, 1 zip, 3 broken, 1 duplicate copy."""
    return make_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture()
def db_url(tmp_path: Path) -> Iterator[str]:
    """URL of a fresh SQLite results store."""
    yield f"sqlite:///{tmp_path / 'results.db'}"


def _postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (free port); yields its admin URL.

    Uses the machine's server binaries (installed by ``scripts/test-services.sh``). Skips when
    they are absent, except in CI (``CI=true``) where that is a failure. As root, the server
    runs as the ``postgres`` user.
    """
    bindir = _postgres_bindir()
    if bindir is None:
        message = (
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); "
            "install them with scripts/test-services.sh"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="calcscan-pg-"))
    sock = base / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        for p in (base, sock):
            shutil.chown(p, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
         "-E", "UTF8", "--no-sync"],
        **run,
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-l", str(base / "server.log"), "-w", "-o", options, "start"], **run)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def postgres_db(postgres_server: str) -> str:
    """URL (plain ``postgresql://``) of a new, empty database on the test server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"
