"""The cohort results store: open (and migrate) a database, write results, read tables.

SQLite is the default (``sqlite:///results.db``, WAL journal, one commit per study so a killed
run loses nothing that was committed); PostgreSQL is used when the URL says so (plain
``postgresql://`` is routed to the installed psycopg 3 driver). The schema is created and
upgraded by the Alembic migrations shipped with the package every time a store is opened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from calcscan.cohort.models import Failure, Run, Study
from calcscan.errors import UsageError

__all__ = [
    "DEFAULT_DB_URL",
    "IDENTIFIER_COLUMNS",
    "STUDY_COLUMNS",
    "ResultStore",
    "normalize_url",
    "open_store",
    "read_nodule_table",
    "read_study_table",
]

log = logging.getLogger(__name__)

#: Default results database (a SQLite file in the working directory).
DEFAULT_DB_URL = "sqlite:///results.db"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x63616C63  # "calc": advisory lock held while migrating a PostgreSQL store


def normalize_url(url: str) -> URL:
    """Parse an SQLAlchemy URL; route ``postgresql://`` to psycopg 3.

    Raises
    ------
    UsageError
        If the URL cannot be parsed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(
            f"cannot parse database URL {url!r}: use e.g. sqlite:///results.db or "
            "postgresql://user@host/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise UsageError(
            f"unsupported database {backend!r} in {parsed.render_as_string()}: use sqlite:/// "
            "or postgresql://"
        )
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:":
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise UsageError(
                    f"cannot open results database {url.render_as_string()}: folder {parent} "
                    "does not exist (create it or choose another path)"
                )
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _migrate(engine: Engine) -> None:
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    if not log.isEnabledFor(logging.DEBUG):
        alembic_log.setLevel(logging.WARNING)  # its INFO lines say nothing to a user
    try:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # concurrent runs migrate one at a time
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        alembic_log.setLevel(level)


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return lines[0] if lines else type(orig).__name__


class ResultStore:
    """An open, migrated results database.

    Use :func:`open_store`; sessions come from :meth:`session`.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Engine of a database whose schema is at the head migration.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ runs
    def start_run(self, **fields: Any) -> int:
        """Insert a ``runs`` row with status ``running``; return its id."""
        run = Run(started_at=datetime.now(UTC), status="running", **fields)
        with self.session() as s:
            s.add(run)
            s.flush()
            return int(run.id)

    def finish_run(self, run_id: int, **fields: Any) -> None:
        """Close a run: set ``finished_at`` and the given counters/timings."""
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                return
            run.finished_at = datetime.now(UTC)
            for key, value in fields.items():
                setattr(run, key, value)

    # ------------------------------------------------------------------ studies
    def done_input_keys(self, config_digest: str) -> set[str]:
        """Input keys of the studies already stored under ``config_digest``."""
        with self.session() as s:
            rows = s.scalars(select(Study.input_key).where(Study.config_digest == config_digest))
            return set(rows)

    def add_study(self, study: Study) -> bool:
        """Store one study (with its nodules and rejected counts) in its own transaction.

        Resolves earlier failures of the same input and digest.

        Returns
        -------
        bool
            False if the study was already stored (by a concurrent or earlier run).
        """
        try:
            with self.session() as s:
                s.add(study)
                s.flush()
                for failure in s.scalars(
                    select(Failure).where(
                        Failure.input_key == study.input_key,
                        Failure.config_digest == study.config_digest,
                        Failure.resolved.is_(False),
                    )
                ):
                    failure.resolved = True
        except IntegrityError:
            log.info("study %s already stored for config %s", study.study_key, study.config_digest)
            return False
        return True

    def update_demographics(self, config_digest: str, updates: dict[str, dict[str, Any]]) -> int:
        """Apply demographic overrides (``input_key -> {column: value}``) to stored studies."""
        changed = 0
        with self.session() as s:
            for study in s.scalars(
                select(Study).where(
                    Study.config_digest == config_digest, Study.input_key.in_(list(updates))
                )
            ):
                for key, value in updates[study.input_key].items():
                    if getattr(study, key) != value:
                        setattr(study, key, value)
                        changed += 1
        return changed

    def add_failure(self, **fields: Any) -> None:
        """Record a failure in its own transaction."""
        with self.session() as s:
            s.add(Failure(created_at=datetime.now(UTC), resolved=False, **fields))

    def failures(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Failures (newest first) as plain dicts."""
        stmt = select(Failure).order_by(Failure.id.desc())
        if not include_resolved:
            stmt = stmt.where(Failure.resolved.is_(False))
        with self.session() as s:
            return [
                {
                    "run_id": f.run_id,
                    "input_key": f.input_key,
                    "config_digest": f.config_digest,
                    "stage": f.stage,
                    "error_type": f.error_type,
                    "message": f.message,
                    "input": f.input_path or f.input_label,
                    "resolved": f.resolved,
                    "created_at": f.created_at.isoformat() if f.created_at else None,
                }
                for f in s.scalars(stmt)
            ]

    def latest_digest(self) -> str | None:
        """Config digest of the most recently stored study (None for an empty store)."""
        with self.session() as s:
            row = s.execute(select(Study.config_digest).order_by(Study.id.desc()).limit(1)).first()
            return None if row is None else str(row[0])

    def digests(self) -> dict[str, int]:
        """Number of stored studies per config digest."""
        with self.session() as s:
            rows = s.execute(
                select(Study.config_digest, func.count()).group_by(Study.config_digest)
            )
            return {str(d): int(n) for d, n in rows}


def open_store(url: str = DEFAULT_DB_URL) -> ResultStore:
    """Open a results database, checking the connection and migrating the schema to head.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path.db`` or ``postgresql[+psycopg]://user@host/db``.

    Returns
    -------
    ResultStore

    Raises
    ------
    UsageError
        One line naming the database and the reason when it cannot be reached or migrated.
    """
    parsed = normalize_url(url)
    shown = parsed.render_as_string(hide_password=True)
    try:
        engine = _make_engine(parsed)
    except NoSuchModuleError:
        raise UsageError(f"no driver for {shown}: install psycopg[binary]") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        _migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise UsageError(
            f"cannot open results database {shown}: {_one_line(exc)} (check the URL and that "
            "the server is running and reachable)"
        ) from None
    return ResultStore(engine)


# The table readers live in calcscan.cohort.tables; they are part of this module's API
# (``calcscan stats --db`` imports ``calcscan.cohort.store.read_study_table``).
from calcscan.cohort.tables import (  # noqa: E402
    IDENTIFIER_COLUMNS,
    STUDY_COLUMNS,
    read_nodule_table,
    read_study_table,
)
