"""Alembic environment: migrations run on the connection handed over by the store."""

from __future__ import annotations

from alembic import context

from calcscan.cohort.models import Base

target_metadata = Base.metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # pragma: no cover - the store always passes a connection
        raise RuntimeError("calcscan migrations run only through calcscan.cohort.store")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
