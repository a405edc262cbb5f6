"""Alembic migrations of the cohort results store (run programmatically on open)."""
