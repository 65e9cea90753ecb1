"""Harvesting: sources, runs, per-record results and the (source, remote id) -> dataset link.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from connector.db import JSONDocument, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvest_sources",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("options", JSONDocument, nullable=False),
        sa.Column("schedule_seconds", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name="fk_harvest_sources_organisation_id_organisations"),
        sa.PrimaryKeyConstraint("pk", name="pk_harvest_sources"),
        sa.UniqueConstraint("id", name="uq_harvest_sources_id"),
        sa.UniqueConstraint("name", name="uq_harvest_sources_name"),
    )
    op.create_index("ix_harvest_sources_organisation_id", "harvest_sources", ["organisation_id"])
    op.create_table(
        "harvest_runs",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("source_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", UTCDateTime(), nullable=True),
        sa.Column("since", sa.String(64), nullable=True),
        sa.Column("newest_modified", sa.String(64), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("counts", JSONDocument, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["source_pk"], ["harvest_sources.pk"], ondelete="CASCADE",
                                name="fk_harvest_runs_source_pk_harvest_sources"),
        sa.PrimaryKeyConstraint("pk", name="pk_harvest_runs"),
        sa.UniqueConstraint("id", name="uq_harvest_runs_id"),
    )
    for column in ("source_pk", "state"):
        op.create_index(f"ix_harvest_runs_{column}", "harvest_runs", [column])
    op.create_table(
        "harvest_records",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(1024), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_pk"], ["harvest_runs.pk"], ondelete="CASCADE",
                                name="fk_harvest_records_run_pk_harvest_runs"),
        sa.PrimaryKeyConstraint("pk", name="pk_harvest_records"),
    )
    op.create_index("ix_harvest_records_run_pk_outcome", "harvest_records", ["run_pk", "outcome", "pk"])
    op.create_table(
        "harvest_links",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("source_pk", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(1024), nullable=False),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("modified", sa.String(64), nullable=True),
        sa.Column("seen_run_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["source_pk"], ["harvest_sources.pk"], ondelete="CASCADE",
                                name="fk_harvest_links_source_pk_harvest_sources"),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"], ondelete="CASCADE",
                                name="fk_harvest_links_dataset_pk_datasets"),
        sa.PrimaryKeyConstraint("pk", name="pk_harvest_links"),
        sa.UniqueConstraint("source_pk", "remote_id", name="uq_harvest_links_source_pk"),
    )
    op.create_index("ix_harvest_links_dataset_pk", "harvest_links", ["dataset_pk"])


def downgrade() -> None:
    op.drop_table("harvest_links")
    op.drop_table("harvest_records")
    op.drop_table("harvest_runs")
    op.drop_table("harvest_sources")
