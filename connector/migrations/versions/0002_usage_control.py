"""Usage control: offers, access requests, agreements, and project attributes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from connector.db import JSONDocument, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("attributes", JSONDocument, nullable=True))
    op.create_table(
        "offers",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("policy_uid", sa.String(512), nullable=False),
        sa.Column("document", JSONDocument, nullable=False),
        sa.Column("approval", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"], name="fk_offers_dataset_pk_datasets"),
        sa.PrimaryKeyConstraint("pk", name="pk_offers"),
        sa.UniqueConstraint("id", name="uq_offers_id"),
    )
    op.create_index("ix_offers_dataset_pk", "offers", ["dataset_pk"])
    op.create_table(
        "access_requests",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("offer_pk", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(512), nullable=False),
        sa.Column("context", JSONDocument, nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("decision", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"],
                                name="fk_access_requests_dataset_pk_datasets"),
        sa.ForeignKeyConstraint(["offer_pk"], ["offers.pk"], name="fk_access_requests_offer_pk_offers"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name="fk_access_requests_project_id_projects"),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"],
                                name="fk_access_requests_requester_id_users"),
        sa.PrimaryKeyConstraint("pk", name="pk_access_requests"),
        sa.UniqueConstraint("id", name="uq_access_requests_id"),
    )
    for column in ("dataset_pk", "project_id", "requester_id", "state"):
        op.create_index(f"ix_access_requests_{column}", "access_requests", [column])
    op.create_table(
        "agreements",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("request_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_pk", sa.Integer(), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("offer_pk", sa.Integer(), nullable=False),
        sa.Column("policy", JSONDocument, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(512), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("obligations", JSONDocument, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(64), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["dataset_pk"], ["datasets.pk"], name="fk_agreements_dataset_pk_datasets"),
        sa.ForeignKeyConstraint(["offer_pk"], ["offers.pk"], name="fk_agreements_offer_pk_offers"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name="fk_agreements_project_id_projects"),
        sa.ForeignKeyConstraint(["request_pk"], ["access_requests.pk"],
                                name="fk_agreements_request_pk_access_requests"),
        sa.PrimaryKeyConstraint("pk", name="pk_agreements"),
        sa.UniqueConstraint("id", name="uq_agreements_id"),
        sa.UniqueConstraint("request_pk", name="uq_agreements_request_pk"),
    )
    for column in ("dataset_pk", "end", "project_id", "state"):
        op.create_index(f"ix_agreements_{column}", "agreements", [column])


def downgrade() -> None:
    op.drop_table("agreements")
    op.drop_table("access_requests")
    op.drop_table("offers")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("attributes")
