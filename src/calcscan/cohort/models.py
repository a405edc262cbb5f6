"""SQLAlchemy 2 models of the cohort results store.

Tables: ``runs`` (one row per ``cohort run``: config, versions, timings), ``studies`` (one row
per study and config digest, unique), ``nodules`` (one row per counted or possible nodule),
``rejected`` (candidates rejected per study, by reason) and ``failures`` (studies that could
not be processed, with stage, error type and message).

The schema is created and upgraded by the Alembic migrations shipped in
``calcscan/cohort/migrations``; ``tests/cohort`` checks that the migrations and these models
agree. De-identification: identifier columns (``input_path``, UIDs, accession) stay NULL unless
the run was asked to keep identifiers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Failure", "Nodule", "RejectedCount", "Run", "Study"]


class Base(DeclarativeBase):
    """Declarative base of the results store."""


class Run(Base):
    """One invocation of ``calcscan cohort run``."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    config_digest: Mapped[str] = mapped_column(String(64), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    software_version: Mapped[str] = mapped_column(String(64))
    versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    executor: Mapped[str] = mapped_column(String(16))
    workers: Mapped[int] = mapped_column(Integer)
    n_inputs: Mapped[int] = mapped_column(Integer, default=0)
    n_studies: Mapped[int] = mapped_column(Integer, default=0)
    n_processed: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    wall_s: Mapped[float | None] = mapped_column(Float)
    studies_per_minute: Mapped[float | None] = mapped_column(Float)
    timings_s: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Study(Base):
    """The result of one study under one detection config (unique per config digest)."""

    __tablename__ = "studies"
    __table_args__ = (
        UniqueConstraint("input_key", "config_digest", name="uq_studies_input_key_digest"),
        UniqueConstraint("study_key", "config_digest", name="uq_studies_study_key_digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    input_key: Mapped[str] = mapped_column(String(64))
    study_key: Mapped[str] = mapped_column(String(64), index=True)
    config_digest: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    schema_version: Mapped[str | None] = mapped_column(String(16))
    software_version: Mapped[str | None] = mapped_column(String(64))
    source_format: Mapped[str | None] = mapped_column(String(32))
    age_years: Mapped[float | None] = mapped_column(Float)
    sex: Mapped[str | None] = mapped_column(String(1))
    age_source: Mapped[str | None] = mapped_column(String(16))
    sex_source: Mapped[str | None] = mapped_column(String(16))
    indication: Mapped[str | None] = mapped_column(String(200))
    face_coverage_ok: Mapped[bool | None] = mapped_column(Boolean)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    qc_reasons: Mapped[list[str]] = mapped_column(JSON)
    qc_flags: Mapped[list[str]] = mapped_column(JSON)
    nodule_count: Mapped[int] = mapped_column(Integer)
    possible_count: Mapped[int] = mapped_column(Integer, default=0)
    distribution_pattern: Mapped[str] = mapped_column(String(32))
    counts_frontal: Mapped[int] = mapped_column(Integer, default=0)
    counts_maxillary: Mapped[int] = mapped_column(Integer, default=0)
    counts_temporal: Mapped[int] = mapped_column(Integer, default=0)
    counts_mandibular_buccal: Mapped[int] = mapped_column(Integer, default=0)
    counts_periorbital: Mapped[int] = mapped_column(Integer, default=0)
    counts_nasal: Mapped[int] = mapped_column(Integer, default=0)
    counts_scalp: Mapped[int] = mapped_column(Integer, default=0)
    counts_other: Mapped[int] = mapped_column(Integer, default=0)
    processing_s: Mapped[float | None] = mapped_column(Float)
    timings_s: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_path: Mapped[str | None] = mapped_column(Text)
    study_instance_uid: Mapped[str | None] = mapped_column(String(64))
    series_instance_uid: Mapped[str | None] = mapped_column(String(64))
    accession_number: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    nodules: Mapped[list[Nodule]] = relationship(
        back_populates="study", cascade="all, delete-orphan"
    )
    rejected: Mapped[list[RejectedCount]] = relationship(
        back_populates="study", cascade="all, delete-orphan"
    )


class Nodule(Base):
    """One nodule of a study: counted (``definite``) or a low-conspicuity possible one."""

    __tablename__ = "nodules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    nodule_id: Mapped[int] = mapped_column(Integer)
    definite: Mapped[bool] = mapped_column(Boolean)
    x_lps_mm: Mapped[float | None] = mapped_column(Float)
    y_lps_mm: Mapped[float | None] = mapped_column(Float)
    z_lps_mm: Mapped[float | None] = mapped_column(Float)
    diameter_mm: Mapped[float | None] = mapped_column(Float)
    volume_mm3: Mapped[float | None] = mapped_column(Float)
    peak_hu: Mapped[float | None] = mapped_column(Float)
    mean_hu: Mapped[float | None] = mapped_column(Float)
    depth_mm: Mapped[float | None] = mapped_column(Float)
    region: Mapped[str | None] = mapped_column(String(32))
    side: Mapped[str | None] = mapped_column(String(16))
    morphology: Mapped[str | None] = mapped_column(String(16))
    conspicuity: Mapped[float | None] = mapped_column(Float)

    study: Mapped[Study] = relationship(back_populates="nodules")


class RejectedCount(Base):
    """Number of candidates of a study rejected for one reason."""

    __tablename__ = "rejected"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)

    study: Mapped[Study] = relationship(back_populates="rejected")


class Failure(Base):
    """A study (or input) that could not be processed in a run."""

    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    input_key: Mapped[str | None] = mapped_column(String(64), index=True)
    config_digest: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    error_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    input_label: Mapped[str] = mapped_column(String(200))
    input_path: Mapped[str | None] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
