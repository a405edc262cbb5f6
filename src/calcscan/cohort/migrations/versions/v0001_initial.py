"""Initial schema: runs, studies, nodules, rejected, failures.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_REGIONS = (
    "frontal",
    "maxillary",
    "temporal",
    "mandibular_buccal",
    "periorbital",
    "nasal",
    "scalp",
    "other",
)


def upgrade() -> None:
    """Create the tables of schema version 0001."""
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", tz, nullable=False),
        sa.Column("finished_at", tz, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config_digest", sa.String(64), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("n_inputs", sa.Integer, nullable=False),
        sa.Column("n_studies", sa.Integer, nullable=False),
        sa.Column("n_processed", sa.Integer, nullable=False),
        sa.Column("n_skipped", sa.Integer, nullable=False),
        sa.Column("n_failed", sa.Integer, nullable=False),
        sa.Column("n_duplicates", sa.Integer, nullable=False),
        sa.Column("wall_s", sa.Float, nullable=True),
        sa.Column("studies_per_minute", sa.Float, nullable=True),
        sa.Column("timings_s", sa.JSON, nullable=True),
    )
    op.create_index("ix_runs_config_digest", "runs", ["config_digest"])
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("input_key", sa.String(64), nullable=False),
        sa.Column("study_key", sa.String(64), nullable=False),
        sa.Column("config_digest", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("schema_version", sa.String(16), nullable=True),
        sa.Column("software_version", sa.String(64), nullable=True),
        sa.Column("source_format", sa.String(32), nullable=True),
        sa.Column("age_years", sa.Float, nullable=True),
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("age_source", sa.String(16), nullable=True),
        sa.Column("sex_source", sa.String(16), nullable=True),
        sa.Column("indication", sa.String(200), nullable=True),
        sa.Column("face_coverage_ok", sa.Boolean, nullable=True),
        sa.Column("excluded", sa.Boolean, nullable=False),
        sa.Column("qc_reasons", sa.JSON, nullable=False),
        sa.Column("qc_flags", sa.JSON, nullable=False),
        sa.Column("nodule_count", sa.Integer, nullable=False),
        sa.Column("possible_count", sa.Integer, nullable=False),
        sa.Column("distribution_pattern", sa.String(32), nullable=False),
        *[sa.Column(f"counts_{r}", sa.Integer, nullable=False) for r in _REGIONS],
        sa.Column("processing_s", sa.Float, nullable=True),
        sa.Column("timings_s", sa.JSON, nullable=True),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("input_path", sa.Text, nullable=True),
        sa.Column("study_instance_uid", sa.String(64), nullable=True),
        sa.Column("series_instance_uid", sa.String(64), nullable=True),
        sa.Column("accession_number", sa.String(64), nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.UniqueConstraint("input_key", "config_digest", name="uq_studies_input_key_digest"),
        sa.UniqueConstraint("study_key", "config_digest", name="uq_studies_study_key_digest"),
    )
    op.create_index("ix_studies_study_key", "studies", ["study_key"])
    op.create_index("ix_studies_config_digest", "studies", ["config_digest"])
    op.create_table(
        "nodules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("studies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("nodule_id", sa.Integer, nullable=False),
        sa.Column("definite", sa.Boolean, nullable=False),
        *[
            sa.Column(name, sa.Float, nullable=True)
            for name in (
                "x_lps_mm",
                "y_lps_mm",
                "z_lps_mm",
                "diameter_mm",
                "volume_mm3",
                "peak_hu",
                "mean_hu",
                "depth_mm",
            )
        ],
        sa.Column("region", sa.String(32), nullable=True),
        sa.Column("side", sa.String(16), nullable=True),
        sa.Column("morphology", sa.String(16), nullable=True),
        sa.Column("conspicuity", sa.Float, nullable=True),
    )
    op.create_index("ix_nodules_study_id", "nodules", ["study_id"])
    op.create_table(
        "rejected",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("studies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_rejected_study_id", "rejected", ["study_id"])
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("input_key", sa.String(64), nullable=True),
        sa.Column("config_digest", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("error_type", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("input_label", sa.String(200), nullable=False),
        sa.Column("input_path", sa.Text, nullable=True),
        sa.Column("resolved", sa.Boolean, nullable=False),
        sa.Column("created_at", tz, nullable=False),
    )
    op.create_index("ix_failures_run_id", "failures", ["run_id"])
    op.create_index("ix_failures_input_key", "failures", ["input_key"])


def downgrade() -> None:
    """Drop every table of schema version 0001."""
    for table in ("failures", "rejected", "nodules", "studies", "runs"):
        op.drop_table(table)
