"""Staging jobs and project quotas.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from connector.db import JSONDocument, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
    op.create_table(
        "staging_jobs",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("agreement_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", UTCDateTime(), nullable=True),
        sa.Column("progress", JSONDocument, nullable=False),
        sa.Column("error", JSONDocument, nullable=True),
        sa.Column("location", sa.String(2048), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("manifest", JSONDocument, nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["agreement_pk"], ["agreements.pk"],
                                name="fk_staging_jobs_agreement_pk_agreements"),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"],
                                name="fk_staging_jobs_dataset_pk_datasets"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name="fk_staging_jobs_project_id_projects"),
        sa.PrimaryKeyConstraint("pk", name="pk_staging_jobs"),
        sa.UniqueConstraint("id", name="uq_staging_jobs_id"),
        sa.UniqueConstraint("agreement_pk", "dataset_version", name="uq_staging_jobs_agreement_pk"),
    )
    for column in ("agreement_pk", "dataset_pk", "project_id", "state"):
        op.create_index(f"ix_staging_jobs_{column}", "staging_jobs", [column])


def downgrade() -> None:
    op.drop_table("staging_jobs")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("quota_bytes")
